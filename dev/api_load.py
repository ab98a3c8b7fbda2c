"""Closed-loop HTTP clients against the API while a dbt run writes: latency, status counts and
errors of every request (the load test and bench/api_under_dbt_run.py share it)."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# What the dashboard and the old clients ask, in turn.
PATHS = (
    "/api/ml_lightweight?action=status",
    "/api/ml_lightweight?action=stats",
    "/api/ml_lightweight?action=analyze",
    "/api/v1/status",
    "/api/v1/stats?window=24h",
    "/api/v1/predictions?limit=50&severity=high&severity=medium",
    "/api/v1/stats/hourly?hours=48",
    "/api/v1/models",  # a live view over the registry: it must survive the build's rebuilds
)


@dataclass
class LoadResult:
    requests: int = 0
    during_dbt: int = 0  # requests that started while dbt was running
    statuses: dict[str, int] = field(default_factory=dict)  # "299": 200 saying not_initialized
    server_errors: int = 0  # 5xx
    said_not_initialized: int = 0  # 200s that claim the pipeline never ran (status endpoints)
    connection_errors: int = 0  # no HTTP answer at all
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    load_seconds: float = 0.0  # how long the clients ran
    dbt_seconds: float = 0.0  # the whole measured dbt build
    dbt_exit_code: int | None = None
    examples: list[str] = field(default_factory=list)  # first bodies of failed requests


class KeepAliveClient:
    """A minimal HTTP/1.1 keep-alive GET client on loopback: on this 2-core machine the
    client's CPU time is taken from the server's, so it does as little as possible per
    request. Reconnects when the connection is gone."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        """(status, body) of one GET."""
        return await self.request(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """(status, body) of one POST of a JSON body."""
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return await self.request(head.encode() + body)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """(status, body) of one request written as is."""
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        self._writer.write(raw)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        )
        return status, await self._reader.readexactly(length)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def _hammer(
    port: int, clients: int, max_requests: int, seconds: float, busy: Callable[[], bool]
) -> tuple[list[tuple[float, int, bool]], list[str]]:
    """Closed-loop clients until dbt is done, `max_requests` were sent or `seconds` passed;
    (latency ms, status or 0, started while busy) per request."""
    samples: list[tuple[float, int, bool]] = []
    examples: list[str] = []
    sent = 0
    deadline = time.perf_counter() + seconds

    async def client(offset: int) -> None:
        nonlocal sent
        http = KeepAliveClient(port)
        turn = offset
        while sent < max_requests and time.perf_counter() < deadline and busy():
            sent += 1
            path = PATHS[turn % len(PATHS)]
            turn += 1
            during = busy()
            started = time.perf_counter()
            try:
                status, body = await asyncio.wait_for(http.get(path), 30)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                status, body = 0, b""
                http.close()
            if status == 200 and b"not_initialized" in body:
                status = 299  # counted apart: a wrong answer, though not an HTTP error
            samples.append(((time.perf_counter() - started) * 1000, status, during))
            if status != 200 and len(examples) < 5:
                examples.append(f"{path}: {status} {body[:300]!r}")
        http.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return samples, examples


def hammer_during(
    port: int,
    start_dbt: Callable[[], subprocess.Popen[Any]],
    clients: int = 8,
    max_requests: int = 5000,
    seconds: float = 120,
) -> LoadResult:
    """Start the dbt run, load the API on `port` until it ends (or the bounds are hit)."""
    started = time.perf_counter()
    dbt = start_dbt()
    # Read dbt's output while it runs: a full pipe would block it (and the load would run on).
    drain = threading.Thread(target=dbt.communicate, daemon=True)
    drain.start()
    samples, examples = asyncio.run(
        _hammer(port, clients, max_requests, seconds, lambda: dbt.poll() is None)
    )
    load_seconds = time.perf_counter() - started
    drain.join(timeout=600)
    if dbt.poll() is None:
        dbt.kill()
        dbt.wait()
    elapsed = time.perf_counter() - started
    latencies = [latency for latency, status, _ in samples if status]
    cuts = (
        statistics.quantiles(latencies, n=100, method="inclusive")
        if len(latencies) > 1
        else [0.0] * 99
    )
    statuses = Counter(str(status) for _, status, _ in samples)
    return LoadResult(
        requests=len(samples),
        during_dbt=sum(during for _, _, during in samples),
        statuses=dict(statuses),
        server_errors=sum(n for status, n in statuses.items() if status.startswith("5")),
        said_not_initialized=statuses.get("299", 0),
        connection_errors=statuses.get("0", 0),
        p50_ms=round(cuts[49], 2),
        p99_ms=round(cuts[98], 2),
        max_ms=round(max(latencies, default=0.0), 2),
        load_seconds=round(load_seconds, 2),
        dbt_seconds=round(elapsed, 2),
        dbt_exit_code=dbt.returncode,
        examples=examples,
    )
