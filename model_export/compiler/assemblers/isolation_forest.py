"""IsolationForest -> IR (m2cgen has no assembler for it): the anomaly score -score_samples,
with the per-leaf constants and the order of scikit-learn's _compute_score_samples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from m2cgen import ast
from m2cgen.assemblers import TreeModelAssembler
from m2cgen.assemblers.utils import apply_op_to_expressions, lte
from sklearn.ensemble import IsolationForest
from sklearn.ensemble._iforest import _average_path_length  # c(n), as IsolationForest uses it


class _IsolationTree(TreeModelAssembler):
    """One isolation tree: each leaf is its path-length constant, each split reads the
    original feature that the tree's feature index maps to."""

    def __init__(self, tree: object, leaf_values: np.ndarray, features: Sequence[ast.Expr]) -> None:
        super().__init__(tree)
        self._leaf_values = leaf_values
        self._features = features

    def _assemble_leaf(self, node_id: int) -> ast.Expr:
        return ast.NumVal(float(self._leaf_values[node_id]))

    def _assemble_cond(self, node_id: int) -> ast.Expr:
        feature = self._features[self._tree.feature[node_id]]
        return lte(feature, ast.NumVal(float(self._tree.threshold[node_id])))


def path_length_sum(model: IsolationForest, features: Sequence[ast.Expr]) -> ast.Expr:
    """The path lengths summed over the trees in tree order, each leaf's constant
    depth + c(n_node_samples) - 1 computed as _compute_score_samples computes it. A tree
    reads its own feature subset only when features are subsampled (as scikit-learn does)."""
    subsample = model._max_features != len(features)
    trees = []
    for index, (tree, subset) in enumerate(
        zip(model.estimators_, model.estimators_features_, strict=True)
    ):
        leaf_values = (
            model._decision_path_lengths[index] + model._average_path_length_per_tree[index] - 1.0
        )
        mapped = [features[int(j)] for j in subset] if subsample else features
        trees.append(_IsolationTree(tree, leaf_values, mapped).assemble())
    return apply_op_to_expressions(ast.BinNumOpType.ADD, *trees)


def anomaly_score(model: IsolationForest, features: Sequence[ast.Expr]) -> ast.Expr:
    """-score_samples = 2 ** -(path length sum / (n_trees * c(max_samples))); `features[j]`
    is what feature j reads (float32 values, as the trees compare them)."""
    denominator = len(model.estimators_) * _average_path_length([model._max_samples])
    ratio = ast.BinNumExpr(
        path_length_sum(model, features),
        ast.NumVal(float(np.asarray(denominator).ravel()[0])),
        ast.BinNumOpType.DIV,
    )
    negated = ast.BinNumExpr(ratio, ast.NumVal(-1.0), ast.BinNumOpType.MUL)
    return ast.PowExpr(ast.NumVal(2.0), negated)
