"""The model registry (maintained here, not by dbt; its tables are the schema migrations'):
- ml_model_registry: one row per (model_version, model_name); versions v1, v2, ... are never
  overwritten. At most one version is active (what dbt scores with and the API serves) and at
  most one other is the challenger (scores the same new logs in shadow).
- ml_model_deployments: every change of those roles, append-only, so `rollback` knows what
  was active before and the history is auditable.

Changing roles never retrains and never touches predictions: the next dbt run reads the roles
(macros/model_versions.sql) and scores new logs with them; the API's status and models read
them live. What a version is called and how the roles are read: versions.py."""

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


@dataclass(frozen=True)
class Entry:
    model_name: str
    trained_at: datetime
    training_rows: int
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


def _roles(cur: Any) -> Roles:
    cur.execute(versions.roles_query(output_name(REGISTRY)))
    active, challenger = one(cur)
    return Roles(active, challenger)


def _versions(cur: Any) -> set[str]:
    cur.execute(_sql("select distinct model_version from {registry}"))
    return {row[0] for row in cur.fetchall()}


def _record(cur: Any, action: str, version: str | None, previous: str | None) -> None:
    cur.execute(
        _sql(
            "insert into {deployments} (action, model_version, previous_version)"
            " values (%s, %s, %s)"
        ),
        (action, version, previous),
    )


def _make_active(cur: Any, version: str, action: str) -> str:
    previous = _roles(cur).active
    cur.execute(
        _sql(
            "update {registry} set is_active = (model_version = %s),"
            " is_challenger = is_challenger and model_version <> %s"
        ),
        (version, version),
    )
    _record(cur, action, version, previous)
    return f"{version} is active (was {previous or 'none'})"


def _make_challenger(cur: Any, version: str | None) -> None:
    cur.execute(
        _sql(
            "update {registry} set is_challenger = (model_version = %s)"
            " where is_challenger or model_version = %s"
        ),
        (version, version),
    )
    _record(cur, "challenger" if version else "clear-challenger", version, None)


def roles(conn: psycopg.Connection) -> Roles:
    with conn.cursor() as cur:
        return _roles(cur)


def registered_versions(conn: psycopg.Connection) -> set[str]:
    with conn.cursor() as cur:
        return _versions(cur)


def register(
    conn: psycopg.Connection,
    version: str,
    entries: list[Entry],
    challenger: bool = False,
    shipped: bool = False,
) -> None:
    """Add a version (failing if it exists) as the active one, or as the challenger; shipped:
    it came with its model card, trained elsewhere."""
    versions.number(version)  # only version names enter the registry
    with _locked(conn) as cur:
        for e in entries:
            cur.execute(
                _sql(
                    "insert into {registry} (model_version, model_name, trained_at,"
                    " training_rows, window_start, window_end, sklearn_version, metrics,"
                    " artifact_path, is_active, is_challenger, shipped)"
                    " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, false, false, %s)"
                ),
                (
                    version,
                    e.model_name,
                    e.trained_at,
                    e.training_rows,
                    e.window_start,
                    e.window_end,
                    e.sklearn_version,
                    json.dumps(e.metrics, sort_keys=True),
                    e.artifact_path,
                    shipped,
                ),
            )
        if challenger:
            _make_challenger(cur, version)
        else:
            _make_active(cur, version, "export")


def activate(conn: psycopg.Connection, version: str) -> str:
    with _locked(conn) as cur:
        if version not in _versions(cur):
            raise RegistryError(f"{version} is not in {output_name(REGISTRY)}")
        if _roles(cur).active == version:
            return f"{version} is already active"
        return _make_active(cur, version, "activate")


def promote(conn: psycopg.Connection) -> str:
    """The challenger becomes the active version; there is no challenger afterwards."""
    with _locked(conn) as cur:
        challenger = _roles(cur).challenger
        if challenger is None:
            raise RegistryError("there is no challenger to promote")
        return _make_active(cur, challenger, "promote")


def rollback(conn: psycopg.Connection) -> str:
    """Back to the version that was active before the current one became active (the undo of
    its latest export/activate/promote; rolling back twice goes two steps back)."""
    with _locked(conn) as cur:
        current = _roles(cur).active
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
                f"no version was active before {current or 'now'} in {output_name(DEPLOYMENTS)};"
                " choose one with `make activate VERSION=vN`"
            )
        return _make_active(cur, row[0], "rollback")


def set_challenger(conn: psycopg.Connection, version: str | None) -> str:
    with _locked(conn) as cur:
        current = _roles(cur)
        if version is not None and version not in _versions(cur):
            raise RegistryError(f"{version} is not in {output_name(REGISTRY)}")
        if version is not None and version == current.active:
            raise RegistryError(f"{version} is the active version; it cannot be its challenger")
        _make_challenger(cur, version)
        return f"challenger: {version or 'none'} (was {current.challenger or 'none'})"


def describe(conn: psycopg.Connection) -> list[str]:
    """One line per version, newest first: its role; shipped with the repository (registered
    from its model card) or trained here, and when it was trained; its training rows and
    window; its held-out figures."""
    with conn.cursor() as cur:
        roles = _roles(cur)
        cur.execute(
            _sql(
                "select model_version, bool_or(shipped), min(trained_at), max(training_rows),"
                " min(window_start), max(window_end),"
                " max((metrics ->> 'macro_f1')::float8)"
                " filter (where model_name = 'level_classifier'),"
                " (array_agg(metrics) filter (where model_name = 'anomaly_detector'))[1]"
                " from {registry} group by model_version"
            )
        )
        rows = sorted(cur.fetchall(), key=lambda row: versions.sort_key(row[0]), reverse=True)
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
    return lines or ["no model versions registered: make export-model"]


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
    """(version, model_name -> artifact_path) of `version`, by default the active one."""
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
