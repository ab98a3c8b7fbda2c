"""The failures a user can act on, one class per kind. Library code raises them with a message
that says what went wrong and names the next command; only the command-line entry points catch
them (`exit_on_error`), print the message and exit non-zero. Anything else is a bug and keeps
its traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec

P = ParamSpec("P")


class LogmlError(Exception):
    """Base of every expected failure; str(error) is the whole message for the user."""


class SettingsError(LogmlError):
    """An environment variable has a value that cannot work (the message names it)."""


class NotReadyError(LogmlError):
    """A step that must come first has not run yet: no logs, no registry version, no table."""


class InputError(LogmlError):
    """An argument, a file or the data given cannot be used as it is."""


class LoadError(InputError):
    """A load that cannot start or must stop as a whole; nothing was loaded."""


class RegistryError(LogmlError):
    """A role change in the model registry that cannot be done; the message says why."""


class DbtError(LogmlError):
    """A dbt command failed (its own output says why)."""


def exit_on_error(main: Callable[P, int]) -> Callable[P, int]:
    """Wrap a command-line `main`: a LogmlError becomes its message on stderr and exit code 1."""

    @functools.wraps(main)
    def run(*args: P.args, **kwargs: P.kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except LogmlError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1

    return run
