"""`compile_pipeline`: one fitted Pipeline -> the body of a dbt macro `name(batch)` plus its
seeds. The steps are checked here (UnsupportedStep names the first one that cannot be
compiled), the model families' assemblers build one `ir.Program`, and the PostgreSQL
interpreter writes it. The macro renders one SELECT with one row per row of `batch` (a
relation or CTE with the stg_log_entries columns); it only joins seed lookup tables, so
scoring stays row-local.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from m2cgen import ast
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from model_export.compiler import byo, ir
from model_export.compiler.assemblers import UnsupportedStep, anomaly, linear, templates, text
from model_export.compiler.interpreters import postgresql
from model_export.compiler.names import KNOWN, MASKS
from model_export.training.features import STG_COLUMNS, LogFeatures, MessageColumn


@dataclass(frozen=True)
class Compiled:
    """A compiled model: the macro `name(batch)` and the seeds it refs."""

    name: str
    body: str
    seeds: list[ir.Seed] = field(default_factory=list)


@dataclass(frozen=True)
class Outputs:
    """Column names of a classifier macro's outputs."""

    label: str = "predicted_label"
    confidence: str = "confidence"
    explanation: str = "explanation"

    def names(self) -> tuple[str, str, str]:
        return self.label, self.confidence, self.explanation


LEVEL_OUTPUTS = Outputs("predicted_level", "level_confidence", "level_explanation")
BATCH = ir.Batch(STG_COLUMNS)
KEY = ("log_entry_id", ir.Ref("log_entry_id"))  # the first output of every macro


def model_steps(pipeline: Pipeline) -> list[tuple[str, object]]:
    """The steps that compute something (a leading MessageColumn only picks the column)."""
    if not isinstance(pipeline, Pipeline):
        raise UnsupportedStep(type(pipeline).__name__, "expected a fitted sklearn Pipeline")
    steps = [(n, s) for n, s in pipeline.steps if s not in (None, "passthrough")]
    return steps[1:] if steps and isinstance(steps[0][1], MessageColumn) else steps


def compile_pipeline(pipeline: Pipeline, name: str, outputs: Outputs = Outputs()) -> Compiled:
    """Compile a fitted Pipeline of supported steps: [MessageColumn] -> TfidfVectorizer or
    CountVectorizer -> LogisticRegression / RandomForestClassifier / DecisionTreeClassifier
    (a text classifier, also scikit-learn's default analyzer), or LogFeatures ->
    IsolationForest / RandomForestClassifier / DecisionTreeClassifier (an anomaly detector).
    Raises UnsupportedStep naming the first step it cannot compile."""
    return compile_program(name, pipeline_program(pipeline, name, outputs))


def compile_program(name: str, program: ir.Program) -> Compiled:
    """The macro `name(batch)` of a program, in PostgreSQL, and the seeds it reads."""
    return Compiled(name, postgresql.render(program), program.seeds())


def pipeline_program(pipeline: Pipeline, name: str, outputs: Outputs = Outputs()) -> ir.Program:
    """The IR of compile_pipeline (seed names start with `name`)."""
    steps = model_steps(pipeline)
    featurizer = steps[0][1] if steps else None
    if len(steps) == 2 and isinstance(featurizer, LogFeatures):
        model_step, model = steps[1]
        found = anomaly.detector(model_step, model)
        source = ir.LogFeatureRows(
            anomaly.template_seed(featurizer),
            templates=templates.of_features(featurizer, f"{MASKS}_{name}", f"{KNOWN}_{name}"),
        )
        return ir.Program(source, found.bindings, (KEY, *found.outputs))
    if len(steps) == 2 and isinstance(steps[0][1], CountVectorizer):
        (feature_step, featurizer), (_, model) = steps
        if type(model) is LogisticRegression:
            return _linear_text(
                name, text.read_vectorizer(feature_step, featurizer), model, outputs
            )
    program = byo.byo_program(steps, name)
    renamed = {"predicted_label": outputs.label, "confidence": outputs.confidence}
    return ir.Program(
        program.source,
        program.bindings,
        tuple((renamed.get(n, n), e) for n, e in program.outputs),
    )


def linear_text(
    vectorizer: text.Vectorizer,
    model: LogisticRegression,
    tokens: ir.Tokens | ir.WordGrams,
    vocabulary_name: str,
    extra: Mapping[str, np.ndarray] | None = None,
) -> tuple[ir.TermSums, linear.LinearClassifier]:
    """A LogisticRegression over tf-idf terms: its coefficient rows become weight columns of
    the vocabulary seed (a join, not an expression with one term per word). Each `extra`
    vector is one more weight column, summed (x * weight) under its own name."""
    coef = np.asarray(model.coef_, dtype=np.float64)
    weights = {f"w_{k}": coef[k] for k in range(coef.shape[0])}
    vocabulary = text.vocabulary_seed(vocabulary_name, vectorizer, {**weights, **(extra or {})})
    dots = [(f"dot_{k}", column) for k, column in enumerate(weights)]
    more = [(column, column) for column in extra or {}]
    sums = text.term_sums("tfidf", vectorizer, tokens, vocabulary, [*dots, *more])
    return sums, linear.logistic_regression(model, [ir.Ref(n) for n, _ in dots])


def _linear_text(
    name: str, vectorizer: text.Vectorizer, model: LogisticRegression, outputs: Outputs
) -> ir.Program:
    tokens = text.message_tokens(vectorizer, ir.Ref("message"))
    sums, classifier = linear_text(vectorizer, model, tokens, f"{name}_vocabulary")
    columns = classifier_columns(classifier, outputs)
    probabilities = tuple((f"probability_{k}", p) for k, p in enumerate(classifier.probabilities))
    return ir.Program(BATCH, (sums, *classifier.bindings), (KEY, *columns, *probabilities))


def classifier_columns(
    classifier: linear.LinearClassifier, outputs: Outputs
) -> tuple[tuple[str, ast.Expr], ...]:
    # Plain text only: formatting numbers per row costs more than the model.
    explanation = ir.Concat((ir.Text("the message terms weigh most for "), classifier.label))
    return (
        (outputs.label, classifier.label),
        (outputs.confidence, classifier.confidence),
        (outputs.explanation, explanation),
    )
