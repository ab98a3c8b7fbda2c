"""The model registry (maintained here, not by dbt; its tables are the schema migrations'):
- ml_model_registry: one row per (model_version, model_name); versions are never overwritten.
  The default pair's versions (v1, v2, ...; two rows each) and each bring-your-own model's
  (NAME_v1, ...; one row each) have roles apart: among each, at most one version is active
  (what dbt scores with; the API serves the default one) and at most one other is the
  challenger (scores the same new logs in shadow). `byo` below names a bring-your-own model;
  None means the default pair.
- ml_model_deployments: every change of those roles, append-only, so `rollback` knows what
  was active before and the history is auditable.

Changing roles never retrains and never touches predictions: the next dbt run reads the roles
(macros/model_versions.sql) and scores new logs with them; the API's status and models read
them live. What a version is called and how the roles are read: versions.py.

Each version records the log source it was trained on (log_source: schema.table.id_column,
dbt_project/source.py), the only one it scores: a role change that would make a version of
another source than the configured one score is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from dbt_project.database import one, output_name, output_table
from dbt_project.errors import NotReadyError, RegistryError
from model_export.lifecycle import versions
from model_export.lifecycle.versions import Roles

# Actions that make a version active (rollback is the undo of one of them, see rollback()).
_ACTIVATIONS = ("export", "activate", "promote")
REGISTRY, DEPLOYMENTS = "ml_model_registry", "ml_model_deployments"


def _sql(text: str) -> sql.Composed:
    """A statement with {registry} and {deployments} in the output schema."""
    return sql.SQL(text).format(  # type: ignore[arg-type]
        registry=output_table(REGISTRY), deployments=output_table(DEPLOYMENTS)
    )


def _of(byo: str | None) -> tuple[str, tuple[str, ...]]:
    """The condition (and its parameters) that selects the registry rows of the default pair
    (byo None) or of the bring-your-own model `byo`."""
    if byo is None:
        return "model_kind = %s", (versions.KIND_DEFAULT,)
    return "model_kind = %s and model_name = %s", (versions.KIND_BYO, versions.byo_name(byo))


@dataclass(frozen=True)
class Entry:
    model_name: str
    trained_at: datetime
    training_rows: int | None  # None: not known (a model brought)
    window_start: datetime | None
    window_end: datetime | None
    sklearn_version: str
    metrics: dict[str, object]
    artifact_path: str


@contextmanager
def _locked(conn: psycopg.Connection) -> Iterator[psycopg.Cursor[Any]]:
    """A cursor in a transaction holding the registry lock: role changes are serialised and
    each one commits whole (roles and history together) or not at all."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(_sql("lock table {registry} in exclusive mode"))
        yield cur


def _roles(cur: Any, byo: str | None = None) -> Roles:
    cur.execute(versions.roles_query(output_name(REGISTRY), byo))
    active, challenger = one(cur)
    return Roles(active, challenger)


def _versions(cur: Any, byo: str | None = None) -> set[str]:
    """The registered versions of the default pair, or of the bring-your-own model `byo`."""
    condition, params = _of(byo)
    cur.execute(_sql(f"select distinct model_version from {{registry}} where {condition}"), params)
    return {row[0] for row in cur.fetchall()}


def _record(cur: Any, action: str, version: str | None, previous: str | None) -> None:
    cur.execute(
        _sql(
            "insert into {deployments} (action, model_version, previous_version)"
            " values (%s, %s, %s)"
        ),
        (action, version, previous),
    )


def _trained_on(cur: Any, version: str) -> str | None:
    cur.execute(_sql("select max(log_source) from {registry} where model_version = %s"), (version,))
    return one(cur)[0]


def _check_source(cur: Any, version: str, source: str | None) -> None:
    """RegistryError when `version` was trained on another source than `source` (None: no
    check, for a version registered for the configured source)."""
    trained_on = _trained_on(cur, version) if source else None
    if source and trained_on != source:
        raise RegistryError(
            f"{version} was trained on the log source {trained_on}, but the configured source"
            f" is {source}: it scores only its own. Record {trained_on} again with make"
            f" use-table first, or choose a version trained on {source} (make versions)"
        )


def _make_active(cur: Any, version: str, action: str, source: str | None = None) -> str:
    _check_source(cur, version, source)
    byo = versions.byo_model(version)
    previous = _roles(cur, byo).active
    condition, params = _of(byo)
    cur.execute(
        _sql(
            "update {registry} set is_active = (model_version = %s),"
            f" is_challenger = is_challenger and model_version <> %s where {condition}"
        ),
        (version, version, *params),
    )
    _record(cur, action, version, previous)
    return f"{version} is active (was {previous or 'none'})"


def _make_challenger(cur: Any, version: str | None, byo: str | None) -> None:
    condition, params = _of(byo)
    cur.execute(
        _sql(
            "update {registry} set is_challenger = (model_version = %s)"
            f" where (is_challenger or model_version = %s) and {condition}"
        ),
        (version, version, *params),
    )
    _record(cur, "challenger" if version else "clear-challenger", version, None)


