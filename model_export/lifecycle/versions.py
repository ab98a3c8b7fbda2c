"""Model versions: the one module that builds and parses their names, orders them, and says
what belongs to one. Everything else passes a version around as an opaque name (the registry
stores it, dbt and the API quote it) and asks here for the rest. There are two kinds:

- the default pair's versions, v1, v2, ...: `v` and a number from 1 up, ordered by the number
  (v10 comes after v9). Each holds a level classifier and an anomaly detector, trained by
  `export` and scored together into ml_predictions. Its files: artifacts/vN (its joblib
  Pipelines and model card), macros/generated/vN (its scoring macro, ml_score_vN) and
  seeds/generated/vN (its lookup tables, each named <what it holds>_vN);
- a bring-your-own model's versions, NAME_v1, NAME_v2, ...: one fitted Pipeline a user brings
  as a joblib file (`export --file FILE --name NAME`), NAME in lowercase letters, digits and
  underscores. Its files: artifacts/byo/NAME_vN/pipeline.joblib, its macro ml_byo_NAME_vN
  in macros/generated/byo/NAME_vN and its seeds, each named ml_byo_NAME_vN_<what>, in
  seeds/generated/byo/NAME_vN. The user's dbt model scores its output table with it
  (macros/byo_models.sql).

macros/generated/ml_versions.sql lists the versions compiled into the project. Roles: among
the default pair's versions, and among each bring-your-own model's, at most one version is
active (it scores: ml_predictions, or the model's output table; the API serves the default
one) and at most one other is the challenger (scores the same new logs in shadow). The SQL
that reads them from the registry is one dbt macro, ml_model_roles_sql
(macros/model_roles.sql): dbt runs it, the ml_status view reads it live, and roles_query
renders it for Python. The registry tells the kinds apart by model_kind (KIND_DEFAULT,
KIND_BYO) and a bring-your-own model's rows by its name (model_name).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml  # type: ignore[import-untyped]

from dbt_project.database import PROJECT_ROOT
from dbt_project.errors import InputError
from model_export.compiler.names import (
    HEADER,
    KNOWN,
    MACRO_DIR,
    MASKS,
    SEED_DIR,
    TEMPLATE_VERSION,
    ScorerNames,
)
from model_export.compiler.render import file_macro

_NAME = re.compile(r"v([1-9][0-9]*)")
_BYO_NAME = re.compile(r"[a-z][a-z0-9_]*")
_BYO_VERSION = re.compile(r"([a-z][a-z0-9_]*)_v([1-9][0-9]*)")
# model_kind in the registry; BYO is also the folder of the bring-your-own models' files
KIND_DEFAULT, KIND_BYO = "default", "byo"
BYO = Path(KIND_BYO)
BYO_PIPELINE = "pipeline.joblib"
# the default pair's model_name values: no bring-your-own model may take them
DEFAULT_MODELS = ("level_classifier", "anomaly_detector")

# The macro that lists the compiled versions (ml_scoring_versions reads it).
LISTING = MACRO_DIR / "ml_versions.sql"
ROLES_MACRO = PROJECT_ROOT / "macros" / "model_roles.sql"


class VersionError(InputError):
    """A name that is not a model version (or cannot name a model); the message says what one
    looks like."""


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


def sort_key(name: str) -> tuple[int, str, int, str]:
    """The default pair's versions by number (v9 before v10), then the bring-your-own models'
    by model and number; a name that is neither after them."""
    if (found := _NAME.fullmatch(name)) is not None:
        return 0, "", int(found.group(1)), name
    if (byo := _BYO_VERSION.fullmatch(name)) is not None:
        return 1, byo.group(1), int(byo.group(2)), name
    return 2, "", 0, name


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


def _folder(version: str) -> Path:
    """Where a version's files live below artifacts/, macros/generated/, seeds/generated/."""
    return BYO / version if byo_model(version) is not None else Path(version)


def artifacts_folder(artifacts_dir: Path, version: str) -> Path:
    """artifacts/vN (the version's joblib Pipelines and model card), or artifacts/byo/NAME_vN."""
    return artifacts_dir / _folder(version)


