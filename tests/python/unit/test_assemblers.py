"""Assemblers: fitted estimators -> the intermediate form, without a database.

The IR is checked against the estimator's own internals (thresholds, leaf values, path-length
constants, coefficients) and evaluated here with numpy, node by node, which must give what
scikit-learn gives, bit for bit where both compute the same operations in the same order."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from m2cgen import ast
from sklearn.ensemble import IsolationForest, RandomForestClassifier
from sklearn.ensemble._iforest import _average_path_length
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from model_export.compiler import ir
from model_export.compiler.assemblers import UnsupportedStep, isolation_forest, linear, text, trees
from model_export.compiler.pipeline import pipeline_program
from model_export.compiler.scorer import scorer_program
from model_export.lifecycle import versions
from model_export.training import pipelines
from model_export.training.features import FEATURE_NAMES

_BINARY = {
    ast.BinNumOpType.ADD: np.add,
    ast.BinNumOpType.SUB: np.subtract,
    ast.BinNumOpType.MUL: np.multiply,
    ast.BinNumOpType.DIV: np.divide,
}
_COMPARE = {
    ast.CompOpType.GT: np.greater,
    ast.CompOpType.GTE: np.greater_equal,
    ast.CompOpType.LT: np.less,
    ast.CompOpType.LTE: np.less_equal,
    ast.CompOpType.EQ: np.equal,
}


def evaluate(expr: ast.Expr, env: dict[str, np.ndarray]) -> np.ndarray:
    """The IR's meaning, one numpy operation per node, over all rows at once."""
    if isinstance(expr, ast.NumVal | ir.Text | ir.Bool):
        return np.asarray(expr.value)
    if isinstance(expr, ir.Ref):
        return env[expr.name]
    if isinstance(expr, ast.BinNumExpr):
        return _BINARY[expr.op](evaluate(expr.left, env), evaluate(expr.right, env))
    if isinstance(expr, ast.CompExpr):
        return _COMPARE[expr.op](evaluate(expr.left, env), evaluate(expr.right, env))
    if isinstance(expr, ast.IfExpr):
        test = evaluate(expr.test, env)
        return np.where(test, evaluate(expr.body, env), evaluate(expr.orelse, env))
    if isinstance(expr, ast.PowExpr):
        return np.power(evaluate(expr.base_expr, env), evaluate(expr.exp_expr, env))
    if isinstance(expr, ast.ExpExpr):
        return np.exp(evaluate(expr.expr, env))
    if isinstance(expr, ast.SigmoidExpr):
        return 1.0 / (1.0 + np.exp(-evaluate(expr.expr, env)))
    if isinstance(expr, ir.Float32):
        return evaluate(expr.expr, env).astype(np.float32)
    if isinstance(expr, ir.Max):
        return np.maximum.reduce([evaluate(e, env) for e in expr.exprs])
    if isinstance(expr, ir.Argmax):
        first = np.argmax(np.stack([evaluate(s, env) for s in expr.scores]), axis=0)
        values = np.stack([np.broadcast_to(evaluate(v, env), first.shape) for v in expr.values])
        return np.take_along_axis(values, first[np.newaxis], axis=0)[0]
    if isinstance(expr, ir.Lookup):
        return np.asarray(expr.table)[evaluate(expr.index, env) - 1]
    raise NotImplementedError(type(expr).__name__)


def bind(lets: tuple[ir.Binding, ...], env: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    env = dict(env)
    for let in lets:
        assert isinstance(let, ir.Let)
        env.update({name: evaluate(expr, env) for name, expr in let.columns})
    return env


def preorder(expr: ast.Expr, kind: type) -> list[ast.Expr]:
    """Nodes of `kind` in the order m2cgen's tree assembler visits a tree (node, left, right),
    which is scikit-learn's node numbering."""
    found = [expr] if isinstance(expr, kind) else []
    for child in ir.children(expr):
        found += preorder(child, kind)
    return found


@pytest.fixture(scope="module")
def dense() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 0.8)
    return x, y


def float32_env(x: np.ndarray) -> dict[str, np.ndarray]:
    return {f"x_{j}": x[:, j].astype(np.float32) for j in range(x.shape[1])}


FEATURES = [ir.Ref(f"x_{j}") for j in range(4)]


