"""Tabular preprocessing -> IR: the columns a pipeline reads from its source and, step by
step, the float64 features its estimator sees (ColumnTransformer, StandardScaler,
MinMaxScaler, OneHotEncoder, SimpleImputer, passthrough, drop), each as scikit-learn
computes it, NaN included.

A source column is read as a number (float8, NULL as NaN: what pandas hands scikit-learn
for a missing value) or as a category (text, NULL as None), whichever the step that reads it
needs. Operations follow scikit-learn's order: (x - mean) / scale, x * scale + min.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from m2cgen import ast
from m2cgen.assemblers.utils import add, div, eq, mul, sub
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, StandardScaler

from model_export.compiler import ir
from model_export.compiler.assemblers import UnsupportedStep
from model_export.compiler.supported import refuse

ONE, ZERO = ast.NumVal(1.0), ast.NumVal(0.0)


@dataclass(frozen=True)
class Feature:
    """One column of a step's output: `column` (a source column, not read yet: a number or a
    category as the next step needs), or `expr`, a float64 (`is_text`: a text category)."""

    expr: ast.Expr | None = None
    column: str | None = None
    may_be_nan: bool = True
    is_text: bool = False

    def number(self, step: str) -> ast.Expr:
        if self.column is not None:
            return ir.NumberColumn(ir.Ref(self.column))
        if self.is_text or self.expr is None:
            raise UnsupportedStep(step, "reads a text category as a number (encode it first)")
        return self.expr

    def text(self) -> ast.Expr:
        if self.column is not None:
            return ir.TextColumn(ir.Ref(self.column))
        if not self.is_text or self.expr is None:
            raise ValueError("a number is not a category here")
        return self.expr


def source_columns(step: object) -> tuple[str, ...]:
    """The columns a fitted first step reads: its feature_names_in_ (fitted on a DataFrame),
    else x0, x1, ... (scikit-learn's names for the columns of an array)."""
    names = getattr(step, "feature_names_in_", None)
    if names is not None:
        return tuple(str(n) for n in names)
    count = getattr(step, "n_features_in_", None)
    if count is None:
        raise UnsupportedStep(type(step).__name__, "not fitted, or reads no columns")
    return tuple(f"x{j}" for j in range(int(count)))


def transform(name: str, step: object, features: Sequence[Feature]) -> list[Feature]:
    """The features a fitted preprocessing step outputs from its input features."""
    if step == "passthrough" or step is None:
        return list(features)
    if isinstance(step, FunctionTransformer) and step.func is None:
        return list(features)  # how a fitted ColumnTransformer holds a 'passthrough' part
    if isinstance(step, Pipeline):
        for inner_name, inner in step.steps:
            features = transform(f"{name}.{inner_name}", inner, features)
        return list(features)
    if isinstance(step, ColumnTransformer):
        return _column_transformer(name, step, features)
    if isinstance(step, StandardScaler):
        return _standard_scaler(name, step, features)
    if isinstance(step, MinMaxScaler):
        return _min_max_scaler(name, step, features)
    if isinstance(step, SimpleImputer):
        return _simple_imputer(name, step, features)
    if isinstance(step, OneHotEncoder):
        return _one_hot(name, step, features)
    raise refuse(name, step)


def _column_transformer(
    name: str, step: ColumnTransformer, features: Sequence[Feature]
) -> list[Feature]:
    names = list(getattr(step, "feature_names_in_", [f"x{j}" for j in range(len(features))]))
    out: list[Feature] = []
    for part, transformer, columns in step.transformers_:
        if transformer == "drop":
            continue
        picked = _picked(columns, names)
        out += transform(f"{name}.{part}", transformer, [features[j] for j in picked])
    return out


def _picked(columns: object, names: list[str]) -> list[int]:
    """Column indexes of a ColumnTransformer's column selection (names, indexes, a mask, a
    slice, or one of them alone)."""
    if isinstance(columns, slice):
        return list(range(len(names)))[columns]
    if isinstance(columns, str | int | np.integer):
        columns = [columns]
    selected = list(np.asarray(columns).ravel())
    if selected and isinstance(selected[0], np.bool_ | bool):
        return [j for j, keep in enumerate(selected) if keep]
    return [names.index(str(c)) if isinstance(c, str) else int(c) for c in selected]


def _standard_scaler(name: str, step: StandardScaler, features: Sequence[Feature]) -> list[Feature]:
    out = []
    for j, feature in enumerate(features):
        x = feature.number(name)
        if step.with_mean:
            x = sub(x, ast.NumVal(float(step.mean_[j])))
        if step.with_std:
            x = div(x, ast.NumVal(float(step.scale_[j])))
        out.append(Feature(x, may_be_nan=feature.may_be_nan))
    return out


def _min_max_scaler(name: str, step: MinMaxScaler, features: Sequence[Feature]) -> list[Feature]:
    low, high = (ast.NumVal(float(v)) for v in step.feature_range)
    out = []
    for j, feature in enumerate(features):
        x = add(
            mul(feature.number(name), ast.NumVal(float(step.scale_[j]))),
            ast.NumVal(float(step.min_[j])),
        )
        if step.clip:
            # np.clip keeps NaN; PostgreSQL sorts NaN above every number, so test it first
            x = ast.IfExpr(
                ir.IsNaN(x),
                x,
                ast.IfExpr(
                    ast.CompExpr(x, low, ast.CompOpType.LT),
                    low,
                    ast.IfExpr(ast.CompExpr(x, high, ast.CompOpType.GT), high, x),
                ),
            )
        out.append(Feature(x, may_be_nan=feature.may_be_nan))
    return out


def _is_missing_marker(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _simple_imputer(name: str, step: SimpleImputer, features: Sequence[Feature]) -> list[Feature]:
    if not _is_missing_marker(step.missing_values):
        raise UnsupportedStep(name, "SimpleImputer: only missing_values=np.nan (NULL in SQL)")
    if step.add_indicator:
        raise UnsupportedStep(name, "SimpleImputer: add_indicator is not supported")
    out = []
    for j, feature in enumerate(features):
        statistic = step.statistics_[j]
        if _is_missing_marker(statistic):
            continue  # scikit-learn drops a column it saw no value of
        if isinstance(statistic, str):
            x = feature.text()
            out.append(Feature(ast.IfExpr(ir.IsNull(x), ir.Text(statistic), x), is_text=True))
            continue
        x = feature.number(name)
        imputed = ast.IfExpr(ir.IsNaN(x), ast.NumVal(float(statistic)), x)
        if isinstance(x, ir.NumberColumn):  # NULL or NaN in the column: one coalesce
            imputed = ir.NumberColumn(x.column, ast.NumVal(float(statistic)))
        out.append(Feature(imputed, may_be_nan=False))
    return out


def _one_hot(name: str, step: OneHotEncoder, features: Sequence[Feature]) -> list[Feature]:
    unknown = step.handle_unknown
    if getattr(step, "infrequent_categories_", None) is not None and any(
        c is not None for c in step._infrequent_indices
    ):
        raise UnsupportedStep(name, "OneHotEncoder: infrequent categories are not supported")
    if unknown not in ("ignore", "error", "infrequent_if_exist", "warn"):
        raise UnsupportedStep(name, f"OneHotEncoder: handle_unknown={unknown!r}")
    drops = step.drop_idx_ if step.drop_idx_ is not None else [None] * len(step.categories_)
    out = []
    for j, (categories, dropped) in enumerate(zip(step.categories_, drops, strict=True)):
        textual = categories.dtype == object
        x = features[j].text() if textual else features[j].number(name)
        tests = [_matches(x, c, textual) for c in categories]
        kept = [k for k in range(len(categories)) if dropped is None or k != dropped]
        for position, k in enumerate(kept):
            orelse: ast.Expr = ZERO
            if unknown == "error" and position == 0:
                # one column checks that the value is a known category, as transform does
                orelse = ir.Fail(f"{name}: unknown category in column {j}: ", _as_text(x, textual))
                for other in reversed(range(len(categories))):
                    if other != k:
                        orelse = ast.IfExpr(tests[other], ZERO, orelse)
            out.append(Feature(ast.IfExpr(tests[k], ONE, orelse), may_be_nan=False))
    return out


def _matches(x: ast.Expr, category: object, textual: bool) -> ast.Expr:
    """The test that x is this category (None or NaN: the missing value, a category of its
    own when scikit-learn saw it in training)."""
    if _is_missing_marker(category):
        return ir.IsNull(x) if textual else ir.IsNaN(x)
    if textual:
        return eq(x, ir.Text(str(category)))
    return eq(x, ast.NumVal(float(category)))  # type: ignore[arg-type]


def _as_text(x: ast.Expr, textual: bool) -> ast.Expr:
    return x if textual else ir.Concat((ir.Text(""), x))
