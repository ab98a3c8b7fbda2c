"""model_export.training.anomaly_detectors.SeverityRarity -> IR, in two parts:

- `text_severity`: T, bound inside the level classifier's per-template program (it depends on
  the template only): the prior-corrected softmax of the classifier's decisions, summed over
  ERROR and FATAL, 0 when the template has no known term;
- `decision`: per row, over T and the history columns of LogFeatureRows(history_key=...): the
  score, the decision, the confidence and the explanation.

Each value is computed in the order SeverityRarity computes it (same IEEE operations).
"""

from __future__ import annotations

import hashlib

import numpy as np
from m2cgen import ast
from m2cgen.assemblers.utils import add, apply_op_to_expressions, div, eq, lt, mul, sub

from model_export.compiler import ir
from model_export.compiler.assemblers.anomaly import Detector
from model_export.training.anomaly_detectors import SeverityRarity
from model_export.training.features import LEVEL_ORDINALS

TEXT = "severe_text"  # T, an output of the level program
KNOWN = "known"  # vocabulary weight column of ones: sum(x * known) > 0 iff a term is known
ALL_TEMPLATES = "all"  # the training history's per-service rows (no md5 reads "all")


def gte(left: ast.Expr, right: ast.Expr) -> ast.CompExpr:
    return ast.CompExpr(left, right, ast.CompOpType.GTE)


def known_column(terms: int) -> dict[str, np.ndarray]:
    return {KNOWN: np.ones(terms, dtype=np.float64)}


def text_severity(model: SeverityRarity, decisions: ir.Let) -> tuple[ir.Let, ...]:
    """Bindings ending in a Let named `severity` whose one value is T (name TEXT)."""
    d: list[ast.Expr] = list(decisions.refs())
    if len(d) == 1:  # binary: the first class's decision is 0
        d = [ast.NumVal(0.0), d[0]]
    shifted = ir.vector(
        "prior_shifted",
        [sub(dk, ast.NumVal(float(p))) for dk, p in zip(d, model.log_priors_, strict=True)],
        ir.DType.FLOAT64,
    )
    top = ir.vector("prior_top", [ir.Max(tuple(shifted.refs()))], ir.DType.FLOAT64)
    exps = ir.vector(
        "prior_exps",
        [ast.ExpExpr(sub(s, top.refs()[0])) for s in shifted.refs()],
        ir.DType.FLOAT64,
    )
    severe = [e for e, is_severe in zip(exps.refs(), model.severe_, strict=True) if is_severe]
    share: ast.Expr = ast.NumVal(0.0)
    if severe:
        total = apply_op_to_expressions(ast.BinNumOpType.ADD, *exps.refs())
        share = div(apply_op_to_expressions(ast.BinNumOpType.ADD, *severe), total)
    known = ast.CompExpr(ir.Ref(KNOWN), ast.NumVal(0.0), ast.CompOpType.GT)
    text = ast.IfExpr(known, share, ast.NumVal(0.0))
    return shifted, top, exps, ir.Let("severity", ((TEXT, text),), ir.DType.FLOAT64)


def history_seed(model: SeverityRarity, name: str) -> ir.Seed:
    """The training history (SeverityRarity.history_): lines per (template_hash, md5 of the
    service), and per service under template_hash 'all' (ir.LogFeatureRows.trained).
    md5s: no cell needs escaping, whatever the service names."""
    history = model.history_
    rows = [(h, _md5(s), float(n)) for (s, h), n in history.templates.items()]
    rows += [(ALL_TEMPLATES, _md5(s), float(n)) for s, n in history.services.items()]
    # template_hash first: the seed's index is on its first column (the selective one)
    columns = (("template_hash", ir.DType.TEXT), ("service_hash", ir.DType.TEXT))
    return ir.Seed(name, (*columns, ("lines", ir.DType.FLOAT64)), tuple(sorted(rows)))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def _level(ordinal: ast.Expr) -> ast.Expr:
    """V's logged part: ERROR/FATAL 1, WARN 0.5, DEBUG/INFO 0, -1 for no level."""
    return ast.IfExpr(
        gte(ordinal, ast.NumVal(3.0)),
        ast.NumVal(1.0),
        ast.IfExpr(
            eq(ordinal, ast.NumVal(2.0)),
            ast.NumVal(0.5),
            ast.IfExpr(gte(ordinal, ast.NumVal(0.0)), ast.NumVal(0.0), ast.NumVal(-1.0)),
        ),
    )


