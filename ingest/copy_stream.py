"""COPY plumbing: text escaping, streaming text chunks into COPY FROM STDIN (psycopg 3's
`cursor.copy()`), and prefetching chunks in a background thread."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

import psycopg
from psycopg import sql

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"
T = TypeVar("T")
_DONE = object()


def escape(value: object) -> str:
    """One field in COPY text format; None is NULL."""
    if value is None:
        return NULL
    return str(value).translate(_ESCAPES)


def copy_chunks(
    cur: psycopg.Cursor, relation: sql.Composable, columns: list[str], chunks: Iterable[str]
) -> None:
    """COPY text-format chunks (lines ending in newline) into relation(columns), each chunk
    sent as it is made. An error raised while making them ends the COPY (the server discards
    it) and reaches the caller as it was raised."""
    statement = sql.SQL("copy {} ({}) from stdin").format(
        relation, sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with cur.copy(statement) as copy:
        for chunk in chunks:
            copy.write(chunk)


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Iterate `items` in a background thread, up to `depth` ahead: the generator's numpy
    work then overlaps with COPY (psycopg releases the GIL while it waits on the socket, and
    the server parses in its own process). Exceptions reach the consumer; closing the
    consumer stops the producer."""
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        ready.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            ready.put(error)

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