def test_tree_leaves_are_ordinals_with_the_normalised_leaf_values(dense) -> None:
    x, y = dense
    model = DecisionTreeClassifier(max_depth=4, random_state=0).fit(x, y)
    votes = trees.tree_classifier(model, FEATURES)
    leaf, proba = votes.bindings
    assert leaf.dtype is ir.DType.INT and proba.names() == ("proba_0", "proba_1", "proba_2")
    tree = model.tree_
    internal = tree.children_left != -1
    conditions = preorder(leaf.columns[0][1], ast.CompExpr)
    assert [c.op for c in conditions] == [ast.CompOpType.LTE] * int(internal.sum())
    assert [c.right.value for c in conditions] == list(tree.threshold[internal])
    assert [c.left.name for c in conditions] == [f"x_{j}" for j in tree.feature[internal]]
    ordinals = [
        v.value for v in preorder(leaf.columns[0][1], ast.NumVal) if isinstance(v.value, int)
    ]
    assert ordinals == list(range(1, int((~internal).sum()) + 1))
    values = tree.value[~internal, 0, :]
    for k, (_, lookup) in enumerate(proba.columns):
        assert lookup == ir.Lookup(tuple(values[:, k] / values.sum(axis=1)), ir.Ref("leaf_0"))
    env = bind(votes.bindings, float32_env(x))
    got = np.column_stack([env[n] for n in proba.names()])
    np.testing.assert_array_equal(got, model.predict_proba(x))


def test_forest_probabilities_are_summed_in_tree_order_then_divided(dense) -> None:
    x, y = dense
    model = RandomForestClassifier(n_estimators=7, max_depth=5, random_state=0).fit(x, y)
    votes = trees.tree_classifier(model, FEATURES)
    leaf, proba = votes.bindings
    assert leaf.names() == tuple(f"leaf_{t}" for t in range(7))
    first = proba.columns[0][1]
    assert first.op is ast.BinNumOpType.DIV and first.right == ast.NumVal(7.0)
    lookups = preorder(first.left, ir.Lookup)
    assert [lookup.index for lookup in lookups] == list(leaf.refs())
    env = bind(votes.bindings, float32_env(x))
    got = np.column_stack([env[n] for n in proba.names()])
    np.testing.assert_array_equal(got, model.predict_proba(x))


@pytest.mark.parametrize("max_features", [1.0, 0.5])
def test_isolation_forest_path_lengths_are_sklearn_s(dense, max_features: float) -> None:
    x, _ = dense
    model = IsolationForest(n_estimators=20, max_features=max_features, random_state=0).fit(x)
    score = isolation_forest.anomaly_score(model, FEATURES)
    assert isinstance(score, ast.PowExpr) and score.base_expr == ast.NumVal(2.0)
    ratio = score.exp_expr.left
    denominator = 20 * _average_path_length([model._max_samples])[0]
    assert ratio.op is ast.BinNumOpType.DIV and ratio.right == ast.NumVal(denominator)
    read = {c.left.name for c in preorder(ratio.left, ast.CompExpr)}
    if max_features < 1.0:  # each tree reads the original columns of its feature subset
        mapped = {f"x_{j}" for f in model.estimators_features_ for j in f}
        assert read <= mapped
    np.testing.assert_array_equal(evaluate(score, float32_env(x)), -model.score_samples(x))


def test_isolation_forest_leaf_constants_follow_node_order(dense) -> None:
    x, _ = dense
    model = IsolationForest(n_estimators=1, random_state=0).fit(x)
    tree_expr = isolation_forest.path_length_sum(model, FEATURES)
    tree = model.estimators_[0].tree_
    leaves = tree.children_left == -1
    constants = model._decision_path_lengths[0] + model._average_path_length_per_tree[0] - 1.0
    thresholds = [c.right.value for c in preorder(tree_expr, ast.CompExpr)]
    assert thresholds == list(tree.threshold[~leaves])
    leaf_values = [n.value for n in _leaves_in_order(tree_expr)]
    assert leaf_values == list(constants[leaves])


def _leaves_in_order(expr: ast.Expr) -> list[ast.NumVal]:
    if isinstance(expr, ast.IfExpr):
        return _leaves_in_order(expr.body) + _leaves_in_order(expr.orelse)
    return [expr]


def logistic_env(model: LogisticRegression, x: np.ndarray) -> tuple[dict, list[ir.Ref]]:
    dots = x @ np.asarray(model.coef_).T
    names = [f"dot_{k}" for k in range(dots.shape[1])]
    return {n: dots[:, k] for k, n in enumerate(names)}, [ir.Ref(n) for n in names]


