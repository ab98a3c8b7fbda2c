"""Bring-your-own pipelines -> IR: any Pipeline of supported steps (compiler/supported.py),
text or tabular, one macro `name(batch)` plus seeds whose names start with `seed_prefix`
(the caller names both: a model version gives its own).

The batch holds the key column (first output; default log_entry_id) and the columns the
pipeline reads: `message` (or the column a ColumnTransformer gives its vectorizer) for a
text pipeline, the fitted first step's feature_names_in_ for a tabular one. The outputs
after the key (heads.Head.outputs): predicted_label, confidence and probability_k (in
classes_ order) for a classifier with predict_proba, predicted_label and decision_k for one
without, prediction for a regressor.

- text + linear family or naive Bayes: the coefficient rows are weight columns of the
  vocabulary seed, summed per row over the text's terms (ir.TermSums);
- text + tree model: the trees are seed tables evaluated once per distinct text
  (ir.ForestOverTerms inside ir.Memoized): a forest's size is data, not macro text;
- tabular: the preprocessing as expressions, bound once per row (ir.Let `x`), then the
  head: dot products, or one CASE per tree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from m2cgen import ast
from m2cgen.assemblers.utils import add, mul
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer
from sklearn.multiclass import OneVsRestClassifier
from sklearn.naive_bayes import BernoulliNB

from model_export.compiler import ir
from model_export.compiler.assemblers import UnsupportedStep, ensembles, heads, tabular, text
from model_export.compiler.supported import refuse

TEXT_COLUMN = "message"
KEY = "log_entry_id"


def byo_program(
    steps: Sequence[tuple[str, object]], seed_prefix: str, key: str = KEY
) -> ir.Program:
    """The program of a Pipeline's steps (model_steps: a leading MessageColumn dropped)."""
    if not steps:
        raise UnsupportedStep("pipeline", "no step to compile")
    *features, (final_name, final) = steps
    _check_final(final_name, final)
    vectorized = _text_step(features)
    if vectorized is not None:
        column, (vectorizer_name, vectorizer) = vectorized
        return _text_program(
            column, text.read_vectorizer(vectorizer_name, vectorizer), final_name, final,
            seed_prefix, key,
        )  # fmt: skip
    return _tabular_program(features, final_name, final, key)


def _check_final(name: str, model: object) -> None:
    known = (
        *heads.LINEAR_CLASSIFIERS, *heads.LINEAR_REGRESSORS, *heads.NAIVE_BAYES,
        *ensembles.TREE_MODELS, OneVsRestClassifier,
    )  # fmt: skip
    if not isinstance(model, known):
        raise refuse(name, model)
    if isinstance(model, OneVsRestClassifier) and not all(
        isinstance(e, heads.LINEAR_CLASSIFIERS) for e in model.estimators_
    ):
        raise UnsupportedStep(name, "OneVsRestClassifier over other than linear classifiers")


def _text_step(
    features: Sequence[tuple[str, object]],
) -> tuple[str, tuple[str, object]] | None:
    """(the text column, the vectorizer step) of a text pipeline; None for a tabular one."""
    if not features:
        return None
    name, first = features[0]
    if isinstance(first, HashingVectorizer):
        raise refuse(name, first)
    if isinstance(first, ColumnTransformer):
        parts = [(n, t, c) for n, t, c in first.transformers_ if t != "drop"]
        if not any(isinstance(t, CountVectorizer | HashingVectorizer) for _, t, _ in parts):
            return None
        if len(parts) != 1 or not isinstance(parts[0][2], str):
            raise UnsupportedStep(name, "a text vectorizer must be the only part, over one column")
        part, vectorizer, column = parts[0]
        if isinstance(vectorizer, HashingVectorizer):
            raise refuse(f"{name}.{part}", vectorizer)
        found: tuple[str, tuple[str, object]] = (column, (f"{name}.{part}", vectorizer))
    elif isinstance(first, CountVectorizer):
        found = (TEXT_COLUMN, (name, first))
    else:
        return None
    if len(features) > 1:
        raise UnsupportedStep(features[1][0], "no step between a text vectorizer and the model")
    return found


def _text_program(
    column: str,
    vectorizer: text.Vectorizer,
    final_name: str,
    final: object,
    seed_prefix: str,
    key: str,
) -> ir.Program:
    source = ir.Batch(_columns(key, [column]))
    tokens = text.message_tokens(vectorizer, ir.Ref(column))
    if isinstance(final, ensembles.TREE_MODELS):
        return _text_forest(column, vectorizer, tokens, final_name, final, seed_prefix, source, key)
    coef, _ = heads.coefficients(final)
    if isinstance(final, BernoulliNB):
        vectorizer = _binarized(final_name, final, vectorizer)
    weights = {f"w_{k}": coef[k] for k in range(coef.shape[0])}
    vocabulary = text.vocabulary_seed(f"{seed_prefix}_vocabulary", vectorizer, weights)
    dots = [(f"dot_{k}", column_name) for k, column_name in enumerate(weights)]
    sums = text.term_sums("terms", vectorizer, tokens, vocabulary, dots)
    head = _linear_head(final_name, final, [ir.Ref(n) for n, _ in dots])
    return ir.Program(source, (sums, *head.bindings), ((key, ir.Ref(key)), *head.outputs()))


