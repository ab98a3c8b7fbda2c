"""Bring-your-own pipelines compiled and run in the real PostgreSQL against scikit-learn: every
supported step (compiler/supported.py), text and tabular, on rows the models were not
fitted on (NaN, NULL and unseen categories included): labels equal, every probability,
decision value and prediction within 1e-9. Then random pipelines over random data
(hypothesis)."""

from __future__ import annotations

import glob
import subprocess
from collections.abc import Iterator

import joblib
import numpy as np
import pandas as pd
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Perceptron,
    Ridge,
    RidgeClassifier,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.multiclass import OneVsRestClassifier
from sklearn.naive_bayes import BernoulliNB, ComplementNB, MultinomialNB
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from dbt_project.database import connect
from dev.pipeline import LOGHUB
from model_export import cli
from model_export.compiler.assemblers import UnsupportedStep
from model_export.compiler.pipeline import compile_pipeline
from model_export.lifecycle.verify import compare
from model_export.lifecycle.verify_pipeline import (
    load_frame,
    pipeline_inputs,
    reference,
    verify_pipeline,
)

NUMERIC = ["status", "response_ms", "bytes"]


@pytest.fixture(scope="module")
def db(module_db: str) -> Iterator[psycopg.Connection]:
    """The module's one connection, handed to every verification."""
    with connect(module_db) as conn:
        yield conn


def tabular_frame(rows: int, seed: int, services: list[str]) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "log_entry_id": np.arange(1, rows + 1),
            "status": rng.choice([200.0, 201.0, 404.0, 500.0, 503.0], rows),
            "response_ms": rng.gamma(2.0, 50.0, rows),
            "bytes": rng.normal(1000.0, 300.0, rows),
            "service": rng.choice(services, rows).astype(object),
        }
    )
    frame.loc[rng.random(rows) < 0.1, "response_ms"] = np.nan
    frame.loc[rng.random(rows) < 0.05, "service"] = None
    return frame


TRAIN = tabular_frame(600, 1, ["api", "db", "web"])
# unseen categories, NULLs and NaN in the rows scored
SCORED = tabular_frame(300, 2, ["api", "db", "web", "queue"])
LEVEL = np.where(
    (TRAIN["status"] >= 500) | (TRAIN["response_ms"].fillna(0) > 180),
    "ERROR",
    np.where(TRAIN["status"] == 404, "WARN", "INFO"),
)
BINARY = LEVEL == "ERROR"
TARGET = TRAIN["response_ms"].fillna(100.0) * 0.5 + TRAIN["bytes"] * 0.01


def preprocess(unknown: str = "ignore") -> ColumnTransformer:
    return ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMERIC),
            ("service", OneHotEncoder(handle_unknown=unknown), ["service"]),
        ]
    )


CLASSIFIERS = [
    LogisticRegression(max_iter=500),
    LinearSVC(),
    RidgeClassifier(),
    SGDClassifier(random_state=0),
    SGDClassifier(loss="log_loss", random_state=0),
    Perceptron(random_state=0),
    OneVsRestClassifier(LogisticRegression(max_iter=500)),
    DecisionTreeClassifier(max_depth=6, random_state=0),
    RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0),
    ExtraTreesClassifier(n_estimators=20, max_depth=6, random_state=0),
    GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0),
    HistGradientBoostingClassifier(max_iter=20, random_state=0),
]
REGRESSORS = [
    LinearRegression(),
    Ridge(),
    Lasso(alpha=0.1),
    ElasticNet(alpha=0.1),
    SGDRegressor(random_state=0),
    DecisionTreeRegressor(max_depth=6, random_state=0),
    RandomForestRegressor(n_estimators=20, max_depth=6, random_state=0),
    ExtraTreesRegressor(n_estimators=20, max_depth=6, random_state=0),
    GradientBoostingRegressor(n_estimators=20, random_state=0),
    HistGradientBoostingRegressor(max_iter=20, random_state=0),
]


def assert_exact(results: list, rows: int) -> None:
    assert results, "nothing compared"
    for result in results:
        assert result.rows == rows
        assert result.exact, result.line()


