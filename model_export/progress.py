"""Progress lines of the long model_export jobs (training, evaluation): on stderr, so that a
command's stdout stays its result."""

from __future__ import annotations

import sys


def progress(message: str) -> None:
    print(f"[model_export] {message}", file=sys.stderr, flush=True)
