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
from m2cgen.assemblers.utils import add, apply_op_to_expressions, div, eq, gt, mul, sub
from sklearn.linear_model import LogisticRegression

from model_export.compiler import ir


@dataclass(frozen=True)
class LinearClassifier:
    """What a program binds (decisions, then the steps to the probabilities), and the label
    and confidence over them."""

    bindings: tuple[ir.Let, ...]
    label: ast.Expr
    confidence: ast.Expr
    probabilities: tuple[ast.Expr, ...] = ()  # one per class of model.classes_


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
            (sub(ast.NumVal(1.0), p), p),
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
        softmax.refs(),
    )


def top_terms(
    model: LogisticRegression, decisions: ir.Let, tokens: ir.Tokens, vocabulary: ir.Seed
) -> tuple[tuple[ir.Binding, ...], ast.Expr]:
    """The evidence for the predicted class p over the runner-up q (the most probable other
    class): the terms t with the largest x_t * (w_p,t - w_q,t), the exact log-odds each adds
    to p against q, as "terms a, b, c (against q)". Bindings (after `decisions`: the
    weight columns w_k of `vocabulary`) and the text."""
    d = decisions.refs()
    classes = [str(c) for c in model.classes_]
    if len(d) == 1:  # binary: one weight column, for the second class against the first
        positive = gt(d[0], ast.NumVal(0.0))
        weight: ast.Expr = ast.IfExpr(positive, ir.Ref("w_0"), mul(ast.NumVal(-1.0), ir.Ref("w_0")))
        runner_up: ast.Expr = ast.IfExpr(positive, ir.Text(classes[0]), ir.Text(classes[1]))
        bindings: tuple[ir.Binding, ...] = ()
    else:
        indexes = tuple(ast.NumVal(k, dtype=int) for k in range(len(d)))
        first = ir.vector("winner", [ir.Argmax(d, indexes)], ir.DType.INT)
        p = first.refs()[0]
        # the runner-up: the first largest decision among the other classes
        others = ir.vector(
            "others",
            [
                ast.IfExpr(eq(p, ast.NumVal(k, dtype=int)), ast.NumVal(float("-inf")), dk)
                for k, dk in enumerate(d)
            ],
            ir.DType.FLOAT64,
        )
        second = ir.vector("runner_up", [ir.Argmax(others.refs(), indexes)], ir.DType.INT)
        q = second.refs()[0]

        def column(index: ast.Expr) -> ast.Expr:
            picked: ast.Expr = ir.Ref(f"w_{len(d) - 1}")
            for k in reversed(range(len(d) - 1)):
                picked = ast.IfExpr(eq(index, ast.NumVal(k, dtype=int)), ir.Ref(f"w_{k}"), picked)
            return picked

        weight = sub(column(p), column(q))
        runner_up = ir.Argmax(others.refs(), tuple(ir.Text(c) for c in classes))
        bindings = (first, others, second)
    terms = ir.TopTerms("top_terms", tokens, vocabulary, weight)
    found = ir.Ref("top_terms")
    text = ast.IfExpr(
        eq(found, ir.Text("")),
        ir.Concat((ir.Text("no known term for it (against "), runner_up, ir.Text(")"))),
        ir.Concat((ir.Text("terms "), found, ir.Text(" (against "), runner_up, ir.Text(")"))),
    )
    return (*bindings, terms), text
