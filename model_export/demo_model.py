"""The demo model the repository ships (v1: artifacts/v1 with its model card, and its compiled
SQL in macros/generated/v1 and seeds/generated/v1), retrained from scratch: the demo logs that
`make pipeline` loads (same rows, seed and window end) in a scratch database of its own, then
an export as v1. Run it (`make demo-model`) after changing the default models or the compiler,
and commit the result; `make check-generated` fails until the shipped files match."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from dbt_project.database import job_connection
from dbt_project.errors import InputError
from dbt_project.scratch import scratch_database
from ingest.generator import GeneratorSpec
from ingest.session import load_generated
from ingest.source_table import create_source_table
from model_export.export import export
from model_export.lifecycle import versions
from model_export.progress import progress
from model_export.training.data import Window

VERSION = versions.FIRST
SCRATCH_DATABASE = "logml_demo_model"


def retrain_demo_model(
    server: str, project_dir: Path, artifacts_dir: Path, rows: int, seed: int, end: datetime
) -> None:
    """Replace the shipped v1 with one trained on freshly generated demo logs, in a scratch
    database on the server of the URL `server`."""
    for folder in (versions.macro_folder(VERSION), versions.seed_folder(VERSION)):
        shutil.rmtree(project_dir / folder, ignore_errors=True)
    shutil.rmtree(versions.artifacts_folder(artifacts_dir, VERSION), ignore_errors=True)
    with scratch_database(SCRATCH_DATABASE, server) as url, job_connection(url) as conn:
        create_source_table(conn)
        load_generated(conn, GeneratorSpec(rows=rows, seed=seed, end=end))
        version = export(conn, project_dir, artifacts_dir, Window(), seed)
    if version != VERSION:
        raise InputError(f"exported {version}, expected {VERSION}: is {artifacts_dir} clean?")
    saved = versions.artifacts_folder(artifacts_dir, VERSION)
    progress(f"the demo model {VERSION} is in {project_dir} and {saved}")