def _name(model: object) -> str:
    return type(model).__name__ + ("_log" if getattr(model, "loss", "") == "log_loss" else "")


@pytest.mark.parametrize("binary", [False, True], ids=["multiclass", "binary"])
@pytest.mark.parametrize("model", CLASSIFIERS, ids=_name)
def test_tabular_classifier(db: psycopg.Connection, model: object, binary: bool) -> None:
    pipeline = Pipeline([("prep", preprocess()), ("model", model)])
    pipeline.fit(TRAIN, BINARY if binary else LEVEL)
    assert_exact(verify_pipeline(db, pipeline, SCORED), len(SCORED))


@pytest.mark.parametrize("model", REGRESSORS, ids=_name)
def test_tabular_regressor(db: psycopg.Connection, model: object) -> None:
    pipeline = Pipeline([("prep", preprocess()), ("model", model)]).fit(TRAIN, TARGET)
    assert_exact(verify_pipeline(db, pipeline, SCORED), len(SCORED))


@pytest.mark.parametrize(
    "model",
    [
        DecisionTreeClassifier(random_state=0),
        RandomForestClassifier(n_estimators=10, random_state=0),
        HistGradientBoostingClassifier(max_iter=10, random_state=0),
    ],
    ids=_name,
)
def test_trees_read_missing_values_as_they_were_fitted(
    db: psycopg.Connection, model: object
) -> None:
    """NaN straight into trees (no imputer), as scikit-learn sends it left or right."""
    columns = ColumnTransformer([("numbers", "passthrough", NUMERIC)])
    pipeline = Pipeline([("columns", columns), ("model", model)]).fit(TRAIN, LEVEL)
    assert_exact(verify_pipeline(db, pipeline, SCORED), len(SCORED))


def test_min_max_scaler_and_text_imputer(db: psycopg.Connection) -> None:
    prep = ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(), MinMaxScaler(clip=True)), NUMERIC),
            (
                "service",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="none"),
                    OneHotEncoder(handle_unknown="ignore", drop="first"),
                ),
                ["service"],
            ),
        ],
        remainder="drop",
    )
    pipeline = Pipeline([("prep", prep), ("model", LogisticRegression())]).fit(TRAIN, LEVEL)
    assert_exact(verify_pipeline(db, pipeline, SCORED), len(SCORED))


def test_one_hot_error_fails_the_query_like_transform(db: psycopg.Connection) -> None:
    pipeline = Pipeline([("prep", preprocess("error")), ("model", LogisticRegression())])
    pipeline.fit(TRAIN.fillna({"service": "api"}), LEVEL)
    known = SCORED[SCORED["service"].isin(["api", "db", "web"])]
    assert_exact(verify_pipeline(db, pipeline, known), len(known))
    with pytest.raises(Exception, match="unknown category in column 0: queue"):
        verify_pipeline(db, pipeline, SCORED)


def loghub_messages() -> pd.DataFrame:
    frames = []
    for path in sorted(glob.glob(str(LOGHUB / "*" / "*_structured.csv"))):
        found = pd.read_csv(path, dtype=str, keep_default_na=False)
        level = found["Level"] if "Level" in found else pd.Series([""] * len(found))
        frames.append(pd.DataFrame({"message": found["Content"], "level": level.str.upper()}))
    frame = pd.concat(frames, ignore_index=True)
    frame.insert(0, "log_entry_id", np.arange(1, len(frame) + 1))
    return frame


@pytest.fixture(scope="module")
def messages() -> pd.DataFrame:
    return loghub_messages()


