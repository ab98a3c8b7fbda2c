"""Tree classifiers (RandomForestClassifier, DecisionTreeClassifier) -> IR.

Each tree is evaluated once per row to its leaf's ordinal (an integer: an array subscript
needs no cast per tree and class; float8 ordinals cost ~5% of a 50-tree forest's time), and
each class's probability is the sum over trees, in tree order, of a constant per-leaf table
read at that ordinal: one CASE per tree instead of one per tree and class. A forest's sum is
divided by the number of trees, as scikit-learn does (m2cgen multiplies by 1/n, which can
differ in the last bit and flip an argmax between tied classes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from m2cgen import ast
from m2cgen.assemblers import TreeModelAssembler
from m2cgen.assemblers.utils import apply_op_to_expressions, lte
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

from model_export.compiler import ir

TREE_CLASSIFIERS = (RandomForestClassifier, DecisionTreeClassifier)


class _LeafOrdinals(TreeModelAssembler):
    """One tree whose leaves are their 1-based ordinals; `leaves` collects each leaf's class
    probabilities, normalised by m2cgen's assembler as predict_proba normalises them."""

    def __init__(self, tree: object, features: Sequence[ast.Expr]) -> None:
        super().__init__(tree)
        self._features = features
        self.leaves: list[tuple[float, ...]] = []

    def _assemble_leaf(self, node_id: int) -> ast.Expr:
        leaf = super()._assemble_leaf(node_id)
        values = leaf.exprs if isinstance(leaf, ast.VectorVal) else [leaf]
        self.leaves.append(tuple(float(v.value) for v in values))
        return ast.NumVal(len(self.leaves), dtype=int)

    def _assemble_cond(self, node_id: int) -> ast.Expr:
        feature = self._features[self._tree.feature[node_id]]
        return lte(feature, ast.NumVal(self._tree.threshold[node_id]))


@dataclass(frozen=True)
class TreeClassifier:
    """What a program binds for a tree classifier (leaf ordinals, then class probabilities)
    and the probabilities' names, one per class of model.classes_."""

    bindings: tuple[ir.Let, ir.Let]
    probabilities: tuple[ir.Ref, ...]


def tree_classifier(model: object, features: Sequence[ast.Expr]) -> TreeClassifier:
    """`features[j]` is what the trees' feature j reads (float32 values, as scikit-learn's
    trees compare float32(X) with float64 thresholds); binds `leaf` and `proba`."""
    if isinstance(model, RandomForestClassifier):
        trees, divisor = list(model.estimators_), float(len(model.estimators_))
    elif isinstance(model, DecisionTreeClassifier):
        trees, divisor = [model], None
    else:
        raise NotImplementedError(type(model).__name__)
    assembled = [_LeafOrdinals(tree, features) for tree in trees]
    leaves = ir.vector("leaf", [a.assemble() for a in assembled], ir.DType.INT)
    sums = []
    for k in range(len(assembled[0].leaves[0])):
        terms = [
            ir.Lookup(tuple(leaf[k] for leaf in a.leaves), ordinal)
            for a, ordinal in zip(assembled, leaves.refs(), strict=True)
        ]
        total = apply_op_to_expressions(ast.BinNumOpType.ADD, *terms)
        sums.append(
            ast.BinNumExpr(total, ast.NumVal(divisor), ast.BinNumOpType.DIV) if divisor else total
        )
    probabilities = ir.vector("proba", sums, ir.DType.FLOAT64)
    return TreeClassifier((leaves, probabilities), probabilities.refs())
