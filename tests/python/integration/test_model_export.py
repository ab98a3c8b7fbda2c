"""model_export end to end through its command line, on 100,000 generated logs in the real
database: export (training, artifacts, registry, generated files), verify (compiled SQL
against the Pipelines on every row, and after a real `dbt seed`), check (reproducibility:
a hand-edited generated file is caught). A user's own Pipeline: test_byo_versions.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbt_project.database import connect
from dev.pipeline import dbt, run_module
from model_export.lifecycle import versions
from model_export.lifecycle.verify import load_version, verify_macro, version_reference
from model_export.training import pipelines

pytestmark = pytest.mark.slow

ROWS = 100_000


@pytest.fixture(scope="module")
def exported(module_db: str, dbt_project_copy: Path, tmp_path_factory: pytest.TempPathFactory):
    """100,000 generated logs loaded, and a first export into the project copy."""
    run_module(module_db, "ingest", "create-source", check=True)
    run_module(
        module_db,
        "ingest",
        "generate",
        "--rows",
        str(ROWS),
        "--seed",
        "3",
        "--end",
        "2026-01-01T00:00:00+00:00",
        check=True,
    )
    artifacts = tmp_path_factory.mktemp("artifacts")
    out = run_module(
        module_db,
        "model_export",
        "export",
        "--project-dir",
        str(dbt_project_copy),
        "--artifacts-dir",
        str(artifacts),
        "--seed",
        "5",
        check=True,
    )
    assert out.stdout.splitlines()[-1] == "v1"
    return module_db, dbt_project_copy, artifacts


def test_verify_every_generated_row(exported) -> None:
    url, project, _ = exported
    out = run_module(url, "model_export", "verify", "--rows", "0", "--project-dir", str(project))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == "EXACT"
    assert sum(f"rows {ROWS:>8}" in line for line in lines) == 9


def test_verify_after_dbt_seed(exported) -> None:
    """dbt's own seed loading (CSV -> agate -> float8 columns) keeps every weight exact."""
    url, project, _ = exported
    with connect(url) as conn:
        version, models = load_version(conn)
    dbt(project, url, "seed", "--select", f"path:{versions.seed_folder(version)}")
    where = "log_entry_id % 10 = 0"
    with connect(url) as conn:
        results = verify_macro(
            conn, project, versions.scorer_macro(version), models, version_reference, where, "ml"
        )
    assert len(results) == 9
    assert all(r.exact and r.rows == ROWS // 10 for r in results), [r.line() for r in results]


def test_registry_versions(exported) -> None:
    url, project, artifacts = exported
    out = run_module(
        url,
        "model_export",
        "export",
        "--project-dir",
        str(project),
        "--artifacts-dir",
        str(artifacts),
        "--limit",
        "20000",
        check=True,
    )
    assert out.stdout.splitlines()[-1] == "v2"
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "select model_version, model_name, is_active, training_rows, artifact_path,"
            " metrics ? 'macro_f1' from ml.ml_model_registry order by 1, 2"
        )
        rows = cur.fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("v1", "anomaly_detector", False),
        ("v1", "level_classifier", False),
        ("v2", "anomaly_detector", True),
        ("v2", "level_classifier", True),
    ]
    assert {r[3] for r in rows if r[0] == "v2"} == {16000}
    assert all(Path(r[4]).is_file() for r in rows)
    assert [r[5] for r in rows] == [False, True, False, True]
    # The level model was chosen on validation windows inside the training window; the
    # choice and every candidate's validation score are kept with the version.
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "select metrics -> 'selection' from ml.ml_model_registry"
            " where model_version = 'v2' and model_name = 'level_classifier'"
        )
        selection = cur.fetchone()[0]
    names = [c.name for c in pipelines.LEVEL_CANDIDATES]
    plain, frequent = selection["validation_macro_f1"], selection["validation_macro_f1_min_support"]
    for scores in (plain, frequent):
        assert set(scores) == set(names) and all(0.0 < scores[n] <= 1.0 for n in names)
    assert selection["chosen"] == max(names, key=lambda n: (frequent[n], plain[n]))
    assert 0 < selection["validation_rows"] <= 16000
    generated = project / "macros" / "generated"
    # v1's compiled SQL stays: switching back is a role change, not a retrain
    assert (generated / "v1" / "ml_score_v1.sql").is_file()
    assert (generated / "v2" / "ml_score_v2.sql").is_file()
    listed = (generated / "ml_versions.sql").read_text()
    assert "'scorer': ml_score_v1," in listed and "'scorer': ml_score_v2," in listed


def test_check_detects_a_hand_edit(exported) -> None:
    url, project, artifacts = exported
    args = ("check", "--project-dir", str(project), "--artifacts-dir", str(artifacts))
    assert run_module(url, "model_export", *args).returncode == 0
    macro = project / "macros" / "generated" / "v1" / "ml_score_v1.sql"
    original = macro.read_text()
    macro.write_text(original.replace("0.5", "0.6", 1) if "0.5" in original else original + " ")
    try:
        out = run_module(url, "model_export", *args)
        assert out.returncode == 1
        assert "differs from its regeneration: macros/generated/v1/ml_score_v1.sql" in out.stdout
    finally:
        macro.write_text(original)
    stray = project / "seeds" / "generated" / "ml_stray.csv"
    stray.write_text("a\n1\n")
    try:
        out = run_module(url, "model_export", *args)
        assert out.returncode == 1 and "ml_stray.csv" in out.stdout
    finally:
        stray.unlink()
    assert run_module(url, "model_export", *args).returncode == 0


def test_verify_from_predictions_built_by_dbt(exported) -> None:
    """The dbt project's ml_predictions, built from the generated macros by dbt itself,
    holds exactly what the Pipelines say for every row."""
    url, project, _ = exported
    dbt(project, url, "seed")
    dbt(project, url, "run", "-s", "+ml_predictions")
    out = run_module(url, "model_export", "verify", "--from-predictions", "--rows", "0")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines()[-1] == "EXACT"
    assert sum(f"rows {ROWS:>8}" in line for line in out.stdout.splitlines()) == 7
