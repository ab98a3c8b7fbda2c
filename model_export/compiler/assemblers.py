"""Assemblers: fitted estimators -> m2cgen AST. m2cgen's tree assembler for each tree; an
IsolationForest assembler (m2cgen has none); tree classifiers as per-tree leaf ordinals
plus leaf probability tables. (The linear level classifier needs no AST: its weights
become a seed, see compiler.py.)"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from m2cgen import ast
from m2cgen.assemblers import TreeModelAssembler
from m2cgen.assemblers.utils import apply_op_to_expressions, lte
from sklearn.ensemble import IsolationForest, RandomForestClassifier
from sklearn.ensemble._iforest import _average_path_length  # c(n), as IsolationForest uses it
from sklearn.tree import DecisionTreeClassifier


class _IsolationTreeAssembler(TreeModelAssembler):
    """One isolation tree: each leaf is its precomputed path-length constant, each split
    reads the original column the tree's feature index maps to."""

    def __init__(self, tree: object, leaf_values: np.ndarray, features: np.ndarray) -> None:
        super().__init__(tree)
        self._leaf_values = leaf_values
        self._features = features

    def _assemble_leaf(self, node_id: int) -> ast.Expr:
        return ast.NumVal(float(self._leaf_values[node_id]))

    def _assemble_cond(self, node_id: int) -> ast.Expr:
        feature = int(self._features[self._tree.feature[node_id]])
        return lte(ast.FeatureRef(feature), ast.NumVal(float(self._tree.threshold[node_id])))


def isolation_forest_score(model: IsolationForest, n_features: int) -> ast.Expr:
    """-score_samples: 2 ** -(depth_sum / (n_trees * c(max_samples))), as sklearn computes it."""
    denominator = len(model.estimators_) * _average_path_length([model._max_samples])
    ratio = ast.BinNumExpr(
        isolation_forest_depth_sum(model, n_features),
        ast.NumVal(float(np.asarray(denominator).ravel()[0])),
        ast.BinNumOpType.DIV,
    )
    negated = ast.BinNumExpr(ratio, ast.NumVal(-1.0), ast.BinNumOpType.MUL)
    return ast.PowExpr(ast.NumVal(2.0), negated)


def isolation_forest_depth_sum(model: IsolationForest, n_features: int) -> ast.Expr:
    """The summed path length over the trees, in the order and with the per-leaf constants
    of IsolationForest._compute_score_samples: depth + c(n_node_samples) - 1 per tree."""
    subsample = model._max_features != n_features
    trees = []
    for index, (tree, features) in enumerate(
        zip(model.estimators_, model.estimators_features_, strict=True)
    ):
        leaf_values = (
            model._decision_path_lengths[index] + model._average_path_length_per_tree[index] - 1.0
        )
        mapping = np.asarray(features) if subsample else np.arange(n_features)
        trees.append(_IsolationTreeAssembler(tree, leaf_values, mapping).assemble())
    return apply_op_to_expressions(ast.BinNumOpType.ADD, *trees)


@dataclass(frozen=True)
class TreeVotes:
    """A tree classifier as `trees` that each evaluate to their leaf's ordinal (1-based int), the
    class probabilities of each tree's leaves (`leaves[t][ordinal - 1]`), and the divisor of
    the sum over trees (None for a single tree). The SQL evaluates each tree once and looks
    its leaf's probabilities up in constant arrays: one CASE per tree instead of one per
    tree and class."""

    trees: list[ast.Expr]
    leaves: list[np.ndarray]
    divisor: float | None


def _leaf_ordinals(expr: ast.Expr, leaves: list[list[float]]) -> ast.Expr:
    if isinstance(expr, ast.IfExpr):
        body = _leaf_ordinals(expr.body, leaves)
        return ast.IfExpr(expr.test, body, _leaf_ordinals(expr.orelse, leaves))
    values = expr.exprs if isinstance(expr, ast.VectorVal) else [expr]
    leaves.append([float(v.value) for v in values])
    # An integer literal: the ordinal is an array subscript, and an int needs no cast per
    # tree and class (float8 ordinals cost ~5% of a 50-tree forest's time).
    return ast.NumVal(len(leaves), dtype=int)


def _tree_votes(tree: object) -> tuple[ast.Expr, np.ndarray]:
    # m2cgen's assembler gives the tree with its leaves normalised as predict_proba does.
    leaves: list[list[float]] = []
    expr = _leaf_ordinals(TreeModelAssembler(tree).assemble(), leaves)
    return expr, np.asarray(leaves, dtype=np.float64)


def tree_votes(model: object) -> TreeVotes:
    """RandomForestClassifier (summed in tree order, divided by the number of trees, as
    scikit-learn does; m2cgen multiplies by 1/n, which can differ in the last bit and flip an
    argmax between tied classes) or a single DecisionTreeClassifier."""
    if isinstance(model, RandomForestClassifier):
        pairs = [_tree_votes(tree) for tree in model.estimators_]
        divisor: float | None = float(len(model.estimators_))
    elif isinstance(model, DecisionTreeClassifier):
        pairs, divisor = [_tree_votes(model)], None
    else:
        raise NotImplementedError(type(model).__name__)
    return TreeVotes([t for t, _ in pairs], [v for _, v in pairs], divisor)
