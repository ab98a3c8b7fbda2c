"""Compiled SQL against scikit-learn on real inputs: fit, compile, run the SQL in the real
database, and require the same label on every row and |diff| <= 1e-9 for every number.
Covers every loghub system (level classifier where the system has levels, IsolationForest),
the supervised detector on BGL's labels, the old system's TF-IDF + RandomForest pipeline,
and the log features on arbitrary values."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline

from dbt_project.database import PROJECT_ROOT, connect
from dev.pipeline import LOGHUB, cli
from model_export.compiler.assemblers.anomaly import template_seed
from model_export.compiler.pipeline import LEVEL_OUTPUTS, Compiled, compile_pipeline
from model_export.compiler.project_files import rendered_files, write_files
from model_export.compiler.render import copy_used_macros, render_macro
from model_export.compiler.scorer import compile_scorer
from model_export.lifecycle import versions
from model_export.lifecycle.verify import (
    Comparison,
    anomaly_reference,
    level_reference,
    load_seeds,
    text_reference,
    verify_macro,
    version_reference,
)
from model_export.training import pipelines
from model_export.training.anomaly_detectors import severity_rarity
from model_export.training.data import ensure_staging, read_stg, time_split
from model_export.training.features import FEATURE_NAMES, LogFeatures

SYSTEMS = sorted(p.name for p in LOGHUB.iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def loghub_db(
    module_db: str, loghub_dir: Path, dbt_project_copy: Path
) -> Iterator[psycopg.Connection]:
    """A connection to a database with every loghub system loaded by the loader (service =
    system name) and the stg view built."""
    cli(module_db, "ingest", "create-source")
    cli(module_db, "ingest", "loghub", *[str(loghub_dir / s) for s in SYSTEMS])
    with connect(module_db) as conn:
        ensure_staging(conn, dbt_project_copy)
        yield conn


def install(conn: psycopg.Connection, project: Path, compiled: list[Compiled]) -> None:
    write_files(project, rendered_files(compiled))
    load_seeds(conn, project)


def assert_exact(results: list[Comparison], rows: int) -> None:
    assert results, "nothing was compared"
    for result in results:
        assert result.rows == rows
        assert result.exact, result.line()


@pytest.mark.slow
@pytest.mark.parametrize("system", SYSTEMS)
def test_every_loghub_system(
    loghub_db: psycopg.Connection, dbt_project_copy: Path, system: str
) -> None:
    where = f"service = '{system}'"
    frame = read_stg(loghub_db, where=where)
    assert len(frame) == 2000
    train, _ = time_split(frame)
    detector = pipelines.isolation_forest(seed=7).fit(train)
    compiled = [compile_pipeline(detector, "ml_anomaly_detector")]
    known = train[train["level"].notna()]
    level = None
    if known["level"].nunique() >= 2:
        level = pipelines.level_classifier(seed=7).fit(known, known["level"].to_numpy())
        compiled.append(compile_pipeline(level, "ml_level_classifier", LEVEL_OUTPUTS))
        # The one-pass macro of both models must give exactly what the two macros give.
        compiled.append(compile_scorer(level, detector, versions.scorer_names("v1")))
        # The default detector (severity x rarity) on real lines: history, score, decision
        # and the explanation of each flagged line.
        default = severity_rarity(level).fit(train)
        compiled.append(compile_scorer(level, default, versions.scorer_names("v2")))
    install(loghub_db, dbt_project_copy, compiled)
    results = verify_macro(
        loghub_db, dbt_project_copy, "ml_anomaly_detector", detector, anomaly_reference, where
    )
    if level is not None:
        results += verify_macro(
            loghub_db, dbt_project_copy, "ml_level_classifier", level, level_reference, where
        )
        results += verify_macro(
            loghub_db,
            dbt_project_copy,
            versions.scorer_macro("v1"),
            (level, detector),
            version_reference,
            where,
        )
        results += verify_macro(
            loghub_db,
            dbt_project_copy,
            versions.scorer_macro("v2"),
            (level, default),
            version_reference,
            where,
        )
        assert "anomaly_explanation" in {r.column for r in results}
    assert_exact(results, len(frame))


@pytest.mark.slow
def test_level_classifier_covers_most_systems(loghub_db: psycopg.Connection) -> None:
    # Guards the test above against passing vacuously: most systems do have levels.
    found = loghub_db.execute(
        "select count(*) from (select service from ml.stg_log_entries"
        " group by service having count(distinct level) >= 2) as s"
    ).fetchone()
    assert found is not None and found[0] >= 8


@pytest.mark.slow
def test_supervised_detector_on_bgl_labels(
    loghub_db: psycopg.Connection, dbt_project_copy: Path
) -> None:
    where = "service = 'BGL'"
    frame = read_stg(loghub_db, where=where)
    assert int(frame["is_anomaly_label"].fillna(False).sum()) == 143
    train, _ = time_split(frame)
    known = train[train["level"].notna()]
    level = pipelines.level_classifier(seed=7).fit(known, known["level"].to_numpy())
    # the old system's line labels, turned into template labels
    detector = pipelines.fit_anomaly_detector(train, level)
    assert type(detector[-1]).__name__ == "TemplateLabels"
    install(
        loghub_db,
        dbt_project_copy,
        [compile_scorer(level, detector, versions.scorer_names("v3"))],
    )
    results = verify_macro(
        loghub_db,
        dbt_project_copy,
        versions.scorer_macro("v3"),
        (level, detector),
        version_reference,
        where,
    )
    assert_exact(results, len(frame))
    detector = pipelines.supervised_detector(seed=7).fit(train, pipelines.anomaly_labels(train))
    install(loghub_db, dbt_project_copy, [compile_pipeline(detector, "ml_anomaly_detector")])
    results = verify_macro(
        loghub_db, dbt_project_copy, "ml_anomaly_detector", detector, anomaly_reference, where
    )
    assert_exact(results, len(frame))


@pytest.mark.slow
def test_old_system_pipeline(loghub_db: psycopg.Connection, dbt_project_copy: Path) -> None:
    """The old system's pickles: TF-IDF (1000 terms, English stop words) + RandomForest,
    fitted on raw message strings; verified on every loghub row."""
    known = read_stg(loghub_db, where="level is not null and service in ('BGL', 'HDFS', 'Spark')")
    old = Pipeline(
        [
            ("tfidf", TfidfVectorizer(max_features=1000, stop_words="english")),
            ("clf", RandomForestClassifier(n_estimators=100, random_state=0)),
        ]
    ).fit(known["message"].tolist(), known["level"].to_numpy())
    install(loghub_db, dbt_project_copy, [compile_pipeline(old, "ml_old_levels")])
    results = verify_macro(
        loghub_db, dbt_project_copy, "ml_old_levels", old, text_reference, "true"
    )
    assert_exact(results, 2000 * len(SYSTEMS))


MESSAGES = st.one_of(
    st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=80),
    st.sampled_from(["GET /api/v1/users/42 200", "disk 3 failed", "", "ok ok ok", "Ünïcode 7"]),
)
NUMBERS = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-40, -1e-40, 5e-324, 3.5e38, 1e300, 200.0, 0.25]),
)
LEVELS = st.sampled_from([None, "DEBUG", "INFO", "WARN", "ERROR", "FATAL"])


@pytest.mark.slow  # 40 examples, each scored in SQL and in Python (about 25 s)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(MESSAGES, LEVELS, st.one_of(st.none(), st.integers(100, 599)), NUMBERS),
        min_size=1,
        max_size=30,
    )
)
def test_log_features_sql_equals_python(
    module_db: str, tmp_path_factory: pytest.TempPathFactory, rows: list[tuple]
) -> None:
    frame = pd.DataFrame(rows, columns=["message", "level", "http_status", "response_time_ms"])
    frame["http_status"] = frame["http_status"].astype(np.float64)
    frame["response_time_ms"] = frame["response_time_ms"].astype(np.float64)
    # Fitted on half of the rows so that seen and unseen templates both occur.
    features = LogFeatures().fit(frame.iloc[: len(frame) // 2 + 1])
    project = tmp_path_factory.mktemp("features")
    copy_used_macros(PROJECT_ROOT, project)  # log_features.sql and the macros it calls
    seed = template_seed(features, "ml_template_frequency_vtest")
    write_files(project, rendered_files([Compiled("ml_none", "select 1", [seed])]))
    with connect(module_db) as conn:
        load_seeds(conn, project)
    query = render_macro(project, "log_features", "ml_verify", "lf_input", seed.name)
    with connect(module_db) as conn, conn.cursor() as cur:
        cur.execute(
            "create temp table lf_input (log_entry_id bigint, message text, level text,"
            " http_status integer, response_time_ms float8)"
        )
        cur.executemany(
            "insert into lf_input values (%s, %s, %s, %s, %s)",
            [
                (i, m, lv, h, None if r is None else float(r))
                for i, (m, lv, h, r) in enumerate(rows)
            ],
        )
        cur.execute(f"select {', '.join(FEATURE_NAMES)} from ({query}) as f order by log_entry_id")
        got = np.array(cur.fetchall(), dtype=np.float64)
    expected = features.transform(frame)
    np.testing.assert_array_equal(got, expected)
    # The trees read float32: every feature must cast without error and identically.
    np.testing.assert_array_equal(got.astype(np.float32), expected.astype(np.float32))
