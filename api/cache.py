"""A micro-cache of responses (API_CACHE_SECONDS, default 2).

Everything the API reads changes only when a dbt run writes it, minutes apart, while a
dashboard is polled by every open page: the same few URLs, over and over. Serving a response
that is at most a couple of seconds old turns those repeats into a dictionary lookup, and
under concurrency only one request per key queries the database (the others wait for its
answer, "single flight"). On a 2-core machine with 16 clients this is what keeps the slower
aggregates (a few ms of SQL) and the framework's own ~1 ms per request from queueing
(docs/results/api-latency.md).

Kept: 200 responses to GET, and to the POST routes in READ_ONLY_POSTS (reads whose
parameters travel in a body, keyed by that body), unless marked no-store or private. Everyone
who gets past authentication (api/auth.py, which runs before this cache) reads the same data,
so one answer serves them all. Per worker process, keyed by method, path,
query string and body: responses depend on nothing else (CORS headers are added outside this
middleware). A replayed response carries an `Age` header, as HTTP caches do. 0 seconds turns
the cache off.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The old frontend's "Analyze" button: a lookup of predictions by id (api/legacy/logs.py).
READ_ONLY_POSTS = frozenset({"/api/ml"})
# Larger bodies are served without caching (the one cached POST takes at most 100 ids).
MAX_KEYED_BODY = 16 * 1024

Key = tuple[str, str, bytes, bytes]


@dataclass
class _Stored:
    start: Message
    body: list[Message] = field(default_factory=list)
    stored_at: float = field(default_factory=time.monotonic)

    async def replay(self, send: Send) -> None:
        age = str(int(time.monotonic() - self.stored_at)).encode()
        await send({**self.start, "headers": [*self.start["headers"], (b"age", age)]})
        for message in self.body:
            await send(message)


class ResponseCache:
    def __init__(self, app: ASGIApp, seconds: float, max_entries: int = 512) -> None:
        self.app = app
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[Key, _Stored] = {}
        self._pending: dict[Key, asyncio.Future[_Stored | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.seconds <= 0 or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        if method == "POST" and path in READ_ONLY_POSTS:
            body, receive = await _read_body(receive)
        elif method == "GET":
            body = b""
        else:
            body = None
        if body is None:
            await self.app(scope, receive, send)
            return
        key = (method, path, scope["query_string"], body)
        stored = self._fresh(key)
        if stored is None and key in self._pending:
            # shield: a client hanging up must not cancel the request it is waiting on
            stored = await asyncio.shield(self._pending[key])
        if stored is not None:
            await stored.replay(send)
            return
        future: asyncio.Future[_Stored | None] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            stored = await self._respond_and_keep(key, scope, receive, send)
        finally:
            del self._pending[key]
            future.set_result(stored)

    def _fresh(self, key: Key) -> _Stored | None:
        stored = self._entries.get(key)
        if stored is not None and time.monotonic() - stored.stored_at < self.seconds:
            return stored
        return None

    async def _respond_and_keep(
        self, key: Key, scope: Scope, receive: Receive, send: Send
    ) -> _Stored | None:
        """Serve the request from the app, keeping a copy of a 200 response."""
        copy: _Stored | None = None

        async def send_and_copy(message: Message) -> None:
            nonlocal copy
            if (
                message["type"] == "http.response.start"
                and message["status"] == 200
                and not _personal(message)
            ):
                copy = _Stored(start=message)
            elif message["type"] == "http.response.body" and copy is not None:
                copy.body.append(message)
            await send(message)

        await self.app(scope, receive, send_and_copy)
        if copy is None:
            return None
        if len(self._entries) >= self.max_entries:
            self._evict()
        self._entries.pop(key, None)  # re-inserted last: the dict stays oldest first
        self._entries[key] = copy
        return copy

    def _evict(self) -> None:
        """Drop the expired entries, or the oldest half if none has expired."""
        now = time.monotonic()
        expired = [k for k, v in self._entries.items() if now - v.stored_at >= self.seconds]
        for key in expired or list(self._entries)[: self.max_entries // 2]:
            del self._entries[key]


def _personal(start: Message) -> bool:
    """A response marked `Cache-Control: no-store` or `private` (e.g. who is signed in) is
    never kept: it may differ between people asking for the same URL."""
    for name, value in start["headers"]:
        if name.lower() == b"cache-control" and (b"no-store" in value or b"private" in value):
            return True
    return False


async def _read_body(receive: Receive) -> tuple[bytes | None, Receive]:
    """The request body (None if longer than MAX_KEYED_BODY), and a `receive` that hands the
    app the same messages again."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":  # the client went away
            break
        size += len(message.get("body", b""))
        if size > MAX_KEYED_BODY or not message.get("more_body", False):
            break
    complete = size <= MAX_KEYED_BODY and messages[-1]["type"] == "http.request"
    body = b"".join(m.get("body", b"") for m in messages) if complete else None

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return body, replay
