"""COPY plumbing: text escaping, a file-like reader over a stream of text chunks (what
psycopg2's copy_expert reads), and prefetching chunks in a background thread."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

import psycopg2
from psycopg2 import sql

# psycopg2's copy_expert reads the file in pieces of this size; bigger pieces mean fewer
# Python calls per row without holding much memory.
COPY_READ_SIZE = 1 << 20

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"
T = TypeVar("T")
_DONE = object()


def escape(value: object) -> str:
    """One field in COPY text format; None is NULL."""
    if value is None:
        return NULL
    return str(value).translate(_ESCAPES)


class ChunkReader:
    """A read-only binary file over an iterator of str chunks, encoded as UTF-8 on demand, so
    COPY consumes rows while the producer still makes them (one chunk is held at a time)."""

    def __init__(self, chunks: Iterable[str]) -> None:
        self._chunks: Iterator[str] = iter(chunks)
        self.error: BaseException | None = None
        self._current = b""
        self._offset = 0

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes; everything left when size is None or negative."""
        wanted = None if size is None or size < 0 else size
        parts: list[bytes] = []
        while wanted is None or wanted > 0:
            if self._offset >= len(self._current):
                try:
                    chunk = next(self._chunks, None)
                except BaseException as error:
                    self.error = error  # psycopg2 turns it into QueryCanceled: keep the cause
                    raise
                if chunk is None:
                    break
                self._current, self._offset = chunk.encode(), 0
            end = len(self._current) if wanted is None else self._offset + wanted
            part = self._current[self._offset : end]
            self._offset += len(part)
            parts.append(part)
            if wanted is not None:
                wanted -= len(part)
        return b"".join(parts)


def copy_chunks(cur, relation: sql.Composable, columns: list[str], chunks: Iterable[str]) -> None:
    """COPY text-format chunks (lines ending in newline) into relation(columns)."""
    statement = sql.SQL("copy {} ({}) from stdin").format(
        relation, sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    reader = ChunkReader(chunks)
    try:
        cur.copy_expert(statement, reader, size=COPY_READ_SIZE)
    except psycopg2.Error:
        if reader.error is not None:
            raise reader.error from None
        raise


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Iterate `items` in a background thread, up to `depth` ahead: the generator's numpy
    work then overlaps with COPY (psycopg2 releases the GIL while it sends, and the server
    parses in its own process). Exceptions reach the consumer; closing the consumer stops
    the producer."""
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