def _text_forest(
    column: str,
    vectorizer: text.Vectorizer,
    tokens: ir.Tokens | ir.WordGrams,
    final_name: str,
    final: object,
    seed_prefix: str,
    source: ir.Batch,
    key: str,
) -> ir.Program:
    """Two memoized steps: per distinct text its known terms and counts (the key), per
    distinct key the trees (as data) and the head."""
    model = ensembles.ensemble(final_name, final)
    nodes, leaves, stride = ensembles.forest_seeds(model, seed_prefix)
    vocabulary = text.vocabulary_seed(f"{seed_prefix}_vocabulary", vectorizer, {})
    counts = ir.TermCounts("terms", tokens, vocabulary)
    terms = ir.Memoized(
        "text", ir.Ref(column), ir.Program(None, (counts,), (("terms", ir.Ref("terms")),))
    )
    sums = tuple(f"sum_{k}" for k in range(model.outputs))
    forest = ir.ForestOverTerms(
        "forest", ir.Ref("terms"), vocabulary, vectorizer.tf, vectorizer.norm, nodes, leaves,
        stride, sums,
    )  # fmt: skip
    values: list[ast.Expr] = [ir.Ref(s) for s in sums]
    if model.divisor:
        values = [
            ast.BinNumExpr(v, ast.NumVal(model.divisor), ast.BinNumOpType.DIV) for v in values
        ]
    head = heads.ensemble_head(final_name, final, values)
    program = ir.Program(None, (forest, *head.bindings), tuple(head.outputs()))
    memoized = ir.Memoized("model", ir.Ref("terms"), program)
    outputs = [(n, ir.Ref(n)) for n in program.output_names()]
    return ir.Program(source, (terms, memoized), ((key, ir.Ref(key)), *outputs))


def _binarized(step: str, model: BernoulliNB, vectorizer: text.Vectorizer) -> text.Vectorizer:
    """BernoulliNB reads x > binarize: over tf-idf (positive for every present term) and
    binarize=0 that is 1 per known term: binary tf, idf 1, no norm."""
    if model.binarize != 0.0:
        raise UnsupportedStep(step, "BernoulliNB over text needs binarize=0.0")
    ones = np.ones(len(vectorizer.terms))
    return text.Vectorizer(
        vectorizer.terms, ones, vectorizer.log_tokenizer, vectorizer.lowercase, ir.Tf.BINARY,
        None, vectorizer.ngram_range, vectorizer.stop_words,
    )  # fmt: skip


def _linear_head(step: str, model: object, dots: Sequence[ast.Expr]) -> heads.Head:
    if isinstance(model, OneVsRestClassifier):
        return heads.one_vs_rest_head(step, model, dots)
    return heads.linear_head(step, model, dots)


def _tabular_program(
    features: Sequence[tuple[str, object]], final_name: str, final: object, key: str
) -> ir.Program:
    first = features[0][1] if features else final
    if isinstance(first, OneVsRestClassifier):
        first = first.estimators_[0]
    columns = tabular.source_columns(first)
    current = [tabular.Feature(column=c) for c in columns]
    for name, step in features:
        current = tabular.transform(name, step, current)
    if not current:
        raise UnsupportedStep(final_name, "reads no feature")
    if isinstance(final, BernoulliNB) and final.binarize is not None:
        threshold = ast.NumVal(float(final.binarize))
        numbers = [
            ast.IfExpr(
                ast.CompExpr(f.number(final_name), threshold, ast.CompOpType.GT),
                tabular.ONE,
                tabular.ZERO,
            )
            for f in current
        ]
    else:
        numbers = [f.number(final_name) for f in current]
    if isinstance(final, ensembles.TREE_MODELS):
        # the trees read each feature many times: bound once per row
        x = ir.vector("x", numbers, ir.DType.FLOAT64)
        model = ensembles.ensemble(final_name, final)
        leaves, sums = ensembles.ensemble_sums(model, x.refs(), [f.may_be_nan for f in current])
        head = heads.ensemble_head(final_name, final, sums)
        bindings: tuple[ir.Binding, ...] = (x, leaves, *head.bindings)
    else:
        # a linear model reads each feature once per class: written inline, cheaper than a
        # binding per row
        coef, _ = heads.coefficients(final)
        if coef.shape[1] != len(numbers):
            raise UnsupportedStep(
                final_name, f"reads {coef.shape[1]} features, gets {len(numbers)}"
            )
        head = _linear_head(final_name, final, [_dot(row, numbers) for row in coef])
        bindings = head.bindings
    source = ir.Batch(_columns(key, columns))
    return ir.Program(source, bindings, ((key, ir.Ref(key)), *head.outputs()))


def _dot(weights: np.ndarray, x: Sequence[ast.Expr]) -> ast.Expr:
    """x . weights, left to right, without the zero weights (a linear model rejects NaN and
    infinite inputs, so 0 * x is 0)."""
    terms = [mul(xj, ast.NumVal(float(w))) for xj, w in zip(x, weights, strict=True) if w != 0.0]
    if not terms:
        return ast.NumVal(0.0)
    total = terms[0]
    for term in terms[1:]:
        total = add(total, term)
    return total


def _columns(key: str, columns: Sequence[str]) -> tuple[str, ...]:
    bad = [c for c in (key, *columns) if not ir._IDENTIFIER.fullmatch(c)]
    if bad:
        raise UnsupportedStep(
            "input",
            f"column names {bad} cannot be read without quoting: use lowercase letters, digits "
            "and underscores (rename them in the DataFrame before fitting, or in a view)",
        )
    return (key, *(c for c in columns if c != key))  # a key read as a feature is read once
