"""Final estimators -> IR, given what they read per row: the linear family and naive Bayes
(over per-class dot products the caller binds: a sum over a vocabulary seed for text, an
expression for dense features) and the tree models' sums (`ensembles`). A `Head` is what a
program binds and the outputs over it, as predict / predict_proba / decision_function
compute them:

- LogisticRegression: binary expit, multinomial softmax (`linear.logistic_regression`);
  OneVsRestClassifier: each binary estimator's positive probability, normalised by their sum;
- LinearSVC, RidgeClassifier, SGDClassifier, Perceptron: decisions; binary label d > 0,
  multiclass the first argmax; SGDClassifier(loss='log_loss') also probabilities (expit,
  normalised over classes when there are more than two);
- LinearRegression, Ridge, Lasso, ElasticNet, SGDRegressor: x . coef + intercept;
- MultinomialNB, ComplementNB, BernoulliNB: the joint log likelihood, probabilities
  exp(jll - logsumexp(jll)) with scipy's logsumexp (max + log(sum(exp(jll - max))));
- trees: forests average, boosting adds a baseline, classifiers' probabilities by expit or
  softmax; GradientBoosting's binary label is raw >= 0, HistGradientBoosting's the argmax of
  the probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from m2cgen import ast
from m2cgen.assemblers.utils import add, apply_op_to_expressions, div, gt, sub
from sklearn.ensemble import HistGradientBoostingRegressor
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
from sklearn.svm import LinearSVC

from model_export.compiler import ir
from model_export.compiler.assemblers import UnsupportedStep, linear
from model_export.compiler.assemblers.ensembles import BOOSTING, HIST_BOOSTING

LINEAR_CLASSIFIERS = (LogisticRegression, LinearSVC, RidgeClassifier, SGDClassifier, Perceptron)
LINEAR_REGRESSORS = (LinearRegression, Ridge, Lasso, ElasticNet, SGDRegressor)
NAIVE_BAYES = (MultinomialNB, ComplementNB, BernoulliNB)


@dataclass(frozen=True)
class Head:
    """Bindings, then the outputs: a classifier's label (and probabilities, or decision
    values when it has no predict_proba), a regressor's prediction."""

    bindings: tuple[ir.Let, ...]
    classes: tuple[str, ...] = ()
    label: ast.Expr | None = None
    probabilities: tuple[ast.Expr, ...] = ()
    decisions: tuple[ast.Expr, ...] = ()
    prediction: ast.Expr | None = None

    def outputs(self) -> list[tuple[str, ast.Expr]]:
        """The macro's columns after the key (docs/bring-your-own-model.md lists them)."""
        columns: list[tuple[str, ast.Expr]] = []
        if self.label is not None:
            columns.append(("predicted_label", self.label))
        if self.probabilities:
            p = self.probabilities
            columns.append(("confidence", ir.Argmax(p, p)))
            columns += [(f"probability_{k}", pk) for k, pk in enumerate(p)]
        columns += [(f"decision_{k}", d) for k, d in enumerate(self.decisions)]
        if self.prediction is not None:
            columns.append(("prediction", self.prediction))
        return columns


def _texts(classes: Sequence[object]) -> tuple[ir.Text, ...]:
    return tuple(ir.Text(str(c)) for c in classes)


def coefficients(model: object) -> tuple[np.ndarray, np.ndarray]:
    """(coef rows, intercepts) of a linear model or the per-class log probabilities of a
    naive Bayes (rows weighed against x, then the constant per class)."""
    if isinstance(model, NAIVE_BAYES):
        if isinstance(model, BernoulliNB):
            log_p = np.asarray(model.feature_log_prob_, dtype=np.float64)
            negative = np.log(1 - np.exp(log_p))
            # jll = x . (log_p - neg)' + class_log_prior + neg.sum(axis=1)
            return log_p - negative, model.class_log_prior_ + negative.sum(axis=1)
        prior = model.class_log_prior_
        if isinstance(model, ComplementNB) and len(model.classes_) != 1:
            prior = np.zeros_like(prior)
        return np.asarray(model.feature_log_prob_, dtype=np.float64), np.asarray(prior)
    if isinstance(model, OneVsRestClassifier):
        rows = [coefficients(e) for e in model.estimators_]
        return np.vstack([c for c, _ in rows]), np.concatenate([b for _, b in rows])
    coef = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))  # type: ignore[attr-defined]
    intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))  # type: ignore[attr-defined]
    return coef, np.broadcast_to(intercept, (coef.shape[0],)).copy()


