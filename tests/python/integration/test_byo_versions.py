"""Bring-your-own models as versions beside the default pair, on the real database and dbt: a
Pipeline trained on the built pipeline's logs goes from a joblib file to a registered version
(`export --file --name`), verified against the Pipeline on stg rows; check-generated
regenerates it; the README's example dbt model scores every log into its own table, exactly
what scikit-learn says; a challenger scores new logs in shadow, then promote and rollback
move that model's roles and never the default pair's. Refusals: a version whose columns
differ from its model's, columns stg_log_entries lacks, an unsupported step."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, PolynomialFeatures, StandardScaler

from dbt_project.database import connect, job_connection
from dev.db import fetch_all, scalar
from dev.pipeline import (
    CHALLENGER_LOGS_END,
    dbt,
    load_generated,
    model_export,
    model_export_args,
    run_module,
)
from model_export.lifecycle import registry
from model_export.lifecycle.verify import compare
from model_export.lifecycle.verify_pipeline import stg_reference
from model_export.lifecycle.versions import Roles
from model_export.training.data import frame_from_rows
from model_export.training.features import STG_COLUMNS
from tests.python.harness.prepared import Prepared
from tests.python.harness.readme import blocks

pytestmark = pytest.mark.slow

NAME = "service"  # the README's model: its example dbt model is for this name
TABLE = "ml.service_predictions"


def stg(url: str) -> pd.DataFrame:
    rows = fetch_all(url, f"select {', '.join(STG_COLUMNS)} from ml.stg_log_entries order by 1")
    return frame_from_rows(rows)


def text_pipeline(url: str, c: float) -> Pipeline:
    frame = stg(url)
    frame = frame[frame["service"].fillna("") > ""]
    model = make_pipeline(TfidfVectorizer(max_features=2000), LogisticRegression(C=c))
    return model.fit(frame["message"].tolist(), frame["service"])


def saved(pipeline: object, folder: Path, name: str) -> str:
    path = folder / f"{name}.joblib"
    joblib.dump(pipeline, path)
    return str(path)


def export(built: Prepared, path: str, name: str = NAME, *options: str):
    return run_module(
        built.url, "model_export", "export", *model_export_args(built.url, built.project),
        "--file", path, "--name", name, *options,
    )  # fmt: skip


def roles(url: str, byo: str | None = None) -> Roles:
    with job_connection(url) as conn:
        return registry.roles(conn, byo)


def table(url: str, version: str) -> pd.DataFrame:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            f"select * from {TABLE} where model_version = %s order by log_entry_id", (version,)
        )
        names = [d.name for d in cur.description or ()]
        return pd.DataFrame.from_records(cur.fetchall(), columns=names)


def build_table(built: Prepared) -> None:
    dbt(built.project, built.url, "build", "--select", "+service_predictions")


@pytest.fixture(scope="module")
def first(built: Prepared, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, str]:
    """service_v1 exported from a Pipeline trained on the built logs."""
    pipeline = text_pipeline(built.url, c=1.0)
    out = export(built, saved(pipeline, tmp_path_factory.mktemp("byo"), "v1"))
    assert out.returncode == 0, out.stdout + out.stderr
    return pipeline, out.stdout.splitlines()[-1]


def test_export_registers_a_version_beside_the_default_pair(
    built: Prepared, first: tuple[object, str]
) -> None:
    _, version = first
    assert version == "service_v1"
    assert fetch_all(
        built.url,
        "select model_version, model_name, model_kind, is_active, training_rows,"
        " metrics -> 'verified' ->> 'exact' from ml.ml_model_registry where model_kind = 'byo'",
    ) == [("service_v1", "service", "byo", True, None, "true")]
    assert roles(built.url, NAME) == Roles("service_v1", None)
    assert roles(built.url) == Roles("v1", None)  # the default pair's roles: untouched
    project = built.project
    assert (project / "macros/generated/byo/service_v1/ml_byo_service_v1.sql").is_file()
    assert list((project / "seeds/generated/byo/service_v1").glob("ml_byo_service_v1_*.csv"))
    assert (project / "artifacts/byo/service_v1/pipeline.joblib").is_file()
    listing = (project / "macros/generated/ml_versions.sql").read_text()
    assert "'service': [{'version': 'service_v1', 'scorer': ml_byo_service_v1}]" in listing
    lines = model_export(built.url, project, "versions").splitlines()
    assert lines[0].startswith("v1 ")
    assert any(
        line.startswith("service_v1 active     brought: TfidfVectorizer -> LogisticRegression")
        and "verified exact on 3000 rows of stg_log_entries" in line
        for line in lines
    ), lines


def test_verify_and_check_generated_cover_it(built: Prepared, first: tuple[object, str]) -> None:
    out = model_export(built.url, built.project, "verify", "--version", first[1], "--rows", "0")
    assert out.splitlines()[-1] == "EXACT"
    assert "predicted_label" in out and "probability_0" in out
    check = model_export(built.url, built.project, "check")
    assert check.splitlines()[-1] == "generated files match their artifacts"
    refused = run_module(
        built.url, "model_export", "verify", *model_export_args(built.url, built.project),
        "--version", first[1], "--from-predictions",
    )  # fmt: skip
    assert refused.returncode == 1 and "without --from-predictions" in refused.stderr


def test_the_readme_model_scores_every_log_exactly(
    built: Prepared, first: tuple[object, str]
) -> None:
    (model,) = [b for b in blocks("Bring your own model") if b.language == "sql"]
    assert model.file == Path("models/marts/byo/service_predictions.sql")
    (built.project / model.file).parent.mkdir(parents=True, exist_ok=True)
    (built.project / model.file).write_text(model.text)
    build_table(built)
    pipeline, version = first
    inputs = stg(built.url)
    got = table(built.url, version)
    assert got["log_entry_id"].tolist() == inputs["log_entry_id"].tolist()
    results = compare(version, got, stg_reference(pipeline, inputs), {"predicted_label"})
    assert results and all(r.exact for r in results), [r.line() for r in results]


def test_a_challenger_scores_new_logs_then_promote_and_rollback(
    built: Prepared, first: tuple[object, str], tmp_path: Path
) -> None:
    before = table(built.url, "service_v1")
    out = export(
        built, saved(text_pipeline(built.url, c=0.3), tmp_path, "v2"), NAME, "--challenger"
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines()[-1] == "service_v2"
    assert roles(built.url, NAME) == Roles("service_v1", "service_v2")
    newest = scalar(built.url, "select max(log_entry_id) from ml.stg_log_entries")
    load_generated(built.url, 300, seed=11, end=CHALLENGER_LOGS_END, days=1)
    build_table(built)
    after = table(built.url, "service_v1")
    # nothing rewritten, every new log scored by both versions, no old log by the challenger
    pd.testing.assert_frame_equal(after[after["log_entry_id"] <= newest], before)
    new_ids = set(after["log_entry_id"]) - set(before["log_entry_id"])
    assert len(new_ids) == 300
    assert set(table(built.url, "service_v2")["log_entry_id"]) == new_ids
    commands = [("promote", "service_v2"), ("rollback", "service_v1")]
    for command, active in commands:
        model_export(built.url, built.project, command, "--name", NAME)
        assert roles(built.url, NAME).active == active
    assert roles(built.url) == Roles("v1", None)
    assert scalar(built.url, f"select count(*) from {TABLE}") == len(after) + len(new_ids)


def test_every_version_of_a_model_returns_its_columns(built: Prepared, tmp_path: Path) -> None:
    frame = stg(built.url)
    levels = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(
        frame["message"].tolist(), frame["level"].fillna("INFO")
    )
    out = export(built, saved(levels, tmp_path, "levels"))
    assert out.returncode == 1
    assert "the registered versions of service return" in out.stderr
    assert "give this one a name of its own" in out.stderr


def tabular(frame: pd.DataFrame) -> Pipeline:
    prep = ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), ["http_status"]),
            ("service", OneHotEncoder(handle_unknown="ignore"), ["service"]),
        ]
    )
    return Pipeline([("prep", prep), ("model", LinearRegression())])


def test_a_tabular_model_reads_the_columns_it_was_fitted_on(
    built: Prepared, tmp_path: Path
) -> None:
    frame = stg(built.url)
    target = frame["response_time_ms"].fillna(0.0).to_numpy()
    pipeline = tabular(frame).fit(frame[["http_status", "service"]], target)
    out = export(built, saved(pipeline, tmp_path, "latency"), "latency")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "reads log_entry_id, http_status, service; returns prediction" in out.stderr
    verified = model_export(built.url, built.project, "verify", "--version", "latency_v1")
    assert verified.splitlines()[-1] == "EXACT"
    assert roles(built.url, "latency") == Roles("latency_v1", None)
    assert roles(built.url, NAME).active == "service_v1"


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (
            lambda f: make_pipeline(StandardScaler(), LinearRegression()).fit(
                f[["http_status"]].fillna(0).rename(columns={"http_status": "status"}),
                np.arange(len(f)),
            ),
            "reads ['status'], which ml.stg_log_entries does not have",
        ),
        (
            lambda f: make_pipeline(PolynomialFeatures(), LinearRegression()).fit(
                f[["http_status"]].fillna(0), np.arange(len(f))
            ),
            "cannot compile",
        ),
    ],
    ids=["unknown_column", "unsupported_step"],
)
def test_refusals_are_one_clear_line(built: Prepared, tmp_path: Path, make, said: str) -> None:
    out = export(built, saved(make(stg(built.url)), tmp_path, "refused"), "refused")
    assert out.returncode == 1
    assert said in out.stderr and "Traceback" not in out.stderr
    assert not (built.project / "macros/generated/byo/refused_v1").exists()
    assert roles(built.url, "refused") == Roles(None, None)