def macro_folder(version: str) -> Path:
    """macros/generated/vN or macros/generated/byo/NAME_vN, relative to the dbt project."""
    return MACRO_DIR / _folder(version)


def seed_folder(version: str) -> Path:
    """seeds/generated/vN or seeds/generated/byo/NAME_vN, relative to the dbt project."""
    return SEED_DIR / _folder(version)


def _listed(root: Path) -> list[str]:
    return ordered(p.name for p in root.glob("v*") if p.is_dir() and is_version(p.name))


def compiled(project_dir: Path) -> list[str]:
    """The default pair's versions whose SQL is in the project (a folder in
    macros/generated/), oldest first."""
    return _listed(project_dir / MACRO_DIR)


def _listed_byo(root: Path) -> list[str]:
    found = [p.name for p in root.glob("*_v*") if p.is_dir() and is_byo_version(p.name)]
    return sorted(found, key=sort_key)


def compiled_byo(project_dir: Path) -> list[str]:
    """The bring-your-own models' versions whose SQL is in the project (a folder in
    macros/generated/byo/), by model, oldest first."""
    return _listed_byo(project_dir / MACRO_DIR / BYO)


def saved_byo(artifacts_dir: Path) -> list[str]:
    """The bring-your-own models' versions with a folder in `artifacts_dir`/byo/."""
    return _listed_byo(artifacts_dir / BYO)


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
    return _seed(MASKS, version), _seed(KNOWN, version)


def learned_template_version(project_dir: Path, version: str) -> int | None:
    """The template version of the version's learned templates (the masks seed's meta; 2 when
    it has none: compiled before version 3), None when it has none (template version 1)."""
    masks, _ = template_seeds(version)
    properties = project_dir / seed_folder(version) / f"{masks}.yml"
    if not properties.is_file():
        return None
    (seed,) = yaml.safe_load(properties.read_text(encoding="utf-8"))["seeds"]
    return int(seed["config"].get("meta", {}).get(TEMPLATE_VERSION, 2))


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


def _listing_entry(version: str, template_version: int | None) -> str:
    entry = (
        f"\n    {{'version': '{version}', 'scorer': {scorer_macro(version)},"
        f" 'frequency_seed': '{template_frequency_seed(version)}'"
    )
    if template_version is not None:
        masks, known = template_seeds(version)
        entry += (
            f",\n     'templates': {{'masks': '{masks}', 'known': '{known}',"
            f" 'version': {template_version}}}"
        )
    return entry + "},"


def listing_file(
    compiled_versions: list[str], learned: Mapping[str, int] | None = None, byo: Iterable[str] = ()
) -> str:
    """macros/generated/ml_versions.sql: the compiled versions, oldest first, as data: each one's
    name, its scoring macro (the macro itself, called by ml_score), the name of its
    template-frequency seed and, for the versions in `learned` (version -> template version),
    its seeds of learned templates (the drift monitor computes its template frequencies with
    them).
    macros/model_versions.sql combines this list with the roles in the registry into
    ml_scoring_versions(), the one description of what scores. With no version compiled yet
    the list is empty and the project still parses (nothing can score until `model_export
    export`). Then the compiled versions of the bring-your-own models in `byo`, by model
    (ml_byo_compiled_versions, read by ml_byo_scoring_versions in macros/byo_models.sql)."""
    learned = learned or {}
    entries = "".join(
        _listing_entry(version, learned.get(version)) for version in ordered(compiled_versions)
    )
    listed = f"[{entries}\n]" if compiled_versions else "[]"
    return f"""{{#- {HEADER} -#}}
{{#- The compiled model versions, oldest first (read by ml_scoring_versions). -#}}
{{% macro ml_compiled_versions() %}}
{{{{ return({listed}) }}}}
{{% endmacro %}}

{{#- Each bring-your-own model's compiled versions, oldest first (ml_byo_scoring_versions). -#}}
{{% macro ml_byo_compiled_versions() %}}
{{{{ return({_byo_listing(byo)}) }}}}
{{% endmacro %}}
"""


# --- bring-your-own models ----------------------------------------------------------------