def test_multinomial_logistic_regression_is_sklearn_s_decisions_and_softmax(dense) -> None:
    x, y = dense
    model = LogisticRegression(max_iter=1000).fit(x, np.array(["DEBUG", "ERROR", "INFO"])[y])
    env, dots = logistic_env(model, x)
    assembled = linear.logistic_regression(model, dots)
    names = [b.name for b in assembled.bindings]
    assert names == ["decision", "largest", "exps", "softmax"]
    intercepts = [e.right.value for _, e in assembled.bindings[0].columns]
    assert intercepts == list(model.intercept_)
    env = bind(assembled.bindings, env)
    decisions = np.column_stack([env[f"decision_{k}"] for k in range(3)])
    np.testing.assert_array_equal(decisions, model.decision_function(x))
    proba = np.column_stack([env[f"softmax_{k}"] for k in range(3)])
    np.testing.assert_allclose(proba, model.predict_proba(x), rtol=0, atol=1e-15)
    labels = evaluate(assembled.label, env)
    np.testing.assert_array_equal(labels, model.predict(x))
    expected = proba[np.arange(len(x)), np.searchsorted(model.classes_, labels)]
    np.testing.assert_array_equal(evaluate(assembled.confidence, env), expected)


def test_binary_logistic_regression_is_expit_and_a_sign(dense) -> None:
    x, y = dense
    model = LogisticRegression().fit(x, y > 0)
    env, dots = logistic_env(model, x)
    assembled = linear.logistic_regression(model, dots)
    assert [b.name for b in assembled.bindings] == ["decision", "expit"]
    env = bind(assembled.bindings, env)
    np.testing.assert_allclose(env["expit_0"], model.predict_proba(x)[:, 1], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(evaluate(assembled.label, env), model.predict(x).astype(str))
    proba = model.predict_proba(x)
    expected = proba[np.arange(len(x)), model.predict(x).astype(int)]
    np.testing.assert_allclose(evaluate(assembled.confidence, env), expected, rtol=0, atol=1e-15)


TEXTS = ["disk 3 failed", "disk ok", "user 42 logged in", "user 7 failed login", "all ok"] * 4


def test_vectorizers_become_tokens_and_term_sums() -> None:
    messages = pd.DataFrame({"message": TEXTS}).message
    level = pipelines.level_classifier(seed=1)[1].fit(messages)
    read = text.read_vectorizer("tfidf", level)
    assert read.log_tokenizer and read.tf is ir.Tf.RAW and read.norm is None
    # The default leaves the digit mask's token out (a stop word): the seed has no NUM row.
    assert "NUM" not in read.terms
    before = pipelines.level_classifier(1, pipelines.LEVEL_CANDIDATES[-1])[1].fit(messages)
    assert text.read_vectorizer("tfidf", before).norm is ir.Norm.L1
    assert "NUM" in before.vocabulary_
    assert read.terms == tuple(sorted(level.vocabulary_, key=level.vocabulary_.get))
    np.testing.assert_array_equal(read.idf, level.idf_)
    message = ir.Ref("message")
    tokens = ir.Tokens(ir.LogTemplate(message), ir.Analyzer.TEMPLATE)
    assert text.message_tokens(read, message) == tokens

    counts = text.read_vectorizer("count", CountVectorizer(binary=True).fit(TEXTS))
    assert counts.tf is ir.Tf.BINARY and counts.norm is None and set(counts.idf) == {1.0}
    assert text.message_tokens(counts, message) == ir.Tokens(message, ir.Analyzer.DEFAULT, True)
    sublinear = TfidfVectorizer(sublinear_tf=True, lowercase=False).fit(TEXTS)
    read = text.read_vectorizer("tfidf", sublinear)
    assert read.tf is ir.Tf.SUBLINEAR and read.norm is ir.Norm.L2 and not read.lowercase

    seed = text.vocabulary_seed("vocabulary", read, {"w_0": np.arange(len(read.terms)) / 2})
    assert seed.column_names() == ("term", "feature_index", "idf", "w_0")
    assert seed.rows[1] == (read.terms[1], 1, float(read.idf[1]), 0.5)


@pytest.mark.parametrize(
    ("vectorizer", "reason"),
    [
        (TfidfVectorizer(preprocessor=str.upper), "preprocessor is not supported"),
        (TfidfVectorizer(analyzer="char"), "analyzer='char': character n-grams are not compiled"),
        (TfidfVectorizer(token_pattern=r"\w+"), "only the default token_pattern"),
        (StandardScaler(), "StandardScaler is not a supported vectorizer"),
    ],
)
def test_vectorizer_settings_that_would_not_be_exact_are_rejected(vectorizer, reason) -> None:
    with pytest.raises(UnsupportedStep, match=re.escape(f"step 'terms': {reason}")):
        text.read_vectorizer("terms", vectorizer)


def log_frame(rows: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "message": [TEXTS[i % len(TEXTS)] for i in range(rows)],
            "level": rng.choice(["INFO", "ERROR", "WARN", None], size=rows),
            "http_status": rng.choice([200.0, 500.0, np.nan], size=rows),
            "response_time_ms": rng.uniform(0, 900, size=rows),
            "is_anomaly_label": rng.random(rows) < 0.3,
        }
    )