def trained_on(conn: psycopg.Connection, version: str) -> str | None:
    """The log source `version` was trained on."""
    with conn.cursor() as cur:
        return _trained_on(cur, version)


def roles(conn: psycopg.Connection, byo: str | None = None) -> Roles:
    """The roles among the default pair's versions, or among those of the model `byo`."""
    with conn.cursor() as cur:
        return _roles(cur, byo)


def registered_versions(conn: psycopg.Connection, byo: str | None = None) -> set[str]:
    """The default pair's registered versions, or those of the model `byo`."""
    with conn.cursor() as cur:
        return _versions(cur, byo)


def register(
    conn: psycopg.Connection,
    version: str,
    entries: list[Entry],
    log_source: str,
    challenger: bool = False,
    shipped: bool = False,
) -> None:
    """Add a version trained on `log_source` (failing if it exists) as the active one of its
    kind (or model), or as its challenger; shipped: it came with its model card, trained
    elsewhere."""
    kind = versions.kind(version)  # only version names enter the registry
    byo = versions.byo_model(version)
    if byo is not None and [e.model_name for e in entries] != [byo]:
        raise RegistryError(f"{version} is one model's version: its one entry is named {byo}")
    with _locked(conn) as cur:
        for e in entries:
            cur.execute(
                _sql(
                    "insert into {registry} (model_version, model_name, model_kind, trained_at,"
                    " training_rows, window_start, window_end, sklearn_version, metrics,"
                    " artifact_path, is_active, is_challenger, shipped, log_source)"
                    " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, false, false, %s, %s)"
                ),
                (
                    version,
                    e.model_name,
                    kind,
                    e.trained_at,
                    e.training_rows,
                    e.window_start,
                    e.window_end,
                    e.sklearn_version,
                    json.dumps(e.metrics, sort_keys=True),
                    e.artifact_path,
                    shipped,
                    log_source,
                ),
            )
        if challenger:
            _make_challenger(cur, version, byo)
        else:
            _make_active(cur, version, "export")


def byo_outputs(conn: psycopg.Connection, byo: str) -> list[str] | None:
    """The columns the registered versions of the model `byo` return (None: none is
    registered yet); every version of a model returns the same ones."""
    condition, params = _of(byo)
    found = conn.execute(
        _sql(f"select metrics -> 'outputs' from {{registry}} where {condition} limit 1"), params
    ).fetchone()
    return None if found is None else list(found[0])


def _which(byo: str | None) -> str:
    return "" if byo is None else f" of {byo}"


def activate(conn: psycopg.Connection, version: str, source: str | None = None) -> str:
    """`version` becomes the active one of its kind (or model); with `source` (the configured
    log source), only if it was trained on it."""
    byo = versions.byo_model(version)
    with _locked(conn) as cur:
        if version not in _versions(cur, byo):
            raise RegistryError(f"{version} is not in {output_name(REGISTRY)}")
        if _roles(cur, byo).active == version:
            return f"{version} is already active"
        return _make_active(cur, version, "activate", source)


def promote(conn: psycopg.Connection, byo: str | None = None, source: str | None = None) -> str:
    """The challenger becomes the active version; there is no challenger afterwards."""
    with _locked(conn) as cur:
        challenger = _roles(cur, byo).challenger
        if challenger is None:
            raise RegistryError(f"there is no challenger{_which(byo)} to promote")
        return _make_active(cur, challenger, "promote", source)


def rollback(conn: psycopg.Connection, byo: str | None = None, source: str | None = None) -> str:
    """Back to the version that was active before the current one became active (the undo of
    its latest export/activate/promote; rolling back twice goes two steps back)."""
    with _locked(conn) as cur:
        current = _roles(cur, byo).active
        cur.execute(
            _sql(
                "select previous_version from {deployments}"
                " where model_version = %s and action = any(%s)"
                " order by deployed_at desc limit 1"
            ),
            (current, list(_ACTIVATIONS)),
        )
        row = cur.fetchone()
        if current is None or row is None or row[0] is None:
            raise RegistryError(
                f"no version{_which(byo)} was active before {current or 'now'} in"
                f" {output_name(DEPLOYMENTS)}; choose one with `make activate VERSION=...`"
            )
        return _make_active(cur, row[0], "rollback", source)


def set_challenger(
    conn: psycopg.Connection, version: str | None, byo: str | None = None, source: str | None = None
) -> str:
    """`version` becomes the challenger of its kind (or model); None clears the challenger of
    the default pair, or of the model `byo`."""
    if version is not None:
        byo = versions.byo_model(version)
    with _locked(conn) as cur:
        current = _roles(cur, byo)
        if version is not None and version not in _versions(cur, byo):
            raise RegistryError(f"{version} is not in {output_name(REGISTRY)}")
        if version is not None:
            _check_source(cur, version, source)
        if version is not None and version == current.active:
            raise RegistryError(f"{version} is the active version; it cannot be its challenger")
        _make_challenger(cur, version, byo)
        return f"challenger{_which(byo)}: {version or 'none'} (was {current.challenger or 'none'})"


