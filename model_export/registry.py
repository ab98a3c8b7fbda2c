"""The model registry table ml.ml_model_registry (created and maintained here, not by dbt):
one row per (model_version, model_name); versions v1, v2, ... are never overwritten and the
newest is the active one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from dbt_project.database import connect

_DDL = """
create schema if not exists ml;
create table if not exists ml.ml_model_registry (
    model_version text not null,
    model_name text not null,
    trained_at timestamptz not null,
    training_rows bigint not null,
    window_start timestamptz,
    window_end timestamptz,
    sklearn_version text not null,
    metrics jsonb not null,
    artifact_path text not null,
    is_active boolean not null,
    primary key (model_version, model_name)
);
"""


@dataclass(frozen=True)
class Entry:
    model_name: str
    training_rows: int
    window_start: datetime | None
    window_end: datetime | None
    sklearn_version: str
    metrics: dict[str, object]
    artifact_path: str


def ensure_registry(url: str) -> None:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(_DDL)


def next_version(url: str) -> str:
    """v<N+1> for the largest registered vN (v1 on an empty registry)."""
    ensure_registry(url)
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "select coalesce(max(substr(model_version, 2)::int), 0) from ml.ml_model_registry"
            " where model_version ~ '^v[0-9]+$'"
        )
        return f"v{cur.fetchone()[0] + 1}"


def register(url: str, version: str, entries: list[Entry]) -> None:
    """Add a version (failing if it exists) and make it the only active one."""
    ensure_registry(url)
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("lock table ml.ml_model_registry in exclusive mode")
        cur.execute("update ml.ml_model_registry set is_active = false where is_active")
        for e in entries:
            cur.execute(
                "insert into ml.ml_model_registry values"
                " (%s, %s, now(), %s, %s, %s, %s, %s, %s, true)",
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


def active_artifacts(url: str) -> tuple[str, dict[str, str]]:
    """(active version, model_name -> artifact_path)."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "select model_version, model_name, artifact_path from ml.ml_model_registry"
            " where is_active order by model_name"
        )
        rows = cur.fetchall()
    if not rows:
        raise SystemExit("no active model version in ml.ml_model_registry: run export first")
    return rows[0][0], {name: path for _, name, path in rows}
