"""LogisticRegression -> IR, over per-row dot products the caller binds (for text: sums over
a vocabulary seed, not a 20,000-term expression).

Decisions intercept_k + x . coef_k; the label as predict computes it (the first argmax of
the decisions; binary: d > 0); the probabilities as predict_proba computes them (softmax:
subtract the largest decision, exp, normalise; binary: expit); the confidence is the
probability of the predicted label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from m2cgen import ast
from m2cgen.assemblers.utils import add, apply_op_to_expressions, div, gt, sub
from sklearn.linear_model import LogisticRegression

from model_export.compiler import ir


@dataclass(frozen=True)
class LinearClassifier:
    """What a program binds (decisions, then the steps to the probabilities), and the label
    and confidence over them."""

    bindings: tuple[ir.Let, ...]
    label: ast.Expr
    confidence: ast.Expr


def logistic_regression(model: LogisticRegression, dots: Sequence[ast.Expr]) -> LinearClassifier:
    """`dots[k]` is x . coef_[k] for the row (0 for a row without features)."""
    intercepts = np.asarray(model.intercept_, dtype=np.float64)
    if len(dots) != len(intercepts):
        raise ValueError(f"{len(intercepts)} coefficient rows, {len(dots)} dot products")
    decisions = ir.vector(
        "decision",
        [add(dot, ast.NumVal(b)) for dot, b in zip(dots, intercepts, strict=True)],
        ir.DType.FLOAT64,
    )
    d = decisions.refs()
    classes = tuple(ir.Text(str(c)) for c in model.classes_)
    if len(d) == 1:
        # Binary: expit(d) is the second class's probability, 1 - expit(d) the first's.
        expit = ir.vector("expit", [ast.SigmoidExpr(d[0])], ir.DType.FLOAT64)
        positive, p = gt(d[0], ast.NumVal(0.0)), expit.refs()[0]
        return LinearClassifier(
            (decisions, expit),
            ast.IfExpr(positive, classes[1], classes[0]),
            ast.IfExpr(positive, p, sub(ast.NumVal(1.0), p)),
        )
    largest = ir.vector("largest", [ir.Max(d)], ir.DType.FLOAT64)
    exps = ir.vector(
        "exps", [ast.ExpExpr(sub(dk, largest.refs()[0])) for dk in d], ir.DType.FLOAT64
    )
    total = apply_op_to_expressions(ast.BinNumOpType.ADD, *exps.refs())
    softmax = ir.vector("softmax", [div(e, total) for e in exps.refs()], ir.DType.FLOAT64)
    return LinearClassifier(
        (decisions, largest, exps, softmax),
        ir.Argmax(d, classes),
        ir.Argmax(d, softmax.refs()),
    )
