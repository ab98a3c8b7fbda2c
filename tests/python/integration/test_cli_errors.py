"""A typed error raised deep in library code reaches the command line as its message alone:
the next command named, exit code 1, no traceback."""

from __future__ import annotations

from collections.abc import Callable

from dev.pipeline import run_module


def test_a_library_error_is_a_clean_message(make_database: Callable[[str], str]) -> None:
    url = make_database("cli_errors")  # no model registered: lifecycle.registry says so
    done = run_module(url, "model_export", "verify", "--url", url)
    assert done.returncode == 1
    assert done.stderr == "error: no active version in ml.ml_model_registry: run export first\n"
