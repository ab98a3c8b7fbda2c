"""`evaluate` on real loghub systems loaded by the loader: every split and fold is scored on
lines the models never trained on, the level model (as export chooses it) is at least the old
pipeline's seed mean where the issue measured it losing (Android, BGL), the anomaly figures go
through the default detector, and the report page and the docs site's results page hold the
tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbt_project.database import PROJECT_ROOT, connect
from dev.pipeline import LOGHUB, cli
from model_export.evaluation import report as evaluation_report
from model_export.evaluation.evaluate import OLD_SEEDS, evaluate_dataset, splits
from model_export.training.data import ensure_staging, read_stg

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results(module_db: str, dbt_project_copy: Path) -> list[dict]:
    cli(module_db, "ingest", "create-source")
    cli(module_db, "ingest", "loghub", str(LOGHUB / "Android"), str(LOGHUB / "BGL"))
    with connect(module_db) as conn:
        ensure_staging(conn, dbt_project_copy)
        frame = read_stg(conn)
    return [
        evaluate_dataset(name, frame[frame["service"] == name], seed=42)
        for name in ("Android", "BGL")
    ]


def test_splits_never_test_on_training_lines(module_db: str, results: list[dict]) -> None:
    with connect(module_db) as conn:
        frame = read_stg(conn, where="service = 'BGL'")
    seen = []
    for name, train, test in splits(frame):
        assert set(train["log_entry_id"]).isdisjoint(test["log_entry_id"]), name
        assert train["logged_at"].max() <= test["logged_at"].min(), name
        seen.append((name, len(train), len(test)))
    assert seen == [("80/20", 1600, 400)] + [(f"fc {k}", 200 * k, 200) for k in range(5, 10)]


def test_level_model_at_least_the_old_pipeline(results: list[dict]) -> None:
    for result in results:
        levels = result["levels"]
        assert list(levels) == ["80/20", *(f"fc {k}" for k in range(5, 10))]
        for split, figures in levels.items():
            old = [o["macro_f1"] for o in figures["old"]]
            assert len(old) == len(OLD_SEEDS)
            if split == "80/20":
                assert figures["model"]["macro_f1"] >= sum(old) / len(old), result["dataset"]
            assert figures["majority"]["macro_f1"] < figures["model"]["macro_f1"]


def test_anomaly_figures_and_curves(results: list[dict]) -> None:
    android, bgl = results
    # Android has no line labels: flagged shares only, no precision.
    assert "precision" not in android["anomalies"]["80/20"]["default (no labels)"]
    main = bgl["anomalies"]["80/20"]
    assert main['rule "FATAL means anomaly"']["positives"] == 24
    assert {"default (no labels)", "default (with labels)", "old pipeline (labels)"} <= set(main)
    curve = main["curves"]["default (no labels)"]
    assert len(curve["precision"]) == len(curve["recall"]) >= 2
    assert 0.0 < main["default (no labels)"]["flagged_share"] <= 1.0
    # its own threshold is one of those the ceiling tries, on every split
    for split, figures in bgl["anomalies"].items():
        ours = figures["default (no labels)"]
        assert ours["f1"] <= ours["best_threshold_f1"] <= 1.0, split
    assert "best_threshold_f1" not in android["anomalies"]["80/20"]["default (no labels)"]


def test_report_page_and_results_page(results: list[dict], tmp_path: Path) -> None:
    page = evaluation_report.html(results, "make evaluate")
    assert page.count("<table>") == 5 and page.count("<svg") == 1
    assert "<polyline" in page and "Android" in page and "BGL" in page
    quality = tmp_path / "quality.md"
    begin, end = evaluation_report.BEGIN, evaluation_report.END
    quality.write_text(f"# Quality\nprose\n{begin}\nstale figures\n{end}\nmore prose\n")
    section = evaluation_report.markdown(results, "make evaluate")
    evaluation_report.replace_generated_section(quality, section)
    text = quality.read_text()
    assert "stale figures" not in text
    assert text.startswith("# Quality\nprose\n") and text.endswith("more prose\n")
    assert section in text and "| BGL |" in section
    # BGL split by split (Android has no labels): 80/20 and the five folds
    splits_rows = [line for line in section.splitlines() if line.startswith("| BGL | fc ")]
    assert len(splits_rows) == 5 and "| BGL | 80/20 | 400 | 24 |" in section


def test_the_results_page_holds_the_markers(tmp_path: Path) -> None:
    """`make evaluate` writes between the markers of docs/results/quality.md; a page without
    them is refused before the long run, with the fix in the message."""
    evaluation_report.check_page(PROJECT_ROOT / "docs" / "results" / "quality.md")
    for text in (
        "# Quality\nno markers\n",
        f"{evaluation_report.END}\n{evaluation_report.BEGIN}\n",
    ):
        page = tmp_path / "page.md"
        page.write_text(text)
        with pytest.raises(evaluation_report.MissingMarkers, match="add both lines"):
            evaluation_report.check_page(page)
    with pytest.raises(evaluation_report.MissingMarkers):
        evaluation_report.check_page(tmp_path / "missing.md")


def test_difference_to_the_old_pipeline_comes_with_its_interval(results: list[dict]) -> None:
    for result in results:
        main, versus = result["levels"]["80/20"], result["levels_versus_old"]
        for metric in ("macro_f1", "macro_f1_min_support"):
            old = [o[metric] for o in main["old"]]
            difference = main["model"][metric] - sum(old) / len(old)
            low, high = versus[metric]["80/20"]
            assert low <= difference <= high and low < high, (result["dataset"], metric)
            low, high = versus[metric]["fc"]
            assert -1.0 <= low < high <= 1.0, (result["dataset"], metric)
    section = evaluation_report.markdown(results, "make evaluate")
    assert "level model - old pipeline [95% bootstrap interval]" in section