def byo_name(name: str) -> str:
    """`name` when it can name a bring-your-own model (its macro, seeds and table); else
    VersionError with a name that can."""
    if _BYO_NAME.fullmatch(name) and name not in DEFAULT_MODELS:
        return name
    suggestion = re.sub(r"[^a-z0-9_]", "_", name.lower())
    if not _BYO_NAME.fullmatch(suggestion) or suggestion in DEFAULT_MODELS:
        suggestion = f"my_{suggestion}".rstrip("_")
    raise VersionError(
        f"{name!r} cannot name a model: use lowercase letters, digits and underscores, starting"
        f" with a letter, and not {' or '.join(DEFAULT_MODELS)} (e.g. {suggestion})"
    )


def is_byo_version(name: str) -> bool:
    return _BYO_VERSION.fullmatch(name) is not None


def byo_model(version: str) -> str | None:
    """The bring-your-own model a version belongs to (owning_team for owning_team_v2), None
    for the default pair's (v2); VersionError for a name that is neither."""
    if is_version(version):
        return None
    found = _BYO_VERSION.fullmatch(version)
    if found is None:
        raise VersionError(
            f"{version!r} is not a model version: versions are v1, v2, ... (the default models)"
            " or NAME_v1, NAME_v2, ... (a model brought with make export-model FILE=... NAME=...)"
        )
    return found.group(1)


def kind(version: str) -> str:
    """The version's model_kind in the registry."""
    return KIND_DEFAULT if byo_model(version) is None else KIND_BYO


def _byo_checked(version: str) -> str:
    if byo_model(version) is None:
        raise VersionError(f"{version} is a version of the default models, not of a model brought")
    return version


def next_byo_version(name: str, registered: Iterable[str], taken: Iterable[str] = ()) -> str:
    """NAME_vK after the newest registered version of model `name` (NAME_v1 when there is
    none), or the first one after it that is not `taken`."""
    numbers = [
        int(found.group(2))
        for found in map(_BYO_VERSION.fullmatch, registered)
        if found is not None and found.group(1) == byo_name(name)
    ]
    candidate, taken = max(numbers, default=0) + 1, set(taken)
    while f"{name}_v{candidate}" in taken:
        candidate += 1
    return f"{name}_v{candidate}"


def byo_macro(version: str) -> str:
    """The macro of a bring-your-own model's version, ml_byo_NAME_vN(batch); its seeds' names
    start with the same text."""
    return f"ml_byo_{_byo_checked(version)}"


def byo_pipeline(artifacts_dir: Path, version: str) -> Path:
    """The joblib Pipeline a bring-your-own model's version was compiled from."""
    return artifacts_folder(artifacts_dir, _byo_checked(version)) / BYO_PIPELINE


def _byo_listing(compiled_byo_versions: Iterable[str]) -> str:
    by_model: dict[str, list[str]] = {}
    for version in sorted(compiled_byo_versions, key=sort_key):
        by_model.setdefault(str(byo_model(version)), []).append(version)
    entries = "".join(
        f"\n    '{model}': ["
        + ", ".join(f"{{'version': '{v}', 'scorer': {byo_macro(v)}}}" for v in listed)
        + "],"
        for model, listed in by_model.items()
    )
    return f"{{{entries}\n}}" if entries else "{}"


def listing(project_dir: Path) -> dict[Path, str]:
    """The listing file (relative path -> content) of the versions compiled in the project."""
    default = compiled(project_dir)
    learned = {v: t for v in default if (t := learned_template_version(project_dir, v)) is not None}
    return {LISTING: listing_file(default, learned, compiled_byo(project_dir))}


# --- roles ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Roles:
    active: str | None
    challenger: str | None


@cache
def roles_query(registry: str, byo: str | None = None) -> str:
    """The SQL of the roles over the registry table `registry` (one row: the active version,
    the challenger) of the default pair's versions, or of the bring-your-own model `byo`,
    exactly as dbt runs it: the macro ml_model_roles_sql, rendered."""
    byo = None if byo is None else byo_name(byo)  # a name, quoted as it is
    return str(file_macro(ROLES_MACRO, "ml_model_roles_sql")(registry, byo)).strip()
