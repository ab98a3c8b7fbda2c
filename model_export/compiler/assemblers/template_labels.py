"""TemplateLabels (model_export.training.anomaly_detectors) -> IR: the labels as a seed
(template_hash -> 1 or 0, read by log_features as `template_label`), the logistic regression over
template texts as one more weight column of the level classifier's vocabulary (its sum is computed
once per template, beside the level classifier's), and per row the label or the regression's answer.
"""

from __future__ import annotations

import numpy as np
from m2cgen import ast
from m2cgen.assemblers.utils import add, eq, gt, lt, mul, sub

from model_export.compiler import ir
from model_export.compiler.assemblers.anomaly import Detector
from model_export.training.anomaly_detectors import TemplateLabels

WEIGHT = "w_template_anomaly"  # vocabulary column: the regression's coefficients
DECISION, PROBA = "template_decision", "template_proba"  # outputs of the level program


def labels_seed(model: TemplateLabels, name: str) -> ir.Seed:
    rows = tuple((h, 1.0 if a else 0.0) for h, a in sorted(model.labels_.items()))
    return ir.Seed(name, (("template_hash", ir.DType.TEXT), ("label", ir.DType.FLOAT64)), rows)


def weight_column(model: TemplateLabels) -> dict[str, np.ndarray]:
    return {WEIGHT: np.asarray(model.model_.coef_[0], dtype=np.float64)}


def per_template(model: TemplateLabels) -> tuple[ir.Let, ...]:
    """Bindings of the level program (which binds the sum named WEIGHT): decision, P."""
    intercept = ast.NumVal(float(model.model_.intercept_[0]))
    decision = ir.Let(
        "template_model", ((DECISION, add(ir.Ref(WEIGHT), intercept)),), ir.DType.FLOAT64
    )
    proba = ir.Let("template_p", ((PROBA, ast.SigmoidExpr(ir.Ref(DECISION))),), ir.DType.FLOAT64)
    return decision, proba


def decision() -> Detector:
    """Per row: the template's label when it has one, else the regression's answer."""
    label, d, p = ir.Ref("template_label"), ir.Ref(DECISION), ir.Ref(PROBA)
    unlabelled = lt(label, ast.NumVal(0.0))
    positive = gt(d, ast.NumVal(0.0))
    verdict = ir.Let(
        "verdict",
        (("flagged", ast.IfExpr(unlabelled, positive, eq(label, ast.NumVal(1.0)))),),
        ir.DType.BOOL,
    )
    flagged = ir.Ref("flagged")
    explanation = ast.IfExpr(
        unlabelled,
        ir.Concat(
            (
                ir.Text("reads like the templates labelled anomalous: "),
                ir.Digits(mul(ast.NumVal(100.0), p)),
                ir.Text("%"),
            )
        ),
        ir.Text("template labelled anomalous"),
    )
    confidence = ast.IfExpr(
        unlabelled, ast.IfExpr(positive, p, sub(ast.NumVal(1.0), p)), ast.NumVal(1.0)
    )
    return Detector(
        (verdict,),
        (
            ("is_anomaly", flagged),
            ("anomaly_score", ast.IfExpr(unlabelled, p, label)),
            ("anomaly_confidence", confidence),
            ("anomaly_explanation", ast.IfExpr(flagged, explanation, ir.Text(""))),
        ),
    )
