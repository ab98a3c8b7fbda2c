"""The API the ways tests use it: in process (FastAPI's TestClient), served by uvicorn in a
thread (for a browser or an HTTP client), or as `python -m api` in a process of its own (for
faults and load, where the server must outlive what a test does to the database)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from dbt_project.database import PROJECT_ROOT
from dbt_project.settings import load_settings
from dev.db import as_reader, wait_for


def app(url: str, **settings: Any) -> FastAPI:
    """The app reading `url`'s database as the read-only role, with these settings over the
    environment's; no response cache unless `api_cache_seconds` is given (tests read what they
    have just written)."""
    settings.setdefault("api_cache_seconds", 0)
    return create_app(load_settings(api_database_url=as_reader(url), **settings))


@contextmanager
def client(url: str, **settings: Any) -> Iterator[TestClient]:
    """An in-process client of the app reading `url` as the read-only role."""
    with TestClient(app(url, **settings)) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(application: FastAPI) -> Iterator[str]:
    """Run the app under uvicorn on a free loopback port in a thread; yield its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(application, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@dataclass
class ApiProcess:
    """`python -m api` in a subprocess; its output goes to a file (a pipe nobody reads would
    fill up with access-log lines and block the server)."""

    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def stop(self) -> str:
        """Stop the server; its whole output."""
        self.process.terminate()
        self.process.wait(timeout=30)
        output = self.log.read_text(errors="replace")
        self.log.unlink()
        return output


def start_api(database_url: str, env: Mapping[str, str] | None = None) -> ApiProcess:
    """`python -m api` on a free loopback port, reading `database_url` as given; no response
    cache unless `env` sets API_CACHE_SECONDS."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="logml-api-", suffix=".log")[1])
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "api"],
            cwd=PROJECT_ROOT,
            env={
                **os.environ,
                "API_DATABASE_URL": database_url,
                "API_HOST": "127.0.0.1",
                "API_PORT": str(port),
                "API_CACHE_SECONDS": "0",
                **(env or {}),
            },
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    api = ApiProcess(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_for(lambda: get(api.base, "/api/v1/openapi.json")[0] == 200, 60, "the API", 0.2)
    except AssertionError:
        raise AssertionError(api.stop()) from None
    return api


def get(
    base: str,
    path: str,
    headers: Mapping[str, str] | None = None,
    method: str = "GET",
    data: bytes | None = None,
) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, lower-cased headers) of a request (a GET unless told); (0, b"", {})
    when nothing answers."""
    request = urllib.request.Request(
        base + path, data=data, headers=dict(headers or {}), method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), _lower(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), _lower(error.headers)
    except OSError:
        return 0, b"", {}


def _lower(headers: Any) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}