def linear_head(step: str, model: object, dots: Sequence[ast.Expr]) -> Head:
    """`dots[k]` is x . coefficients(model)[0][k] for the row (0 for a row without features)."""
    if isinstance(model, LogisticRegression):
        found = linear.logistic_regression(model, dots)
        return Head(found.bindings, tuple(str(c) for c in model.classes_), found.label,
                    probabilities=found.probabilities)  # fmt: skip
    _, intercepts = coefficients(model)
    if isinstance(model, LINEAR_REGRESSORS):  # read once: no binding
        return Head((), prediction=add(dots[0], ast.NumVal(float(intercepts[0]))))
    decisions = ir.vector(
        "decision", [add(d, ast.NumVal(float(b))) for d, b in zip(dots, intercepts, strict=True)],
        ir.DType.FLOAT64,
    )  # fmt: skip
    d = decisions.refs()
    classes = _texts(model.classes_)  # type: ignore[attr-defined]
    names = tuple(str(c) for c in model.classes_)  # type: ignore[attr-defined]
    if isinstance(model, NAIVE_BAYES):
        return _naive_bayes(decisions, classes, names)
    label = (
        ast.IfExpr(gt(d[0], ast.NumVal(0.0)), classes[1], classes[0])
        if len(d) == 1
        else ir.Argmax(d, classes)
    )
    if isinstance(model, SGDClassifier) and model.loss == "log_loss":
        expit = ir.vector("expit", [ast.SigmoidExpr(dk) for dk in d], ir.DType.FLOAT64)
        e = expit.refs()
        if len(e) == 1:
            return Head(
                (decisions, expit), names, label, probabilities=(sub(ast.NumVal(1.0), e[0]), e[0])
            )
        total = apply_op_to_expressions(ast.BinNumOpType.ADD, *e)
        return Head((decisions, expit), names, label, probabilities=tuple(div(p, total) for p in e))
    return Head((decisions,), names, label, decisions=tuple(d))


def _naive_bayes(decisions: ir.Let, classes: tuple[ir.Text, ...], names: tuple[str, ...]) -> Head:
    jll = decisions.refs()
    largest = ir.vector("largest", [ir.Max(jll)], ir.DType.FLOAT64)
    m = largest.refs()[0]
    total = apply_op_to_expressions(ast.BinNumOpType.ADD, *[ast.ExpExpr(sub(j, m)) for j in jll])
    norm = ir.vector("log_total", [add(m, ast.LogExpr(total))], ir.DType.FLOAT64)
    p = ir.vector("proba", [ast.ExpExpr(sub(j, norm.refs()[0])) for j in jll], ir.DType.FLOAT64)
    return Head(
        (decisions, largest, norm, p), names, ir.Argmax(jll, classes), probabilities=p.refs()
    )


