"""The demo model the repository ships (v1: artifacts/v1 with its model card, and its compiled
SQL in macros/generated/v1 and seeds/generated/v1), retrained from scratch: the demo logs that
`make pipeline` loads (same rows, seed and window end) in a scratch database of its own, then
an export as v1. Run it (`make demo-model`) after changing the default models or the compiler,
and commit the result; `make check-generated` fails until the shipped files match."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from psycopg import sql
from psycopg.conninfo import make_conninfo

from dbt_project.database import connect, job_connection
from dbt_project.errors import InputError
from ingest.generator import GeneratorSpec
from ingest.session import load_generated
from ingest.source_table import create_source_table
from model_export.export import export
from model_export.lifecycle import versions
from model_export.progress import progress
from model_export.training.data import Window

VERSION = versions.FIRST
SCRATCH_DATABASE = "logml_demo_model"


def _scratch(server_url: str, create: bool) -> str:
    name = sql.Identifier(SCRATCH_DATABASE)
    with connect(server_url) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(name))
        if create:
            conn.execute(sql.SQL("create database {}").format(name))
    return make_conninfo(server_url, dbname=SCRATCH_DATABASE)


def retrain_demo_model(
    server: str, project_dir: Path, artifacts_dir: Path, rows: int, seed: int, end: datetime
) -> None:
    """Replace the shipped v1 with one trained on freshly generated demo logs, in a scratch
    database on the server of the URL `server`."""
    for folder in (versions.macro_folder(VERSION), versions.seed_folder(VERSION)):
        shutil.rmtree(project_dir / folder, ignore_errors=True)
    shutil.rmtree(versions.artifacts_folder(artifacts_dir, VERSION), ignore_errors=True)
    url = _scratch(server, create=True)
    try:
        with job_connection(url) as conn:
            create_source_table(conn)
            load_generated(conn, GeneratorSpec(rows=rows, seed=seed, end=end))
            version = export(conn, project_dir, artifacts_dir, Window(), seed)
    finally:
        _scratch(server, create=False)
    if version != VERSION:
        raise InputError(f"exported {version}, expected {VERSION}: is {artifacts_dir} clean?")
    saved = versions.artifacts_folder(artifacts_dir, VERSION)
    progress(f"the demo model {VERSION} is in {project_dir} and {saved}")
