"""Tree models -> IR: DecisionTree, RandomForest, ExtraTrees (classifiers and regressors),
GradientBoosting and HistGradientBoosting, as scikit-learn predicts them.

Every model becomes the same shape, an `Ensemble`: trees whose leaves hold one value per
output, an optional baseline added first, and the sum of the reached leaves in tree order
(scikit-learn's order), divided by the number of trees for a forest. Two evaluations:
- over dense features (tabular): each tree a CASE giving its leaf's ordinal, once per row,
  and per output the baseline plus one constant-table lookup per tree (`ensemble_sums`);
- over a text's terms: the trees as seed tables evaluated per distinct text
  (`ir.ForestOverTerms`, QuickScorer), so a forest of any size is data, not SQL text.

Float32: scikit-learn's trees (not HistGradientBoosting's) compare float32(x) <= threshold.
`lift` turns each threshold t into the float64 t' with x <= t' exactly when
float32(x) <= t, so the SQL compares float8 values without a cast (a float4 cast of a
value beyond float4's range is an error in PostgreSQL; numpy gives inf or 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from m2cgen import ast
from m2cgen.assemblers.utils import apply_op_to_expressions, lte
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
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from model_export.compiler import ir
from model_export.compiler.assemblers import UnsupportedStep

FORESTS = (RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier, ExtraTreesRegressor)
SINGLE_TREES = (DecisionTreeClassifier, DecisionTreeRegressor)
BOOSTING = (GradientBoostingClassifier, GradientBoostingRegressor)
HIST_BOOSTING = (HistGradientBoostingClassifier, HistGradientBoostingRegressor)
TREE_MODELS = (*FORESTS, *SINGLE_TREES, *BOOSTING, *HIST_BOOSTING)

_FLOAT32_MAX_UP = np.float64(2.0**128)  # float32's next value above its largest, as a float64


def lift(threshold: float) -> float:
    """The largest float64 t' with float32(t') <= threshold, so x <= t' exactly when
    float32(x) <= threshold (float32 rounding is monotonic)."""
    t = np.float64(threshold)
    if t == np.inf:  # a split of the missing values from the rest: every number is below
        return float(t)
    with np.errstate(over="ignore"):  # beyond float32's range: inf, as numpy rounds x
        return float(_lift(t))


def _lift(t: np.float64) -> np.float64:
    below = np.float32(t)
    if np.float64(below) > t:
        below = np.nextafter(below, np.float32(-np.inf))
    above = np.nextafter(below, np.float32(np.inf))
    # an infinite neighbour stands for 2**128, where float32 rounding overflows
    lower = -_FLOAT32_MAX_UP if np.isinf(below) else np.float64(below)
    upper = _FLOAT32_MAX_UP if np.isinf(above) else np.float64(above)
    middle = (lower + upper) / 2  # exact: both are float32 values (or 2**128)
    return middle if np.float64(np.float32(middle)) <= t else np.nextafter(middle, -np.inf)


@dataclass(frozen=True)
class Tree:
    """One tree: split nodes (feature, threshold compared with <=, missing values left or
    right) and leaves holding one value per output; children -1 at a leaf."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    missing_left: np.ndarray
    values: np.ndarray  # (nodes, outputs)

    def leaves_in_order(self) -> list[int]:
        """Leaf node ids left to right (the ordinal of a leaf is its position here, from 1)."""
        order, stack = [], [0]
        while stack:
            node = stack.pop()
            if self.left[node] < 0:
                order.append(node)
            else:
                stack += [int(self.right[node]), int(self.left[node])]
        return order


@dataclass(frozen=True)
class Ensemble:
    """Output k is (baseline[k] + the reached leaves' values[k], summed in tree order) /
    divisor."""

    trees: tuple[Tree, ...]
    baseline: tuple[float, ...] | None
    divisor: float | None
    outputs: int


def _sklearn_tree(tree: object, values: np.ndarray, lifted: bool) -> Tree:
    t = tree.tree_  # type: ignore[attr-defined]
    thresholds = np.array(
        [lift(v) if lifted and f >= 0 else v for f, v in zip(t.feature, t.threshold, strict=True)]
    )
    return Tree(t.feature, thresholds, t.children_left, t.children_right,
                np.asarray(t.missing_go_to_left, dtype=bool), values)  # fmt: skip