def _text_sets(messages: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    train = messages[messages["level"].isin(["INFO", "WARN", "ERROR"])].iloc[::4]
    scored = messages.iloc[1::7]
    return train, train["level"].to_numpy(), scored


TEXT_MODELS = [
    LogisticRegression(max_iter=300),
    LinearSVC(),
    SGDClassifier(random_state=0),
    RidgeClassifier(),
    OneVsRestClassifier(LogisticRegression(max_iter=300)),
    MultinomialNB(),
    ComplementNB(),
    BernoulliNB(),
    RandomForestClassifier(n_estimators=30, random_state=0),
    GradientBoostingClassifier(n_estimators=15, random_state=0),
]


@pytest.mark.parametrize("model", TEXT_MODELS, ids=_name)
def test_text_models(db: psycopg.Connection, messages: pd.DataFrame, model: object) -> None:
    train, labels, scored = _text_sets(messages)
    vectorizer = TfidfVectorizer(max_features=500, stop_words="english", ngram_range=(1, 2))
    pipeline = Pipeline([("tfidf", vectorizer), ("model", model)])
    pipeline.fit(train["message"].tolist(), labels)
    assert_exact(verify_pipeline(db, pipeline, scored), len(scored))


@pytest.mark.parametrize(
    "vectorizer",
    [
        CountVectorizer(ngram_range=(1, 3), max_features=800),
        TfidfVectorizer(sublinear_tf=True, norm="l1", ngram_range=(2, 2)),
        TfidfVectorizer(binary=True, norm=None, stop_words=["error", "info"]),
    ],
    ids=["count_1_3", "sublinear_l1_bigrams", "binary_stop_list"],
)
def test_vectorizer_settings(
    db: psycopg.Connection, messages: pd.DataFrame, vectorizer: object
) -> None:
    train, labels, scored = _text_sets(messages)
    for model in (LogisticRegression(max_iter=300), DecisionTreeClassifier(random_state=0)):
        pipeline = Pipeline([("vectorizer", vectorizer), ("model", model)])
        pipeline.fit(train["message"].tolist(), labels)
        assert_exact(verify_pipeline(db, pipeline, scored), len(scored))


def test_text_column_of_a_column_transformer(
    db: psycopg.Connection, messages: pd.DataFrame
) -> None:
    train, labels, scored = _text_sets(messages)
    columns = ColumnTransformer([("text", TfidfVectorizer(max_features=300), "message")])
    pipeline = Pipeline([("columns", columns), ("model", ExtraTreesClassifier(10, random_state=0))])
    pipeline.fit(train[["message"]], labels)
    assert_exact(verify_pipeline(db, pipeline, scored), len(scored))


def test_old_system_forest_is_compact(messages: pd.DataFrame) -> None:
    """The old system's TF-IDF(1000, English stop words) + RandomForest(100): the trees are
    seed rows, the macro a few kB whatever the forest's size."""
    train, labels, _ = _text_sets(messages)
    old = Pipeline(
        [
            ("tfidf", TfidfVectorizer(max_features=1000, stop_words="english")),
            ("clf", RandomForestClassifier(n_estimators=100, random_state=0)),
        ]
    ).fit(train["message"].tolist(), labels)
    compiled = compile_pipeline(old, "ml_old_levels")
    assert len(compiled.body.encode()) < 64_000
    nodes = {s.name: len(s.rows) for s in compiled.seeds}["ml_old_levels_nodes"]
    assert nodes == sum(int((t.tree_.children_left >= 0).sum()) for t in old[-1].estimators_)


@pytest.mark.parametrize(
    ("step", "words"),
    [
        (HashingVectorizer(), "MurmurHash3"),
        (TfidfVectorizer(analyzer="char_wb"), "character n-grams"),
    ],
    ids=["hashing", "char_wb"],
)
def test_refused_text_steps_say_why(messages: pd.DataFrame, step: object, words: str) -> None:
    train, labels, _ = _text_sets(messages)
    pipeline = Pipeline([("text", step), ("model", SGDClassifier())])
    pipeline.fit(train["message"].tolist(), labels)
    with pytest.raises(UnsupportedStep, match=words):
        compile_pipeline(pipeline, "ml_refused")


def test_unsupported_step_lists_what_is_supported() -> None:
    from sklearn.preprocessing import PolynomialFeatures

    pipeline = make_pipeline(PolynomialFeatures(), LinearRegression()).fit(
        TRAIN[NUMERIC].fillna(0), TARGET
    )
    with pytest.raises(
        UnsupportedStep, match="PolynomialFeatures: not supported; supported: .*OneHotEncoder"
    ):
        compile_pipeline(pipeline, "ml_refused")


# --- random pipelines over random data ---

MODELS = st.sampled_from(
    [
        lambda: LogisticRegression(max_iter=300),
        lambda: LinearSVC(),
        lambda: DecisionTreeClassifier(max_depth=5, random_state=0),
        lambda: RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0),
        lambda: GradientBoostingClassifier(n_estimators=5, random_state=0),
        lambda: HistGradientBoostingClassifier(max_iter=5, random_state=0),
    ]
)
VALUES = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.just(float("nan")),
    st.sampled_from([0.0, -0.0, 1e-300, 0.1, 0.5]),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    numbers=st.lists(st.tuples(VALUES, VALUES), min_size=20, max_size=60),
    categories=st.lists(st.sampled_from(["a", "b", "c", None]), min_size=60, max_size=60),
    scored_categories=st.lists(st.sampled_from(["a", "b", "z", None]), min_size=60, max_size=60),
    scaler=st.sampled_from([StandardScaler, MinMaxScaler]),
    strategy=st.sampled_from(["mean", "median", "most_frequent", "constant"]),
    model=MODELS,
    seed=st.integers(0, 2**16),
)
def test_random_pipelines_equal_scikit_learn(
    db: psycopg.Connection, numbers, categories, scored_categories, scaler, strategy, model, seed
) -> None:
    rows = len(numbers)
    frame = pd.DataFrame(numbers, columns=["u", "v"])
    frame.insert(0, "log_entry_id", np.arange(1, rows + 1))
    frame["kind"] = pd.Series(categories[:rows], dtype=object)
    labels = np.random.default_rng(seed).choice(["x", "y", "z"], rows)
    if len(set(labels)) < 2 or frame[["u", "v"]].notna().sum().min() == 0:
        return
    prep = ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy=strategy), scaler()), ["u", "v"]),
            ("kind", OneHotEncoder(handle_unknown="ignore"), ["kind"]),
        ]
    )
    pipeline = Pipeline([("prep", prep), ("model", model())]).fit(frame, labels)
    scored = frame.copy()
    scored["kind"] = pd.Series(scored_categories[:rows], dtype=object)
    assert_exact(verify_pipeline(db, pipeline, scored), rows)


