"""The PostgreSQL interpreter of m2cgen's AST (scalar expressions).

Another SQL dialect is another interpreter of the same AST. Exactness rules of this one:
every literal is float8 (a bare 0.5 would be numeric: slower and not IEEE), printed with
repr() so text -> float8 round-trips. Comparisons are tree splits, and scikit-learn's trees
compare float32(X) with a float64 threshold: callers pass float4 feature columns (cast once
per row, not once per split) and PostgreSQL promotes float4 to float8 exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from m2cgen import ast

_COMPARISONS = {
    ast.CompOpType.GT: ">",
    ast.CompOpType.GTE: ">=",
    ast.CompOpType.LT: "<",
    ast.CompOpType.LTE: "<=",
    ast.CompOpType.EQ: "=",
    ast.CompOpType.NOT_EQ: "<>",
}


def float_literal(value: float) -> str:
    """A float8 literal that PostgreSQL reads back as exactly `value`."""
    value = float(value)
    if math.isnan(value):
        return "'NaN'::float8"
    if math.isinf(value):
        return "'Infinity'::float8" if value > 0 else "'-Infinity'::float8"
    return f"{value!r}::float8" if value >= 0 else f"({value!r})::float8"


class PostgresInterpreter:
    """Renders scalar AST nodes; FeatureRef(i) becomes the SQL expression `features[i]`
    (float4 columns for trees)."""

    def __init__(self, features: Sequence[str]) -> None:
        self.features = list(features)

    def render(self, expr: ast.Expr) -> str:
        method = getattr(self, f"_{type(expr).__name__}", None)
        if method is None:
            raise NotImplementedError(f"AST node {type(expr).__name__} has no SQL form")
        return method(expr)

    def _NumVal(self, expr: ast.NumVal) -> str:
        # Integers (a tree's leaf ordinal) stay integer literals; every other number is float8.
        if isinstance(expr.value, int):
            return str(expr.value)
        return float_literal(expr.value)

    def _FeatureRef(self, expr: ast.FeatureRef) -> str:
        return self.features[expr.index]

    def _BinNumExpr(self, expr: ast.BinNumExpr) -> str:
        # A left-deep chain of additions (a forest's sum over trees) is written flat:
        # PostgreSQL adds left to right, the order scikit-learn accumulates in.
        if expr.op is ast.BinNumOpType.ADD and _is_add(expr.left):
            return f"{self.render(expr.left)[:-1]}\n    + {self.render(expr.right)})"
        return f"({self.render(expr.left)} {expr.op.value} {self.render(expr.right)})"

    def _CompExpr(self, expr: ast.CompExpr) -> str:
        return f"{self.render(expr.left)} {_COMPARISONS[expr.op]} {self.render(expr.right)}"

    def _IfExpr(self, expr: ast.IfExpr) -> str:
        return (
            f"case when {self.render(expr.test)} then {self.render(expr.body)}"
            f" else {self.render(expr.orelse)} end"
        )

    def _PowExpr(self, expr: ast.PowExpr) -> str:
        return f"power({self.render(expr.base_expr)}, {self.render(expr.exp_expr)})"


def _is_add(expr: ast.Expr) -> bool:
    return isinstance(expr, ast.BinNumExpr) and expr.op is ast.BinNumOpType.ADD