def _class_probabilities(tree: object) -> np.ndarray:
    """Per node, the class probabilities as predict_proba normalises a leaf's value."""
    value = np.array(tree.tree_.value[:, 0, :], dtype=np.float64)  # type: ignore[attr-defined]
    normalizer = value.sum(axis=1)[:, np.newaxis]
    normalizer[normalizer == 0.0] = 1.0
    return value / normalizer


def ensemble(step: str, model: object) -> Ensemble:
    """The Ensemble of a fitted tree model (TREE_MODELS)."""
    if getattr(model, "n_outputs_", 1) != 1:
        raise UnsupportedStep(step, "multi-output trees are not supported")
    if isinstance(model, (*SINGLE_TREES, *FORESTS)):
        members = [model] if isinstance(model, SINGLE_TREES) else list(model.estimators_)
        classifier = isinstance(
            model, DecisionTreeClassifier | RandomForestClassifier | ExtraTreesClassifier
        )
        trees = tuple(
            _sklearn_tree(
                m,
                _class_probabilities(m)
                if classifier
                else m.tree_.value[:, 0, :1].astype(np.float64),
                lifted=True,
            )
            for m in members
        )
        divisor = None if isinstance(model, SINGLE_TREES) else float(len(members))
        return Ensemble(trees, None, divisor, trees[0].values.shape[1])
    if isinstance(model, BOOSTING):
        return _gradient_boosting(step, model)
    if isinstance(model, HIST_BOOSTING):
        return _hist_gradient_boosting(step, model)
    raise UnsupportedStep(step, f"{type(model).__name__} is not a tree model")


def _gradient_boosting(step: str, model: object) -> Ensemble:
    init = model.init_  # type: ignore[attr-defined]
    if init != "zero" and type(init).__name__ not in ("DummyClassifier", "DummyRegressor"):
        raise UnsupportedStep(step, "GradientBoosting with a custom init estimator")
    features = model.n_features_in_  # type: ignore[attr-defined]
    baseline = model._raw_predict_init(np.zeros((1, features), dtype=np.float32))[0]  # type: ignore[attr-defined]
    stages = model.estimators_  # type: ignore[attr-defined]
    rate = float(model.learning_rate)  # type: ignore[attr-defined]
    outputs = stages.shape[1]
    trees = []
    for stage in stages:
        for k, tree in enumerate(stage):
            # predict_stages adds learning_rate * value, one (stage, class) tree at a time
            values = np.zeros((tree.tree_.node_count, outputs))
            values[:, k] = rate * tree.tree_.value[:, 0, 0]
            trees.append(_sklearn_tree(tree, values, lifted=True))
    return Ensemble(tuple(trees), tuple(float(b) for b in baseline), None, outputs)


def _hist_gradient_boosting(step: str, model: object) -> Ensemble:
    if getattr(model, "_preprocessor", None) is not None or model.is_categorical_ is not None:  # type: ignore[attr-defined]
        raise UnsupportedStep(step, "HistGradientBoosting with categorical features")
    baseline = np.asarray(model._baseline_prediction, dtype=np.float64).ravel()  # type: ignore[attr-defined]
    outputs = len(baseline)
    trees = []
    for iteration in model._predictors:  # type: ignore[attr-defined]
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            leaf = nodes["is_leaf"].astype(bool)
            values = np.zeros((len(nodes), outputs))
            values[:, k] = nodes["value"]
            trees.append(
                Tree(
                    np.where(leaf, -2, nodes["feature_idx"].astype(np.int64)),
                    nodes["num_threshold"].astype(np.float64),  # compared in float64
                    np.where(leaf, -1, nodes["left"].astype(np.int64)),
                    np.where(leaf, -1, nodes["right"].astype(np.int64)),
                    nodes["missing_go_to_left"].astype(bool),
                    values,
                )
            )
    return Ensemble(tuple(trees), tuple(float(b) for b in baseline), None, outputs)


# --- over dense features: one CASE per tree ---


