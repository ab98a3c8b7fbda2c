"""Bring-your-own assemblers without a database: the float32 threshold lift, the QuickScorer
masks of text forests evaluated in numpy against scikit-learn's own tree walk, the supported
steps table, and compile-sql's refusals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline

from model_export import cli
from model_export.compiler import supported
from model_export.compiler.assemblers import ensembles

FLOATS = st.floats(allow_nan=False, width=64)


@given(threshold=FLOATS, x=FLOATS)
def test_lifted_threshold_compares_like_float32(threshold: float, x: float) -> None:
    with np.errstate(over="ignore"):
        # in float64, as scikit-learn's trees compare (numpy 2 would round a Python float
        # threshold to float32 in a comparison with a float32)
        expected = np.float64(np.float32(x)) <= threshold
    assert (x <= ensembles.lift(threshold)) == expected


@given(threshold=st.floats(-1e6, 1e6, width=32))
def test_lift_at_float32_values_and_their_neighbours(threshold: float) -> None:
    t = float(threshold)
    lifted = ensembles.lift(t)
    assert np.float64(np.float32(lifted)) <= t
    assert np.float64(np.float32(np.nextafter(lifted, np.inf))) > t


MESSAGES = [
    "disk failure on node 7",
    "user login ok",
    "connection reset by peer",
    "disk quota exceeded for user",
    "login failed for user admin",
    "node 7 rebooted after failure",
    "ok ok ok",
    "request served in 12 ms",
] * 5
LEVELS = ["ERROR", "INFO", "WARN", "WARN", "ERROR", "ERROR", "INFO", "INFO"] * 5


def _quickscorer_leaves(model: ensembles.Ensemble, x: np.ndarray) -> list[np.ndarray]:
    """Per tree the exit leaf's values, found from forest_seeds' rows as the SQL finds them:
    the AND of the masks of the splits x goes right at, its first 1 (leaf 1 without any)."""
    nodes, leaves, stride = ensembles.forest_seeds(model, "t")
    values = {int(row[0]): np.array(row[2:], dtype=np.float64) for row in leaves.rows}  # type: ignore[call-overload]
    trees = 1 + max(int(row[1]) for row in leaves.rows)  # type: ignore[call-overload]
    masks: dict[int, str] = {}
    for feature, threshold, tree, mask in nodes.rows:
        if x[int(feature)] > float(threshold):  # type: ignore[call-overload, arg-type]
            old = masks.get(int(tree), "1" * len(str(mask)))  # type: ignore[call-overload]
            masks[int(tree)] = "".join(  # type: ignore[call-overload]
                "1" if a == b == "1" else "0" for a, b in zip(old, str(mask), strict=True)
            )
    return [
        values[tree * stride + (masks[tree].index("1") + 1 if tree in masks else 1)]
        for tree in range(trees)
    ]


@pytest.mark.parametrize(
    "model",
    [
        RandomForestClassifier(n_estimators=7, random_state=0),
        GradientBoostingClassifier(n_estimators=5, random_state=0),
    ],
    ids=["forest", "boosting"],
)
def test_quickscorer_masks_find_scikit_learns_leaves(model: Any) -> None:
    pipeline = Pipeline([("tfidf", TfidfVectorizer()), ("model", model)]).fit(MESSAGES, LEVELS)
    x = pipeline[0].transform(MESSAGES + ["unseen words only", "disk disk user"]).toarray()
    found = ensembles.ensemble("model", model)
    for row in x:
        row32 = row.astype(np.float32)
        sums = np.sum(_quickscorer_leaves(found, row), axis=0)
        if isinstance(model, RandomForestClassifier):
            expected = model.predict_proba(row32.reshape(1, -1))[0]
            np.testing.assert_allclose(sums / found.divisor, expected, rtol=0, atol=1e-12)
        else:
            expected = model.decision_function(row32.reshape(1, -1))[0]
            np.testing.assert_allclose(sums, expected, rtol=0, atol=1e-12)


def test_every_supported_name_is_a_class_the_compiler_knows() -> None:
    import sklearn.compose
    import sklearn.ensemble
    import sklearn.feature_extraction.text
    import sklearn.impute
    import sklearn.linear_model
    import sklearn.multiclass
    import sklearn.naive_bayes
    import sklearn.preprocessing
    import sklearn.svm
    import sklearn.tree

    modules = [
        sklearn.compose, sklearn.ensemble, sklearn.feature_extraction.text, sklearn.impute,
        sklearn.linear_model, sklearn.multiclass, sklearn.naive_bayes, sklearn.preprocessing,
        sklearn.svm, sklearn.tree,
    ]  # fmt: skip
    for name in supported.supported_names():
        if name in ("passthrough", "drop"):
            continue
        assert any(hasattr(m, name) for m in modules), name


@pytest.mark.parametrize("name", ["my-model", "My_Model", "9lives", "a b"])
def test_compile_sql_refuses_names_sql_cannot_use(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["compile-sql", "model.joblib", "--name", name])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "cannot name a SQL macro" in error and "Traceback" not in error


def test_compile_sql_missing_file(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["compile-sql", str(tmp_path / "none.joblib"), "--name", "my_model"])
    assert code == 1
    error = capsys.readouterr().err
    assert "no such file" in error and "Traceback" not in error


def test_compile_sql_refuses_an_unsupported_step_in_one_line(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    import joblib
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures

    path = tmp_path / "poly.joblib"
    joblib.dump(
        make_pipeline(PolynomialFeatures(), LinearRegression()).fit([[0.0], [1.0]], [0, 1]), path
    )
    assert cli.main(["compile-sql", str(path), "--name", "poly"]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: cannot compile {path}: step 'polynomialfeatures'")
    assert "PolynomialFeatures: not supported; supported:" in error and "Traceback" not in error