def describe(conn: psycopg.Connection) -> list[str]:
    """One line per version, newest first, the default pair's first, then each
    bring-your-own model's: its role; shipped with the repository (registered from its model
    card) or trained here, and when it was trained; its training rows and window; its
    held-out figures (for a model brought: what it is and how verify found it)."""
    with conn.cursor() as cur:
        roles = _roles(cur)
        cur.execute(
            _sql(
                "select model_version, bool_or(shipped), min(trained_at), max(training_rows),"
                " min(window_start), max(window_end),"
                " max((metrics ->> 'macro_f1')::float8)"
                " filter (where model_name = 'level_classifier'),"
                " (array_agg(metrics) filter (where model_name = 'anomaly_detector'))[1]"
                " from {registry} where model_kind = %s group by model_version"
            ),
            (versions.KIND_DEFAULT,),
        )
        rows = sorted(cur.fetchall(), key=lambda row: versions.sort_key(row[0]), reverse=True)
        brought = _describe_byo(cur)
    lines = []
    for version, shipped, trained, training, start, end, level_f1, anomaly in rows:
        role = {roles.active: "active", roles.challenger: "challenger"}.get(version, "-")
        origin = "shipped, trained" if shipped else "trained"
        level = "none" if level_f1 is None else f"{level_f1:.3f}"
        lines.append(
            f"{version:<5} {role:<10} {origin} {trained.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
            f" on {training} rows"
            f" ({start:%Y-%m-%d} .. {end:%Y-%m-%d}); level macro F1 {level};"
            f" anomalies {anomaly_figure(anomaly or {})}"
        )
    return lines + brought or ["no model versions registered: make export-model"]


def _describe_byo(cur: Any) -> list[str]:
    cur.execute(
        _sql(
            "select model_name, model_version, is_active, is_challenger, trained_at, metrics"
            " from {registry} where model_kind = %s"
        ),
        (versions.KIND_BYO,),
    )
    rows = sorted(cur.fetchall(), key=lambda row: versions.sort_key(row[1]))
    lines = []
    for name in sorted({row[0] for row in rows}):
        for _, version, active, challenger, saved, metrics in reversed(
            [row for row in rows if row[0] == name]
        ):
            role = "active" if active else "challenger" if challenger else "-"
            lines.append(
                f"{version} {role:<10} brought: {' -> '.join(metrics.get('steps', []))},"
                f" saved {saved.astimezone(UTC):%Y-%m-%d %H:%M} UTC;"
                f" {byo_figure(metrics)}"
            )
    return lines


def byo_figure(metrics: dict[str, Any]) -> str:
    """How verify found a bring-your-own version when it was registered."""
    verified = metrics.get("verified")
    if not verified:
        return "not verified"
    worst = verified.get("max_abs_diff")
    diff = "" if worst is None else f", max |diff| {worst:.1e}"
    state = "exact" if verified.get("exact") else "NOT EXACT"
    return f"verified {state} on {verified['rows']} rows of stg_log_entries{diff}"


def anomaly_figure(metrics: dict[str, Any]) -> str:
    """The detector's held-out figure in words. An F1 only when labelled anomalies were held
    out: without any it is 0 whatever the detector does. Otherwise the share of held-out
    lines it flagged, and why there is no F1."""
    detector = metrics.get("detector", "detector")
    positives = metrics.get("positives")
    if "f1" in metrics and positives != 0:
        held_out = "" if positives is None else f"; {positives} labelled anomalies held out"
        return (
            f"{detector}: held-out F1 {metrics['f1']:.3f} (precision"
            f" {metrics['precision']:.3f}, recall {metrics['recall']:.3f}{held_out})"
        )
    rate = metrics.get("held_out_anomaly_rate")
    if rate is None:
        return f"{detector}: no held-out figure (no lines were held out)"
    why = "no held-out line is labelled an anomaly" if "f1" in metrics else "no held-out labels"
    return f"{detector}: flagged {rate:.2%} of the held-out lines; no F1 ({why})"


def artifacts(conn: psycopg.Connection, version: str | None = None) -> tuple[str, dict[str, str]]:
    """(version, model_name -> artifact_path) of `version`, by default the default pair's
    active one."""
    with conn.cursor() as cur:
        chosen = version or _roles(cur).active
        cur.execute(
            _sql(
                "select model_name, artifact_path from {registry}"
                " where model_version = %s order by model_name"
            ),
            (chosen,),
        )
        rows = cur.fetchall()
    if chosen is None or not rows:
        missing = version or "active version"
        raise NotReadyError(f"no {missing} in {output_name(REGISTRY)}: run export first")
    return chosen, {name: path for name, path in rows}
