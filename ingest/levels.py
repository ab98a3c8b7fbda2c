"""Level names -> the five canonical levels. The common synonyms match the dbt macro
`normalize_level` (macros/normalize_level.sql); per-system maps live in loghub.SYSTEMS and are
documented in docs/reference/log-formats.md."""

from __future__ import annotations

COMMON = {
    "DEBUG": "DEBUG", "TRACE": "DEBUG", "VERBOSE": "DEBUG", "FINE": "DEBUG",
    "INFO": "INFO", "INFORMATION": "INFO", "NOTICE": "INFO",
    "WARN": "WARN", "WARNING": "WARN",
    "ERROR": "ERROR", "ERR": "ERROR", "SEVERE": "ERROR",
    "FATAL": "FATAL", "CRITICAL": "FATAL", "CRIT": "FATAL", "ALERT": "FATAL",
    "EMERG": "FATAL", "PANIC": "FATAL",
}  # fmt: skip


def canonical_level(raw: str | None, mapping: dict[str, str] = COMMON) -> str | None:
    """The canonical level of a raw name (case and surrounding spaces ignored), or None when
    unknown: unknown levels are loaded with level NULL and counted, never guessed."""
    if raw is None:
        return None
    return mapping.get(raw.strip().upper())