# --- the plain-SQL form ---


@pytest.mark.parametrize("kind", ["tabular", "text_forest"])
def test_compile_sql_script_runs_in_psql(
    module_db: str, db: psycopg.Connection, messages: pd.DataFrame, tmp_path, kind: str
) -> None:
    """`compile-sql` writes a script psql runs as it is; its view scores like scikit-learn."""
    if kind == "tabular":
        pipeline = Pipeline(
            [("prep", preprocess()), ("model", GradientBoostingClassifier(n_estimators=10))]
        )
        pipeline.fit(TRAIN, LEVEL)
        frame = SCORED
    else:
        train, labels, frame = _text_sets(messages)
        vectorizer = TfidfVectorizer(max_features=300, ngram_range=(1, 2))
        pipeline = Pipeline(
            [("tfidf", vectorizer), ("model", RandomForestClassifier(10, random_state=0))]
        )
        pipeline.fit(train["message"].tolist(), labels)
    path = tmp_path / "model.joblib"
    joblib.dump(pipeline, path)
    load_frame(db, f"scored_{kind}", frame.sort_values("log_entry_id"))
    script = tmp_path / "model.sql"
    code = cli.main(
        ["compile-sql", str(path), "--name", "my_model", "--batch", f"public.scored_{kind}",
         "--schema", f"byo_{kind}", "--output", str(script)]
    )  # fmt: skip
    assert code == 0
    assert "{{" not in script.read_text() and "ref(" not in script.read_text()
    subprocess.run(
        ["psql", module_db, "-q", "-v", "ON_ERROR_STOP=1", "-f", str(script)], check=True
    )
    with connect(module_db) as conn, conn.cursor() as cur:
        cur.execute(f"select * from byo_{kind}.my_model order by log_entry_id")
        names = [d.name for d in cur.description]
        got = pd.DataFrame.from_records(cur.fetchall(), columns=names)
    expected = reference(pipeline, pipeline_inputs(pipeline, frame.sort_values("log_entry_id")))
    assert_exact(compare("my_model", got, expected, {"predicted_label"}), len(frame))