def one_vs_rest_head(step: str, model: OneVsRestClassifier, dots: Sequence[ast.Expr]) -> Head:
    """OneVsRestClassifier over binary linear estimators (`dots[k]`: x . coef of the k-th):
    the label is the last class whose decision ties the largest (predict keeps np.maximum
    and takes every index equal to it), probabilities each estimator's positive one,
    normalised by their sum."""
    _, intercepts = coefficients(model)
    decisions = ir.vector(
        "decision", [add(d, ast.NumVal(float(b))) for d, b in zip(dots, intercepts, strict=True)],
        ir.DType.FLOAT64,
    )  # fmt: skip
    d = decisions.refs()
    names, texts = tuple(str(c) for c in model.classes_), _texts(model.classes_)
    if len(d) == 1:  # two classes: one estimator, its decision > 0 and [1 - p, p]
        label: ast.Expr = ast.IfExpr(gt(d[0], ast.NumVal(0.0)), texts[1], texts[0])
    else:
        label = ir.Argmax(tuple(reversed(d)), tuple(reversed(texts)))
    estimator = model.estimators_[0]
    if not isinstance(estimator, LogisticRegression) and not (
        isinstance(estimator, SGDClassifier) and estimator.loss == "log_loss"
    ):
        return Head((decisions,), names, label, decisions=tuple(d))
    expit = ir.vector("expit", [ast.SigmoidExpr(dk) for dk in d], ir.DType.FLOAT64)
    e = expit.refs()
    if len(e) == 1:
        return Head(
            (decisions, expit), names, label, probabilities=(sub(ast.NumVal(1.0), e[0]), e[0])
        )
    total = apply_op_to_expressions(ast.BinNumOpType.ADD, *e)
    return Head((decisions, expit), names, label, probabilities=tuple(div(p, total) for p in e))


def ensemble_head(step: str, model: object, sums: Sequence[ast.Expr]) -> Head:
    """The outputs of a tree model over its Ensemble's per-output values."""
    classes = getattr(model, "classes_", None)
    if classes is None:
        prediction = sums[0]
        if isinstance(model, HistGradientBoostingRegressor) and model.loss in ("poisson", "gamma"):
            prediction = ast.ExpExpr(prediction)
        elif isinstance(model, HistGradientBoostingRegressor) and model.loss not in (
            "squared_error", "absolute_error", "quantile"
        ):  # fmt: skip
            raise UnsupportedStep(step, f"loss={model.loss!r}")
        return Head((), prediction=prediction)
    texts, names = _texts(classes), tuple(str(c) for c in classes)
    if not isinstance(model, (*BOOSTING, *HIST_BOOSTING)):
        p = ir.vector("proba", list(sums), ir.DType.FLOAT64)
        return Head((p,), names, ir.Argmax(p.refs(), texts), probabilities=p.refs())
    raw = ir.vector("raw", list(sums), ir.DType.FLOAT64)
    r = raw.refs()
    if len(r) == 1:
        expit = ir.vector("expit", [ast.SigmoidExpr(r[0])], ir.DType.FLOAT64)
        p1 = expit.refs()[0]
        probabilities = (sub(ast.NumVal(1.0), p1), p1)
        if isinstance(model, BOOSTING):
            label: ast.Expr = ast.IfExpr(
                ast.CompExpr(r[0], ast.NumVal(0.0), ast.CompOpType.GTE), texts[1], texts[0]
            )
        else:
            label = ir.Argmax(probabilities, texts)
        return Head((raw, expit), names, label, probabilities=probabilities)
    softmax = _softmax(r)
    label = (
        ir.Argmax(r, texts) if isinstance(model, BOOSTING) else ir.Argmax(softmax[-1].refs(), texts)
    )
    return Head((raw, *softmax), names, label, probabilities=softmax[-1].refs())


def _softmax(values: Sequence[ir.Ref]) -> tuple[ir.Let, ...]:
    largest = ir.vector("largest", [ir.Max(tuple(values))], ir.DType.FLOAT64)
    exps = ir.vector(
        "exps", [ast.ExpExpr(sub(v, largest.refs()[0])) for v in values], ir.DType.FLOAT64
    )
    total = apply_op_to_expressions(ast.BinNumOpType.ADD, *exps.refs())
    softmax = ir.vector("softmax", [div(e, total) for e in exps.refs()], ir.DType.FLOAT64)
    return largest, exps, softmax
