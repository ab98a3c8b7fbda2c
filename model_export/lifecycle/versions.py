"""Model versions, v1, v2, ...: the one module that builds and parses their names, orders them,
and says what belongs to one. Everything else passes a version around as an opaque name (the
registry stores it, dbt and the API quote it) and asks here for the rest:

- a version is `v` and a number from 1 up, ordered by the number (v10 comes after v9);
- its files: artifacts/vN (its joblib Pipelines and model card), macros/generated/vN (its
  scoring macro, ml_score_vN) and seeds/generated/vN (its lookup tables, each named
  <what it holds>_vN); macros/generated/ml_versions.sql lists the versions compiled into the
  project;
- its roles: at most one version is active (dbt scores with it, the API serves it) and at
  most one other is the challenger (scores the same new logs in shadow). The SQL that reads
  them from the registry is one dbt macro, ml_model_roles_sql (macros/model_roles.sql): dbt
  runs it, the ml_status view reads it live, and roles_query renders it for Python.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from dbt_project.database import PROJECT_ROOT
from model_export.compiler.assemblers import templates
from model_export.compiler.project_files import HEADER, MACRO_DIR, SEED_DIR
from model_export.compiler.render import file_macro
from model_export.compiler.scorer import ScorerNames

_NAME = re.compile(r"v([1-9][0-9]*)")

# The macro that lists the compiled versions (ml_scoring_versions reads it).
LISTING = MACRO_DIR / "ml_versions.sql"
ROLES_MACRO = PROJECT_ROOT / "macros" / "model_roles.sql"


class VersionError(ValueError):
    """A name that is not a model version; the message says what one looks like."""


def number(version: str) -> int:
    """3 for v3; VersionError for anything that is not a version name."""
    found = _NAME.fullmatch(version)
    if found is None:
        raise VersionError(f"{version!r} is not a model version: versions are v1, v2, v3, ...")
    return int(found.group(1))


def is_version(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def named(version_number: int) -> str:
    """v3 for 3."""
    if version_number < 1:
        raise VersionError(f"model versions are numbered from 1, not {version_number}")
    return f"v{version_number}"


FIRST = named(1)


def _checked(version: str) -> str:
    number(version)
    return version


def sort_key(name: str) -> tuple[bool, int, str]:
    """Versions by number (v9 before v10); a name that is not a version after them."""
    found = _NAME.fullmatch(name)
    return found is None, int(found.group(1)) if found else 0, name


def ordered(names: Iterable[str]) -> list[str]:
    """The distinct names, oldest version first."""
    return sorted(set(names), key=sort_key)


def newest(names: Iterable[str]) -> str | None:
    """The newest version among `names` (None when there is none)."""
    found = [name for name in names if is_version(name)]
    return max(found, key=number) if found else None


def next_version(registered: Iterable[str], taken: Iterable[str] = ()) -> str:
    """The version after the newest registered one (v1 when there is none; names that are
    not versions do not count), or the first one after it that is not `taken`."""
    newest = max((number(name) for name in registered if is_version(name)), default=0)
    candidate, taken = newest + 1, set(taken)
    while named(candidate) in taken:
        candidate += 1
    return named(candidate)


# --- what belongs to a version -------------------------------------------------------------


def artifacts_folder(artifacts_dir: Path, version: str) -> Path:
    """artifacts/vN: the version's joblib Pipelines and model card."""
    return artifacts_dir / _checked(version)


def macro_folder(version: str) -> Path:
    """macros/generated/vN, relative to the dbt project."""
    return MACRO_DIR / _checked(version)


def seed_folder(version: str) -> Path:
    """seeds/generated/vN, relative to the dbt project."""
    return SEED_DIR / _checked(version)


def _listed(root: Path) -> list[str]:
    return ordered(p.name for p in root.glob("v*") if p.is_dir() and is_version(p.name))


def compiled(project_dir: Path) -> list[str]:
    """The versions whose SQL is in the project (a folder in macros/generated/), oldest first."""
    return _listed(project_dir / MACRO_DIR)


def saved(artifacts_dir: Path) -> list[str]:
    """The versions with a folder in `artifacts_dir`, oldest first."""
    return _listed(artifacts_dir)


def scorer_macro(version: str) -> str:
    """The macro that scores the version with both its models: ml_score_vN."""
    return f"ml_score_{_checked(version)}"


def _seed(what: str, version: str) -> str:
    return f"{what}_{_checked(version)}"


def template_frequency_seed(version: str) -> str:
    """The version's seed of template frequencies (log_features reads it)."""
    return _seed("ml_template_frequency", version)


def template_seeds(version: str) -> tuple[str, str]:
    """The version's seeds of learned templates (masks, known templates), if it has them."""
    return _seed(templates.MASKS, version), _seed(templates.KNOWN, version)


def has_learned_templates(project_dir: Path, version: str) -> bool:
    """Whether the version's generated seeds hold learned templates (template version 2)."""
    masks, _ = template_seeds(version)
    return (project_dir / seed_folder(version) / f"{masks}.csv").is_file()


def scorer_names(version: str) -> ScorerNames:
    """What the compiler calls the version's macro and seeds, and the key of the version's
    rows in the detector's history tables (their model_version)."""
    return ScorerNames(
        macro=scorer_macro(version),
        level_vocabulary=_seed("ml_level_classifier_vocabulary", version),
        template_frequency=template_frequency_seed(version),
        template_labels=_seed("ml_template_labels", version),
        training_history=_seed("ml_detector_training_history", version),
        template_masks=template_seeds(version)[0],
        known_templates=template_seeds(version)[1],
        history_key=_checked(version),
    )


def _listing_entry(version: str, learned: bool) -> str:
    entry = (
        f"\n    {{'version': '{version}', 'scorer': {scorer_macro(version)},"
        f" 'frequency_seed': '{template_frequency_seed(version)}'"
    )
    if learned:
        masks, known = template_seeds(version)
        entry += f",\n     'templates': {{'masks': '{masks}', 'known': '{known}'}}"
    return entry + "},"


def listing_file(compiled_versions: list[str], learned: Iterable[str] = ()) -> str:
    """macros/generated/ml_versions.sql: the compiled versions, oldest first, as data: each one's
    name, its scoring macro (the macro itself, called by ml_score), the name of its
    template-frequency seed and, for the versions in `learned`, its seeds of learned
    templates (the drift monitor computes its template frequencies with them).
    macros/model_versions.sql combines this list with the roles in the registry into
    ml_scoring_versions(), the one description of what scores. With no version compiled yet
    the list is empty and the project still parses (nothing can score until `model_export
    export`)."""
    learned = set(learned)
    entries = "".join(
        _listing_entry(version, version in learned) for version in ordered(compiled_versions)
    )
    listed = f"[{entries}\n]" if compiled_versions else "[]"
    return f"""{{#- {HEADER} -#}}
{{#- The compiled model versions, oldest first (read by ml_scoring_versions). -#}}
{{% macro ml_compiled_versions() %}}
{{{{ return({listed}) }}}}
{{% endmacro %}}
"""


# --- roles ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Roles:
    active: str | None
    challenger: str | None


@cache
def roles_query(registry: str) -> str:
    """The SQL of the roles over the registry table `registry` (one row: the active version,
    the challenger), exactly as dbt runs it: the macro ml_model_roles_sql, rendered."""
    return str(file_macro(ROLES_MACRO, "ml_model_roles_sql")(registry)).strip()