def _explanation() -> ast.Expr:
    """SeverityRarity.explanation, in SQL."""
    ordinal = ir.Ref("level_ordinal")
    level: ast.Expr = ir.Text("no level")
    for name, value in reversed(LEVEL_ORDINALS.items()):
        level = ast.IfExpr(eq(ordinal, ast.NumVal(value)), ir.Text(name), level)
    status = ir.Ref("http_status")
    http = ast.IfExpr(
        gte(status, ast.NumVal(500.0)),
        ir.Concat((ir.Text("; HTTP "), ir.Digits(status))),
        ir.Text(""),
    )
    c = ir.Ref("template_lines")
    history = ast.IfExpr(
        eq(c, ast.NumVal(0)),
        ir.Concat(
            (
                ir.Text("; new for its service ("),
                ir.Digits(ir.Ref("service_lines")),
                ir.Text(" earlier lines of it)"),
            )
        ),
        ir.Concat((ir.Text("; seen "), ir.Digits(c), ir.Text(" times in its service"))),
    )
    percent = ir.Digits(mul(ast.NumVal(100.0), ir.Ref(TEXT)))
    return ir.Concat(
        (ir.Text("text reads ERROR/FATAL "), percent, ir.Text("%; logged "), level, http, history)
    )


def decision(model: SeverityRarity) -> Detector:
    """Per row: reads TEXT (the level program's output) and the LogFeatureRows columns."""
    http = ast.IfExpr(
        gte(ir.Ref("http_status"), ast.NumVal(500.0)), ast.NumVal(1.0), ast.NumVal(0.0)
    )
    evidence = ir.Let(
        "evidence",
        (("corroboration", ir.Max((_level(ir.Ref("level_ordinal")), http))),),
        ir.DType.FLOAT64,
    )
    t, v = ir.Ref(TEXT), ir.Ref("corroboration")
    missing = lt(v, ast.NumVal(0.0))
    severity = ast.IfExpr(missing, t, ast.PowExpr(mul(t, v), ast.NumVal(0.5)))
    k = ast.NumVal(float(model.rarity))
    rarity = div(k, add(k, ir.Ref("template_lines")))
    scored = ir.Let("anomaly", (("score", mul(severity, rarity)),), ir.DType.FLOAT64)
    score, threshold = ir.Ref("score"), ast.NumVal(float(model.threshold_))
    young = lt(ir.Ref("service_lines"), ast.NumVal(int(model.min_history)))
    flagged = gte(score, threshold)
    scale = ast.NumVal(float(model.margin_scale()))
    margin = ast.IfExpr(
        flagged, div(sub(score, threshold), scale), div(sub(threshold, score), scale)
    )
    undecided = ast.NumVal(0.0)
    verdict = ir.Let(
        "verdict",
        (
            (
                "flagged",
                ast.IfExpr(young, ir.Bool(False), ast.IfExpr(missing, ir.Bool(False), flagged)),
            ),
        ),
        ir.DType.BOOL,
    )
    decided = ir.Ref("flagged")
    return Detector(
        (evidence, scored, verdict),
        (
            ("is_anomaly", decided),
            ("anomaly_score", score),
            (
                "anomaly_confidence",
                ast.IfExpr(young, undecided, ast.IfExpr(missing, undecided, margin)),
            ),
            # only for flagged lines: formatting numbers on every line costs more than the model
            ("anomaly_explanation", ast.IfExpr(decided, _explanation(), ir.Text(""))),
        ),
    )
