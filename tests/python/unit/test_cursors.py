"""The keyset cursors of the paged endpoints (predictions: an int id; incidents: a text id):
what encode_cursor writes, decode_cursor reads back, and anything else is a BadParameter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.cursors import decode_cursor, encode_cursor
from api.errors import BadParameter

AT = datetime(2026, 11, 25, 13, 4, 5, 123456, tzinfo=UTC)


@pytest.mark.parametrize("key", [0, 987654321012, "9e107d9d372bb6826bd81d3542a419d6"])
def test_a_cursor_reads_back_as_written(key: int | str) -> None:
    assert decode_cursor(encode_cursor(AT, key), type(key)) == (AT, key)


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 !",
        encode_cursor(AT, "not-an-int"),  # an incident's cursor given to the predictions
        "bm8tc2VwYXJhdG9y",  # base64 of "no-separator"
        "eHx5fHo",  # base64 of "x|y|z"
    ],
)
def test_a_cursor_this_api_did_not_write_is_a_bad_parameter(cursor: str) -> None:
    with pytest.raises(BadParameter, match="not a cursor returned by this API"):
        decode_cursor(cursor, int)
