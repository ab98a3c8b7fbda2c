"""A webhook receiver on loopback and the notifier run against it (alert delivery tests)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dbt_project.database import PROJECT_ROOT


@dataclass
class Receiver:
    """A webhook on 127.0.0.1 that answers `status` after `delay` seconds and keeps every
    POST body with the status it answered."""

    status: int = 200
    delay: float = 0.0
    posts: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    url: str = ""

    def acked_keys(self) -> list[str]:
        """alert_key of every POST answered with a 2xx, in arrival order."""
        return [alert_key(body) for status, body in self.posts if 200 <= status < 300]


def alert_key(body: dict[str, Any]) -> str:
    """The alert_key a Slack payload carries in its context block."""
    context = body["blocks"][-1]["elements"][0]["text"]
    match = re.search(r"alert_key ([0-9a-f]{32})", context)
    assert match, context
    return match.group(1)


@contextmanager
def receiver() -> Iterator[Receiver]:
    """A Receiver served in a thread until the block ends."""
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, delay = state.status, state.delay
            threading.Event().wait(delay)
            with lock:
                state.posts.append((status, body))
            try:
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the notifier gave up waiting (the timeout case)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _notify_env(url: str, webhook: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "LOGML_ALERT_WEBHOOK_URL"}
    env["DATABASE_URL"] = url
    if webhook:
        env["LOGML_ALERT_WEBHOOK_URL"] = webhook
    return env


def notify(url: str, webhook: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m alerts notify ARGS` against `url`, posting to `webhook` (None: unset)."""
    return subprocess.run(
        [sys.executable, "-m", "alerts", "notify", *args],
        cwd=PROJECT_ROOT,
        env=_notify_env(url, webhook),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def start_notify(url: str, webhook: str) -> subprocess.Popen[str]:
    """The notifier in the background (for overlapping runs)."""
    return subprocess.Popen(
        [sys.executable, "-m", "alerts", "notify"],
        cwd=PROJECT_ROOT,
        env=_notify_env(url, webhook),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