def _tree_case(tree: Tree, x: Sequence[ast.Expr], may_be_nan: Sequence[bool]) -> ast.Expr:
    ordinal = {node: k + 1 for k, node in enumerate(tree.leaves_in_order())}

    def walk(node: int) -> ast.Expr:
        if tree.left[node] < 0:
            return ast.NumVal(ordinal[node], dtype=int)
        feature = x[int(tree.feature[node])]
        test: ast.Expr = lte(feature, ast.NumVal(float(tree.threshold[node])))
        # NaN: PostgreSQL's NaN is above every number, so x <= t sends it right already;
        # a tree that sends missing values left says so in the same test (no subtree twice)
        if may_be_nan[int(tree.feature[node])] and tree.missing_left[node]:
            test = ir.Or(test, ir.IsNaN(feature))
        return ast.IfExpr(test, walk(int(tree.left[node])), walk(int(tree.right[node])))

    return walk(0)


def ensemble_sums(
    model: Ensemble, x: Sequence[ast.Expr], may_be_nan: Sequence[bool]
) -> tuple[ir.Let, list[ast.Expr]]:
    """(the Let binding each tree's leaf ordinal, per output the ensemble's value)."""
    leaves = ir.vector("leaf", [_tree_case(t, x, may_be_nan) for t in model.trees], ir.DType.INT)
    sums = []
    for k in range(model.outputs):
        terms: list[ast.Expr] = [ast.NumVal(model.baseline[k])] if model.baseline else []
        for tree, ordinal in zip(model.trees, leaves.refs(), strict=True):
            table = tuple(float(tree.values[node, k]) for node in tree.leaves_in_order())
            if any(table):  # a boosting's tree of another class adds 0.0: exactly nothing
                terms.append(ir.Lookup(table, ordinal))
        terms = terms or [ast.NumVal(0.0)]
        total = (
            apply_op_to_expressions(ast.BinNumOpType.ADD, *terms) if len(terms) > 1 else terms[0]
        )
        if model.divisor:
            total = ast.BinNumExpr(total, ast.NumVal(model.divisor), ast.BinNumOpType.DIV)
        sums.append(total)
    return leaves, sums


# --- over a text's terms: the trees as data ---


def forest_seeds(model: Ensemble, prefix: str) -> tuple[ir.Seed, ir.Seed, int]:
    """(nodes, leaves, leaf stride) of ir.ForestOverTerms; a baseline is tree 0, one leaf
    and no split."""
    orders = [tree.leaves_in_order() for tree in model.trees]
    stride = 1 + max(len(order) for order in orders)
    node_rows, leaf_rows = [], []
    first = 0
    if model.baseline is not None:
        leaf_rows.append((1, 0, *model.baseline))  # tree 0, leaf 1
        first = 1
    for number, (tree, order) in enumerate(zip(model.trees, orders, strict=True), start=first):
        position = {node: k + 1 for k, node in enumerate(order)}
        for node in order:
            values = (float(v) for v in tree.values[node])
            leaf_rows.append((number * stride + position[node], number, *values))
        for node in range(len(tree.feature)):
            if tree.left[node] < 0:
                continue
            mask = ["1"] * len(order)
            for leaf in _leaves_under(tree, int(tree.left[node])):
                mask[position[leaf] - 1] = "0"
            node_rows.append(
                (int(tree.feature[node]), float(tree.threshold[node]), number, "".join(mask))
            )
    node_rows.sort(key=lambda row: (row[0], row[1], row[2]))
    nodes = ir.Seed(
        f"{prefix}_nodes",
        (("feature_index", ir.DType.INT), ("threshold", ir.DType.FLOAT64),
         ("tree", ir.DType.INT), ("mask", ir.DType.BITS)),
        tuple(node_rows),
    )  # fmt: skip
    leaves = ir.Seed(
        f"{prefix}_leaves",
        (("leaf_id", ir.DType.INT), ("tree", ir.DType.INT),
         *((f"value_{k}", ir.DType.FLOAT64) for k in range(model.outputs))),
        tuple(leaf_rows),
    )  # fmt: skip
    return nodes, leaves, stride


def _leaves_under(tree: Tree, node: int) -> list[int]:
    found, stack = [], [node]
    while stack:
        current = stack.pop()
        if tree.left[current] < 0:
            found.append(current)
        else:
            stack += [int(tree.left[current]), int(tree.right[current])]
    return found
