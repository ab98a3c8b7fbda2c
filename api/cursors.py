"""The keyset cursor of a paged endpoint: where its last row sorts (a timestamp and the row's
id, newest first), opaque to the client, which hands back the next_cursor of the previous
page. A cursor this API did not write is a BadParameter (400), never a server error."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import TypeVar

from api.errors import BadParameter

Key = TypeVar("Key", int, str)


def encode_cursor(at: datetime, key: int | str) -> str:
    raw = f"{at.isoformat()}|{key}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, key_type: type[Key]) -> tuple[datetime, Key]:
    """The timestamp and the id (as `key_type`: int or str) that encode_cursor wrote."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, key = raw.split("|")
        return datetime.fromisoformat(at), key_type(key)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadParameter("cursor: not a cursor returned by this API") from None