def test_the_scorer_memoizes_the_level_classifier_by_template() -> None:
    frame = log_frame()
    level = pipelines.level_classifier(seed=1).fit(frame, frame["level"].fillna("INFO"))
    detector = pipelines.isolation_forest(seed=1).fit(frame)
    program = scorer_program(level, detector, versions.scorer_names("v9"))
    assert isinstance(program.source, ir.LogFeatureRows) and program.source.with_template
    x, score, memoized = program.bindings
    assert x.columns == tuple(
        (f"x_{j}", ir.Float32(ir.Ref(n))) for j, n in enumerate(FEATURE_NAMES)
    )
    assert isinstance(memoized, ir.Memoized) and memoized.key == ir.Ref("template")
    sums = memoized.program.bindings[0]
    assert sums.tokens == ir.Tokens(ir.Ref("template"), ir.Analyzer.TEMPLATE)
    assert [s.name for s in program.seeds()] == [
        "ml_template_frequency_v9",
        "ml_level_classifier_vocabulary_v9",
    ]
    assert program.output_names() == (
        "log_entry_id",
        "predicted_level",
        "level_confidence",
        "level_explanation",
        "is_anomaly",
        "anomaly_score",
        "anomaly_confidence",
        "anomaly_explanation",
        "template_hash",
        "template_lines",
        "service_lines",
    )
    other_tokens = Pipeline([("terms", CountVectorizer()), ("clf", LogisticRegression())])
    other_tokens.fit(TEXTS, ["a", "b", "a", "b", "a"] * 4)
    with pytest.raises(UnsupportedStep, match="needs model_export's tokenizer"):
        scorer_program(other_tokens, detector, versions.scorer_names("v9"))


def test_a_tree_classifier_over_text_is_data_evaluated_per_distinct_vector() -> None:
    labels = ["ERROR", "INFO", "INFO", "WARN", "INFO"] * 4
    old = Pipeline(
        [("tfidf", TfidfVectorizer()), ("clf", DecisionTreeClassifier(max_depth=2))]
    ).fit(TEXTS, labels)
    program = pipeline_program(old, "ml_old")
    terms, model = program.bindings
    assert isinstance(terms, ir.Memoized) and terms.key == ir.Ref("message")
    assert isinstance(model, ir.Memoized) and model.key == ir.Ref("terms")
    forest = model.program.bindings[0]
    assert isinstance(forest, ir.ForestOverTerms)
    tree = old[-1].tree_
    splits = tree.children_left != -1
    assert sorted(row[0] for row in forest.nodes.rows) == sorted(tree.feature[splits])
    assert len(forest.leaves.rows) == int((~splits).sum())


def test_pipelines_with_an_unsupported_step_are_rejected_by_name() -> None:
    squared = Pipeline([("square", PolynomialFeatures()), ("model", LogisticRegression())])
    squared.fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    with pytest.raises(UnsupportedStep, match="step 'square'.*PolynomialFeatures.*supported: "):
        pipeline_program(squared, "ml_user")
    frame = log_frame()
    detector = pipelines.isolation_forest(seed=1).fit(frame)
    detector.steps[-1] = ("svm", StandardScaler())
    with pytest.raises(UnsupportedStep, match="step 'svm'.*not a supported detector"):
        pipeline_program(detector, "ml_user")
