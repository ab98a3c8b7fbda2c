"""Both default models in one macro: `compile_scorer(level, detector, names)`.

The body renders one SELECT with one row per row of `batch`: log_entry_id, predicted_level,
level_confidence, level_explanation, is_anomaly, anomaly_score, anomaly_confidence,
anomaly_explanation - exactly what the two macros of `compile_pipeline` compute, cheaper:

- the template (the regexes: the largest cost) is built once per log, by log_features, where
  the two macros built it once each;
- the detector (float4 features, trees) runs per log in the same pass, row-local (parallel
  workers run it), each value evaluated once per row (`ir.Let`);
- the level classifier depends on nothing but the template, so it is a sub-program keyed by
  the template (`ir.Memoized`), which PostgreSQL memoizes: its token explode, vocabulary join
  and aggregate run once per distinct template instead of once per log, and there is no
  GROUP BY over every token of every log. Logs repeat templates (that is what a template
  is): 7,599 distinct templates in 200,000 generated logs.

The memoized lateral subquery cannot run in a parallel worker (PostgreSQL 16 keeps a subquery
with outer references out of them), so it runs above the Gather, in the leader: cache
lookups, plus the work of one template per cache miss. The planner costs the lateral
function calls that evaluate the features and the trees once per row as if they ran once per
query, so at the default parallel_tuple_cost (0.1) it sees no gain in workers and plans the
whole query serially; the ml_predictions model (and the bench) set it to 0.01 for the
scoring statement.
"""

from __future__ import annotations

from typing import cast

from m2cgen import ast
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from model_export.compiler import ir
from model_export.compiler.assemblers import (
    UnsupportedStep,
    anomaly,
    linear,
    severity_rarity,
    template_labels,
    templates,
    text,
)
from model_export.compiler.names import ScorerNames
from model_export.compiler.pipeline import (
    KEY,
    LEVEL_OUTPUTS,
    Compiled,
    classifier_columns,
    compile_program,
    linear_text,
    model_steps,
)
from model_export.training.anomaly_detectors import SeverityRarity, TemplateLabels
from model_export.training.features import LogFeatures


def compile_scorer(level: Pipeline, detector: Pipeline, names: ScorerNames) -> Compiled:
    """The level classifier (MessageColumn -> TfidfVectorizer over model_export's log tokens,
    L1 or no norm -> LogisticRegression) and the anomaly detector (LogFeatures ->
    IsolationForest or a tree classifier) as one macro `names.macro(batch)`. Other shapes:
    compile_pipeline, one macro per model."""
    return compile_program(names.macro, scorer_program(level, detector, names))


def scorer_program(level: Pipeline, detector: Pipeline, names: ScorerNames) -> ir.Program:
    """The IR of compile_scorer."""
    steps = model_steps(level)
    if len(steps) != 2 or not isinstance(steps[1][1], LogisticRegression):
        listed = ", ".join(n for n, _ in steps)
        raise UnsupportedStep(listed, "the scorer needs a vectorizer and a LogisticRegression")
    (feature_step, vectorizer), (_, model) = steps
    read = text.read_vectorizer(feature_step, vectorizer)
    detector_steps = model_steps(detector)
    last = detector_steps[-1][1] if len(detector_steps) == 1 else None
    severity = last if isinstance(last, SeverityRarity) else None
    labelled = last if isinstance(last, TemplateLabels) else None
    if last is None and (
        len(detector_steps) != 2 or not isinstance(detector_steps[0][1], LogFeatures)
    ):
        listed = ", ".join(n for n, _ in detector_steps)
        raise UnsupportedStep(
            listed, "the scorer needs SeverityRarity, TemplateLabels, or LogFeatures and a detector"
        )
    if last is not None and severity is None and labelled is None:
        raise UnsupportedStep(detector_steps[-1][0], f"{type(last).__name__} is not a detector")
    # The classifier reads the template that log_features built, split on its spaces.
    tokens = ir.Tokens(ir.Ref("template"), ir.Analyzer.TEMPLATE)
    extra = None
    if severity is not None:
        extra = severity_rarity.known_column(len(read.terms))
    elif labelled is not None:
        extra = template_labels.weight_column(labelled)
    sums, classifier = linear_text(read, model, tokens, names.level_vocabulary, extra)
    if not read.log_tokenizer or not sums.per_occurrence():
        raise UnsupportedStep(
            feature_step, "the scorer needs model_export's tokenizer, L1 or no norm, plain tf"
        )
    label, confidence, _ = classifier_columns(classifier, LEVEL_OUTPUTS)
    # each prediction names its evidence: once per template, like the level itself
    evidence, explanation = linear.top_terms(model, classifier.bindings[0], tokens, sums.vocabulary)
    level_outputs: tuple[tuple[str, ast.Expr], ...] = (
        label,
        confidence,
        (LEVEL_OUTPUTS.explanation, explanation),
    )
    level_bindings: tuple[ir.Binding, ...] = (sums, *classifier.bindings, *evidence)
    level_columns = tuple((n, ir.Ref(n)) for n in LEVEL_OUTPUTS.names())
    labels = trained = None
    if severity is not None:
        trained = severity_rarity.history_seed(severity, names.training_history)
        level_bindings += severity_rarity.text_severity(severity, classifier.bindings[0])
        level_outputs += ((severity_rarity.TEXT, ir.Ref(severity_rarity.TEXT)),)
        found = severity_rarity.decision(severity)
        features: LogFeatures = severity.features_
    elif labelled is not None:
        level_bindings += template_labels.per_template(labelled)
        level_outputs += tuple(
            (n, ir.Ref(n)) for n in (template_labels.DECISION, template_labels.PROBA)
        )
        found = template_labels.decision()
        features = labelled.features_
        labels = template_labels.labels_seed(labelled, names.template_labels)
    else:
        found = anomaly.detector(*detector_steps[1])
        features = cast(LogFeatures, detector_steps[0][1])
    level_program = ir.Program(None, level_bindings, level_outputs)
    frequency = anomaly.template_seed(features, names.template_frequency)
    history = tuple((n, ir.Ref(n)) for n in ir.HISTORY_COLUMNS)
    memoized = ir.Memoized("level", ir.Ref("template"), level_program)
    return ir.Program(
        ir.LogFeatureRows(
            frequency,
            with_template=True,
            history_key=names.history_key,
            labels=labels,
            trained=trained,
            templates=templates.of_features(features, names.template_masks, names.known_templates),
        ),
        # these detectors read the level program's outputs: the level program comes first
        (memoized, *found.bindings) if last is not None else (*found.bindings, memoized),
        (KEY, *level_columns, *found.outputs, *history),
    )
