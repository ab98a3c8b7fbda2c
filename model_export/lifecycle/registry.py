"""The model registry (maintained here, not by dbt; its tables are the schema migrations'):
- ml_model_registry: one row per (model_version, model_name); versions v1, v2, ... are never
  overwritten. At most one version is active (what dbt scores with and the API serves) and at
  most one other is the challenger (scores the same new logs in shadow).
- ml_model_deployments: every change of those roles, append-only, so `rollback` knows what
  was active before and the history is auditable.

Changing roles never retrains and never touches predictions: the next dbt run reads the roles
(macros/model_versions.sql) and scores new logs with them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from dbt_project.database import one, output_name, output_table
from dbt_project.errors import NotReadyError, RegistryError

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
    training_rows: int
    window_start: datetime | None
    window_end: datetime | None
    sklearn_version: str
    metrics: dict[str, object]
    artifact_path: str


@dataclass(frozen=True)
class Roles:
    active: str | None
    challenger: str | None


@contextmanager
def _locked(conn: psycopg.Connection) -> Iterator[psycopg.Cursor[Any]]:
    """A cursor in a transaction holding the registry lock: role changes are serialised and
    each one commits whole (roles and history together) or not at all."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(_sql("lock table {registry} in exclusive mode"))
        yield cur


def _roles(cur: Any) -> Roles:
    cur.execute(
        _sql(
            "select max(model_version) filter (where is_active),"
            " max(model_version) filter (where is_challenger) from {registry}"
        )
    )
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


def next_version(conn: psycopg.Connection) -> str:
    """v<N+1> for the largest registered vN (v1 on an empty registry)."""
    with conn.cursor() as cur:
        cur.execute(
            _sql(
                "select coalesce(max(substr(model_version, 2)::int), 0) from {registry}"
                " where model_version ~ '^v[0-9]+$'"
            )
        )
        return f"v{one(cur)[0] + 1}"


def register(
    conn: psycopg.Connection, version: str, entries: list[Entry], challenger: bool = False
) -> None:
    """Add a version (failing if it exists) as the active one, or as the challenger."""
    with _locked(conn) as cur:
        for e in entries:
            cur.execute(
                _sql(
                    "insert into {registry} (model_version, model_name, trained_at,"
                    " training_rows, window_start, window_end, sklearn_version, metrics,"
                    " artifact_path, is_active, is_challenger)"
                    " values (%s, %s, now(), %s, %s, %s, %s, %s, %s, false, false)"
                ),
                (
                    version,
                    e.model_name,
                    e.training_rows,
                    e.window_start,
                    e.window_end,
                    e.sklearn_version,
                    json.dumps(e.metrics, sort_keys=True),
                    e.artifact_path,
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
    """One line per version, newest first: role, training rows and window, key metrics."""
    with conn.cursor() as cur:
        cur.execute(
            _sql(
                "select model_version, bool_or(is_active), bool_or(is_challenger),"
                " max(training_rows), min(window_start), max(window_end), min(trained_at),"
                " max((metrics ->> 'macro_f1')::float8)"
                " filter (where model_name = 'level_classifier'),"
                " max(metrics ->> 'detector') filter (where model_name = 'anomaly_detector'),"
                " max((metrics ->> 'f1')::float8) filter (where model_name = 'anomaly_detector')"
                " from {registry} group by model_version"
                " order by substr(model_version, 2)::int desc"
            )
        )
        rows = cur.fetchall()
    lines = []
    for version, active, challenger, training, start, end, trained, f1, detector, af1 in rows:
        role = "active" if active else "challenger" if challenger else "-"
        anomaly = f"{detector} F1 {af1:.3f}" if af1 is not None else str(detector)
        lines.append(
            f"{version:<5} {role:<10} trained {trained:%Y-%m-%d %H:%M} on {training} rows"
            f" ({start:%Y-%m-%d} .. {end:%Y-%m-%d}); level macro F1 "
            f"{f1 if f1 is None else round(f1, 3)}; anomalies {anomaly}"
        )
    return lines or ["no model versions registered: make export-model"]


def artifacts(conn: psycopg.Connection, version: str | None = None) -> tuple[str, dict[str, str]]:
    """(version, model_name -> artifact_path) of `version`, by default the active one."""
    with conn.cursor() as cur:
        cur.execute(
            _sql(
                "select model_version, model_name, artifact_path from {registry}"
                " where model_version = coalesce(%s, (select max(model_version)"
                " from {registry} where is_active)) order by model_name"
            ),
            (version,),
        )
        rows = cur.fetchall()
    if not rows:
        missing = version or "active version"
        raise NotReadyError(f"no {missing} in {output_name(REGISTRY)}: run export first")
    return rows[0][0], {name: path for _, name, path in rows}
