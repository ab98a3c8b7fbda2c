"""The names the project shares (severities, alert kinds), read from the one place that defines
them: the vars of dbt_project.yml, which dbt's SQL and data tests read through var(). The API
(its OpenAPI enums and /api/v1/alerts/kinds), the notifier and, through the API, the dashboard
take them from here, so adding or renaming one is an edit of dbt_project.yml (and of the SQL
rule that produces it)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import yaml  # type: ignore[import-untyped]

from dbt_project.settings import PROJECT_ROOT

PROJECT_FILE = PROJECT_ROOT / "dbt_project.yml"
# Names are written into SQL string literals, CSS classes and URLs unquoted.
_NAME = re.compile(r"[a-z][a-z0-9_]*")
# The units of ml_alerts.observed (and baseline, threshold), so readers can format them.
ObservedUnit = Literal["lines", "share", "psi", "score"]
OBSERVED_UNITS: tuple[str, ...] = get_args(ObservedUnit)


class VocabularyError(ValueError):
    """dbt_project.yml does not define a vocabulary the way the project reads it."""


@dataclass(frozen=True)
class AlertKind:
    name: str
    title: str
    observed: ObservedUnit
    description: str
    retired: bool = False  # no rule raises it any more; rows of earlier releases may remain


@dataclass(frozen=True)
class Vocabulary:
    severities: tuple[str, ...]  # worst first
    high_severities: tuple[str, ...]
    alert_severities: tuple[str, ...]  # most urgent first
    alert_kinds: tuple[AlertKind, ...]

    @property
    def alert_kind_names(self) -> tuple[str, ...]:
        return tuple(kind.name for kind in self.alert_kinds)


def project_vars(path: Path = PROJECT_FILE) -> dict[str, Any]:
    """The `vars:` of the dbt project file at `path`."""
    found = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("vars") or {}
    return dict(found)


def load(path: Path = PROJECT_FILE) -> Vocabulary:
    """The vocabularies in the vars of the dbt project file at `path`."""
    variables = project_vars(path)

    def names(var: str) -> tuple[str, ...]:
        value = variables.get(var)
        if not isinstance(value, list | dict) or not value:
            raise VocabularyError(f"{path}: vars.{var} must be a non-empty list of names")
        bad = [name for name in value if not isinstance(name, str) or not _NAME.fullmatch(name)]
        if bad or len(set(value)) != len(value):
            raise VocabularyError(
                f"{path}: vars.{var} must hold distinct lowercase names (a-z, 0-9, _); got {bad}"
            )
        return tuple(value)

    severities = names("severities")
    high = names("high_severities")
    if not set(high) <= set(severities):
        raise VocabularyError(f"{path}: vars.high_severities must be a subset of vars.severities")
    kinds = variables.get("alert_kinds")
    if not isinstance(kinds, dict):
        raise VocabularyError(f"{path}: vars.alert_kinds must map each kind to its title etc.")
    return Vocabulary(
        severities=severities,
        high_severities=high,
        alert_severities=names("alert_severities"),
        alert_kinds=tuple(_alert_kind(path, name, kinds[name]) for name in names("alert_kinds")),
    )


def _alert_kind(path: Path, name: str, entry: Any) -> AlertKind:
    where = f"{path}: vars.alert_kinds.{name}"
    fields = entry if isinstance(entry, dict) else {}
    text = {key: fields.get(key) for key in ("title", "description")}
    missing = [key for key, value in text.items() if not isinstance(value, str) or not value]
    if missing:
        raise VocabularyError(f"{where} needs a {' and a '.join(missing)}")
    observed = fields.get("observed")
    if observed not in OBSERVED_UNITS:
        raise VocabularyError(f"{where}.observed must be one of {', '.join(OBSERVED_UNITS)}")
    retired = fields.get("retired", False)
    if not isinstance(retired, bool):
        raise VocabularyError(f"{where}.retired must be true or false")
    return AlertKind(name, str(text["title"]), observed, str(text["description"]), retired)


VOCABULARY = load()

# Types for pydantic (OpenAPI enums, validation). A type checker cannot see values read from a
# file, so to it they are plain strings.
if TYPE_CHECKING:
    Severity = str
    AlertSeverity = str
    AlertKindName = str
else:
    Severity = Literal[VOCABULARY.severities]
    AlertSeverity = Literal[VOCABULARY.alert_severities]
    AlertKindName = Literal[VOCABULARY.alert_kind_names]
