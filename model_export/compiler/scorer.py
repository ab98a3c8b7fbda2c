"""Both default models in one macro: `compile_scorer(level, detector, name, seed_suffix)`.

The body renders one SELECT with one row per row of `batch`: log_entry_id, predicted_level,
level_confidence, level_explanation, is_anomaly, anomaly_score, anomaly_confidence,
anomaly_explanation - exactly what the two macros of `compile_pipeline` compute, cheaper:

- the template (the regexes: the largest cost) is built once per log, by log_features, where
  the two macros built it once each;
- the detector (features, trees) runs per log in the same pass, in parallel workers;
- the level classifier depends on nothing but the template, so it is a lateral subquery
  keyed by the template, which PostgreSQL memoizes: its token explode, vocabulary join and
  aggregate run once per distinct template instead of once per log, and there is no
  GROUP BY over every token of every log. Logs repeat templates (that is what a template
  is): 7,599 distinct templates in 200,000 generated logs.

The lateral subquery cannot run in a parallel worker (PostgreSQL 16 keeps a subquery with
outer references out of them), so it runs above the Gather, in the leader: cache lookups,
plus the work of one template per cache miss. The planner costs the lateral function calls
that evaluate the template and the trees once per row as if they ran once per query, so at
the default parallel_tuple_cost (0.1) it sees no gain in workers and plans the whole query
serially; the ml_predictions model (and the bench) set it to 0.01 for the scoring statement.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from model_export.compiler.pipeline import (
    LEVEL_NAME,
    LEVEL_OUTPUTS,
    TEMPLATE_FREQUENCY,
    Compiled,
    detector_sql,
    linear_sql,
    pipeline_steps,
    template_seed,
    vocabulary_seed,
)
from model_export.compiler.text_sql import UnsupportedStep, norm_sql, per_occurrence, text_features
from model_export.features import LogFeatures, MessageColumn

LEVEL_VOCABULARY = "ml_level_classifier_vocabulary"


def scorer_name(version: str) -> str:
    """The macro that scores `version` with both its models (macros/generated/vN/)."""
    return f"ml_score_{version}"


def _level_parts(level: Pipeline) -> tuple[str, object, LogisticRegression]:
    steps = pipeline_steps(level)
    if steps and isinstance(steps[0][1], MessageColumn):
        steps = steps[1:]
    if len(steps) != 2 or not isinstance(steps[1][1], LogisticRegression):
        names = ", ".join(n for n, _ in steps)
        raise UnsupportedStep(names, "the scorer needs a vectorizer and a LogisticRegression")
    (feature_step, vectorizer), (_, model) = steps
    return feature_step, vectorizer, model


def _deeper(sql: str) -> str:
    """SQL text written for a top-level CTE, indented for the lateral subquery."""
    return sql.replace("\n", "\n    ")


def compile_scorer(level: Pipeline, detector: Pipeline, name: str, seed_suffix: str) -> Compiled:
    """The level classifier (MessageColumn -> TfidfVectorizer over model_export's log tokens,
    L1 or no norm -> LogisticRegression) and the anomaly detector (LogFeatures ->
    IsolationForest or a tree classifier) as one macro `name(batch)`; seed names get
    `seed_suffix` appended. Other shapes: compile_pipeline, one macro per model."""
    feature_step, vectorizer, classifier = _level_parts(level)
    text = text_features(feature_step, vectorizer)
    if not text.log_tokenizer or not per_occurrence(text):
        raise UnsupportedStep(
            feature_step, "the scorer needs model_export's tokenizer, L1 or no norm, plain tf"
        )
    detector_steps = pipeline_steps(detector)
    features = detector_steps[0][1] if len(detector_steps) == 2 else None
    if not isinstance(features, LogFeatures):
        names = ", ".join(n for n, _ in detector_steps)
        raise UnsupportedStep(names, "the scorer needs LogFeatures and a detector")
    model_step, model = detector_steps[1]
    anomaly = detector_sql(model_step, model)

    coef = np.asarray(classifier.coef_, dtype=np.float64)
    classes = range(coef.shape[0])
    weights = {f"w_{k}": coef[k] for k in classes}
    vocabulary = vocabulary_seed(LEVEL_VOCABULARY + seed_suffix, text, weights)
    frequency = template_seed(features, TEMPLATE_FREQUENCY + seed_suffix)
    norm = norm_sql(text)
    linear = linear_sql(classifier, "p_s", norm is not None)

    raw = ", ".join(f"{expression} as {column}" for expression, column in anomaly.raw)
    sums = ",\n                ".join(f"sum(x * w_{k}) as s_{k}" for k in classes)
    body = f"""with

-- Per log, row-local (parallel workers run it): the template, built once (its regexes are
-- most of the cost), the features and the detector.
s_detector as (
    select
        a_f.log_entry_id,
        a_f.template,
        a_f.template_frequency,
        {LEVEL_NAME} as level_name,
        {raw}
    from ({{{{ log_features(batch, '{frequency.name}', with_template=true) }}}}) as a_f
    {anomaly.lateral}
),

s_anomaly as (
    select
        log_entry_id,
        template,
        {anomaly.outputs("        ")}
    from s_detector
)

-- The level classifier depends on the template only: a lateral subquery keyed by it, which
-- PostgreSQL memoizes (computed once per distinct template, a cache lookup for the other
-- logs). Its aggregate returns one row even for a template without known tokens (NULL
-- sums: the decisions are the intercepts), so every log keeps exactly one row.
select
    s_a.log_entry_id,
    s_l.{LEVEL_OUTPUTS.label},
    s_l.{LEVEL_OUTPUTS.confidence},
    s_l.{LEVEL_OUTPUTS.explanation},
    s_a.is_anomaly,
    s_a.anomaly_score,
    s_a.anomaly_confidence,
    s_a.anomaly_explanation
from s_anomaly as s_a
cross join lateral (
    with

    p_decision as (
        select
            {_deeper(linear.decisions)}
        from (
            -- sums per token occurrence (L1 or no norm: no per-term counts needed)
            select
                {norm or "null::float8"} as norm,
                {sums}
            from (
                select p_v.idf as x, p_v.*
                from string_to_table(s_a.template, ' ') as p_t (token)
                inner join {{{{ ref('{vocabulary.name}') }}}} as p_v on p_v.term = p_t.token
            ) as p_w
        ) as p_s
    ),

    p_proba as (
        {_deeper(linear.proba)}
    ),

    p_final as (
        select
            {linear.label} as {LEVEL_OUTPUTS.label},
            {linear.confidence} as {LEVEL_OUTPUTS.confidence}
        from p_proba
    )

    select
        *,
        -- Plain text only: formatting numbers per row costs more than the model.
        'the message terms weigh most for ' || {LEVEL_OUTPUTS.label}
            as {LEVEL_OUTPUTS.explanation}
    from p_final
) as s_l"""
    return Compiled(name, body, [vocabulary, frequency])
