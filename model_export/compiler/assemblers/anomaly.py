"""Anomaly detectors over LogFeatures -> IR: IsolationForest (no labels) or a tree
classifier trained on is_anomaly labels, as the outputs anomaly_score (0..1, a ranking),
is_anomaly, anomaly_confidence and a plain-text anomaly_explanation."""

from __future__ import annotations

from dataclasses import dataclass

from m2cgen import ast
from m2cgen.assemblers.utils import div, eq, lt, mul, sub
from sklearn.ensemble import IsolationForest

from model_export.compiler import ir
from model_export.compiler.assemblers import UnsupportedStep, isolation_forest, trees
from model_export.training.features import FEATURE_NAMES, LEVEL_ORDINALS, LogFeatures

TEMPLATE_FREQUENCY = "ml_template_frequency"


def template_seed(features: LogFeatures, name: str = TEMPLATE_FREQUENCY) -> ir.Seed:
    """The training frequency of each template (by md5), as LogFeatures learned it."""
    rows = tuple((h, float(f)) for h, f in sorted(features.template_frequency_.items()))
    return ir.Seed(name, (("template_hash", ir.DType.TEXT), ("frequency", ir.DType.FLOAT64)), rows)


@dataclass(frozen=True)
class Detector:
    """What a program over LogFeatureRows binds, and the detector's outputs by name."""

    bindings: tuple[ir.Let, ...]
    outputs: tuple[tuple[str, ast.Expr], ...]


def _explanation(model_kind: str) -> ast.Expr:
    # Plain text only: formatting numbers per row costs more than the model.
    frequency = ir.Ref("template_frequency")
    novelty = ast.IfExpr(
        eq(frequency, ast.NumVal(0.0)),
        ir.Text("template never seen in training"),
        ast.IfExpr(
            lt(frequency, ast.NumVal(0.001)),
            ir.Text("rare template (< 0.1% of training lines)"),
            ir.Text("common template"),
        ),
    )
    level: ast.Expr = ir.Text("unknown")
    for name, ordinal in reversed(LEVEL_ORDINALS.items()):
        level = ast.IfExpr(eq(ir.Ref("level_ordinal"), ast.NumVal(ordinal)), ir.Text(name), level)
    return ir.Concat((ir.Text(f"{model_kind}: "), novelty, ir.Text("; level "), level))


def detector(model_step: str, model: object) -> Detector:
    # The trees compare float32(feature), as scikit-learn's trees do: cast once per row.
    x = ir.vector("x", [ir.Float32(ir.Ref(n)) for n in FEATURE_NAMES], ir.DType.FLOAT32)
    if isinstance(model, IsolationForest):
        score = ir.vector(
            "score", [isolation_forest.anomaly_score(model, x.refs())], ir.DType.FLOAT64
        )
        s, offset = score.refs()[0], float(model.offset_)
        # decision_function = score_samples - offset_ = -score - offset_; negative: anomaly.
        decision = sub(mul(s, ast.NumVal(-1.0)), ast.NumVal(offset))
        flagged = lt(decision, ast.NumVal(0.0))
        confidence = ast.IfExpr(
            flagged,
            div(mul(decision, ast.NumVal(-1.0)), ast.NumVal(1.0 + offset)),
            div(decision, ast.NumVal(-offset)),
        )
        return Detector(
            (x, score),
            (
                ("is_anomaly", flagged),
                ("anomaly_score", s),
                ("anomaly_confidence", confidence),
                ("anomaly_explanation", _explanation("isolation forest")),
            ),
        )
    if isinstance(model, trees.TREE_CLASSIFIERS):
        votes = trees.tree_classifier(model, x.refs())
        p = votes.probabilities
        positive = [bool(c) for c in model.classes_].index(True)
        return Detector(
            (x, *votes.bindings),
            (
                ("is_anomaly", ir.Argmax(p, tuple(ir.Bool(bool(c)) for c in model.classes_))),
                ("anomaly_score", p[positive]),
                ("anomaly_confidence", ir.Argmax(p, p)),
                ("anomaly_explanation", _explanation("supervised tree model")),
            ),
        )
    raise UnsupportedStep(model_step, f"{type(model).__name__} is not a supported detector")
