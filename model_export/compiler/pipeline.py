"""Fitted pipelines -> the SQL body of a dbt macro `name(batch)` plus its seeds.

Public entry: `compile_pipeline(pipeline, name, kind)`. A macro body is a jinja template that
renders one SELECT with one row per row of `batch` (a relation or CTE with the
stg_log_entries columns); it only joins seed lookup tables, so scoring stays row-local.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from m2cgen import ast
from sklearn.ensemble import IsolationForest, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

from model_export.compiler import assemblers
from model_export.compiler.interpreters.postgresql import PostgresInterpreter, float_literal
from model_export.compiler.text_sql import (
    TextFeatures,
    UnsupportedStep,
    norm_sql,
    text_features,
    weighted_terms_sql,
)
from model_export.features import FEATURE_NAMES, LogFeatures, MessageColumn

TREE_CLASSIFIERS = (RandomForestClassifier, DecisionTreeClassifier)


@dataclass(frozen=True)
class Seed:
    """A lookup table written as a dbt seed (CSV + column types)."""

    name: str
    columns: tuple[tuple[str, str], ...]
    rows: Sequence[tuple[object, ...]]


@dataclass(frozen=True)
class Compiled:
    """A compiled model: the macro `name(batch)` and the seeds it refs."""

    name: str
    body: str
    seeds: list[Seed] = field(default_factory=list)


@dataclass(frozen=True)
class Outputs:
    """Column names of a classifier macro's outputs."""

    label: str = "predicted_label"
    confidence: str = "confidence"
    explanation: str = "explanation"


LEVEL_OUTPUTS = Outputs("predicted_level", "level_confidence", "level_explanation")


def sql_text(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _argmax_case(scores: Sequence[str], values: Sequence[str]) -> str:
    """values[k] for the first k whose score is the largest (numpy's argmax rule)."""
    branches = []
    for k in range(len(scores) - 1):
        conditions = [f"{scores[k]} > {scores[j]}" for j in range(k)]
        conditions += [f"{scores[k]} >= {scores[j]}" for j in range(k + 1, len(scores))]
        branches.append(f"when {' and '.join(conditions)} then {values[k]}")
    return f"case {' '.join(branches)} else {values[-1]} end"


def pipeline_steps(pipeline: Pipeline) -> list[tuple[str, object]]:
    if not isinstance(pipeline, Pipeline):
        raise UnsupportedStep(type(pipeline).__name__, "expected a fitted sklearn Pipeline")
    return [(n, s) for n, s in pipeline.steps if s not in (None, "passthrough")]


def compile_pipeline(pipeline: Pipeline, name: str, outputs: Outputs = Outputs()) -> Compiled:
    """Compile a fitted Pipeline of supported steps: [MessageColumn] -> TfidfVectorizer or
    CountVectorizer -> LogisticRegression / RandomForestClassifier / DecisionTreeClassifier
    (a text classifier, also scikit-learn's default analyzer), or LogFeatures ->
    IsolationForest / RandomForestClassifier / DecisionTreeClassifier (an anomaly detector).
    Raises UnsupportedStep naming the first step it cannot compile."""
    steps = pipeline_steps(pipeline)
    if steps and isinstance(steps[0][1], MessageColumn):
        steps = steps[1:]
    if len(steps) != 2:
        names = ", ".join(n for n, _ in steps)
        raise UnsupportedStep(names, "expected exactly a feature step and a model step")
    (feature_step, featurizer), (model_step, model) = steps
    if isinstance(featurizer, LogFeatures):
        return _compile_detector(name, featurizer, model_step, model)
    text = text_features(feature_step, featurizer)
    if isinstance(model, LogisticRegression):
        return _compile_linear_text(name, text, model, outputs)
    if isinstance(model, TREE_CLASSIFIERS):
        return _compile_tree_text(name, text, model, outputs)
    raise UnsupportedStep(model_step, f"{type(model).__name__} is not supported over text")


def vocabulary_seed(name: str, text: TextFeatures, extra: dict[str, np.ndarray]) -> Seed:
    columns: tuple[tuple[str, str], ...] = (
        ("term", "text"),
        ("feature_index", "integer"),
        ("idf", "float8"),
    )
    columns += tuple((c, "float8") for c in extra)
    rows = [
        (term, index, float(text.idf[index]), *(float(w[index]) for w in extra.values()))
        for index, term in enumerate(text.terms)
    ]
    return Seed(name, columns, rows)


@dataclass(frozen=True)
class LinearSql:
    """A multinomial or binary LogisticRegression over per-row sums s_k (and the row's norm).

    decisions: select items d_k; proba: a SELECT over `p_decision` keeping its columns and
    adding the probabilities p_k; label and confidence: expressions over d_k and p_k."""

    decisions: str
    proba: str
    label: str
    confidence: str


def linear_sql(model: LogisticRegression, sums: str, normalised: bool) -> LinearSql:
    """`sums` is the alias whose columns s_k (and norm when normalised) hold the row's
    sum of x * w_k; a row without any known term has NULL sums, its decision the intercept."""
    rows = range(np.asarray(model.coef_).shape[0])
    decisions = ",\n        ".join(
        f"coalesce({sums}.s_{k}{f' / {sums}.norm' if normalised else ''}, 0::float8)"
        f" + {float_literal(model.intercept_[k])} as d_{k}"
        for k in rows
    )
    classes = [sql_text(c) for c in model.classes_]
    if len(rows) == 1:
        # Binary: scikit-learn's expit(d) for the second class, 1 - it for the first.
        proba = "select *, 1::float8 / (1::float8 + exp(-d_0)) as p_1 from p_decision"
        label = f"case when d_0 > 0::float8 then {classes[1]} else {classes[0]} end"
        confidence = "case when d_0 > 0::float8 then p_1 else 1::float8 - p_1 end"
        return LinearSql(decisions, proba, label, confidence)
    # Softmax as scikit-learn computes it: subtract the largest decision, exp, normalise.
    d = [f"d_{k}" for k in rows]
    exps = ", ".join(f"exp(d_{k} - d_max) as e_{k}" for k in rows)
    total = " + ".join(f"e_{k}" for k in rows)
    probas = ", ".join(f"e_{k} / ({total}) as p_{k}" for k in rows)
    proba = f"""select *, {probas}
    from (
        select *, {exps}
        from (select *, greatest({", ".join(d)}) as d_max from p_decision) as p_m
    ) as p_e"""
    return LinearSql(
        decisions, proba, _argmax_case(d, classes), _argmax_case(d, [f"p_{k}" for k in rows])
    )


def _compile_linear_text(
    name: str, text: TextFeatures, model: LogisticRegression, outputs: Outputs
) -> Compiled:
    # A linear model over a vocabulary is a join with a weights seed, not an expression
    # with one term per word: w_k is the coefficient row k per term.
    coef = np.asarray(model.coef_, dtype=np.float64)
    rows = range(coef.shape[0])
    seed = vocabulary_seed(f"{name}_vocabulary", text, {f"w_{k}": coef[k] for k in rows})
    norm = norm_sql(text)
    sums = ",\n        ".join(f"sum(x * w_{k}) as s_{k}" for k in rows)
    linear = linear_sql(model, "p_s", norm is not None)
    body = f"""with

{weighted_terms_sql(text, "p", seed.name)},

p_sums as (
    select
        log_entry_id,
        {norm or "null::float8"} as norm,
        {sums}
    from p_weighted
    group by log_entry_id
),

p_decision as (
    select
        p_b.log_entry_id,
        {linear.decisions}
    from {{{{ batch }}}} as p_b
    left join p_sums as p_s on p_s.log_entry_id = p_b.log_entry_id
),

p_proba as (
    {linear.proba}
),

final as (
    select
        log_entry_id,
        {linear.label} as {outputs.label},
        {linear.confidence} as {outputs.confidence}
    from p_proba
)

select
    log_entry_id,
    {outputs.label},
    {outputs.confidence},
    -- Plain text only: formatting numbers per row costs more than the model.
    'the message terms weigh most for ' || {outputs.label} as {outputs.explanation}
from final"""
    return Compiled(name, body, [seed])


def _used_features(expr: ast.Expr, found: set[int]) -> set[int]:
    if isinstance(expr, ast.FeatureRef):
        found.add(expr.index)
    for child in vars(expr).values():
        if isinstance(child, ast.Expr):
            _used_features(child, found)
        elif isinstance(child, list):
            for item in child:
                if isinstance(item, ast.Expr):
                    _used_features(item, found)
    return found


def _tree_probabilities(model: object, features: Sequence[str], alias: str) -> str:
    """Lateral FROM items ending in `alias` with columns p_0.. p_K-1, the class
    probabilities: every tree is evaluated once to its leaf ordinal, then per class the
    leaves' probabilities, looked up in constant arrays, are summed in tree order."""
    votes = assemblers.tree_votes(model)
    interpreter = PostgresInterpreter(features)
    leaves = row_unnest([interpreter.render(t) for t in votes.trees], f"{alias}_l", "l", "int")
    sums = []
    for k in range(votes.leaves[0].shape[1]):
        terms = [
            "('{" + ",".join(repr(float(v)) for v in table[:, k]) + "}'::float8[])"
            f"[{alias}_l.l_{t}]"
            for t, table in enumerate(votes.leaves)
        ]
        total = "\n            + ".join(terms)
        sums.append(f"({total}) / {float_literal(votes.divisor)}" if votes.divisor else total)
    return f"{leaves}\n    cross join lateral {row_unnest(sums, alias, 'p')}"


def row_unnest(
    expressions: Sequence[str], alias: str, prefix: str, sql_type: str = "float8"
) -> str:
    """`unnest(array[row(e0, e1, ...)]) as alias (<prefix>_0 type, ...)`: evaluates each
    expression once per row however often the outputs are referenced (a lateral function
    scan is never flattened into the outer query, where a subquery's expressions would be
    copied into every reference); one function call for all of them, row-local (it pushes
    down on Citus)."""
    values = ",\n        ".join(expressions)
    names = ", ".join(f"{prefix}_{k} {sql_type}" for k in range(len(expressions)))
    return f"unnest(array[row(\n        {values}\n    )]) as {alias} ({names})"


def _compile_tree_text(name: str, text: TextFeatures, model: Any, outputs: Outputs) -> Compiled:
    votes = assemblers.tree_votes(model)
    used = sorted(set().union(*(_used_features(t, set()) for t in votes.trees)))
    seed = vocabulary_seed(f"{name}_vocabulary", text, {})
    norm = norm_sql(text)
    names = [f"f_{i}" for i in range(len(text.terms))]
    filtered = "".join(
        f",\n        sum(x) filter (where feature_index = {i}) as f_{i}" for i in used
    )
    scaled = "".join(
        f",\n        coalesce(p_s.f_{i}{' / p_s.norm' if norm else ''}, 0::float8)::float4 as f_{i}"
        for i in used
    )
    lateral = _tree_probabilities(model, names, "p_p")
    p = [f"p_{k}" for k in range(len(model.classes_))]
    classes = [sql_text(c) for c in model.classes_]
    body = f"""with

{weighted_terms_sql(text, "p", seed.name)},

p_sums as (
    select log_entry_id, {norm or "null::float8"} as norm{filtered}
    from p_weighted
    group by log_entry_id
),

p_features as (
    select p_b.log_entry_id{scaled}
    from {{{{ batch }}}} as p_b
    left join p_sums as p_s on p_s.log_entry_id = p_b.log_entry_id
),

p_proba as (
    select p_f.log_entry_id, p_p.*
    from p_features as p_f
    cross join lateral {lateral}
)

select
    log_entry_id,
    {_argmax_case(p, classes)} as {outputs.label},
    {_argmax_case(p, p)} as {outputs.confidence},
    'tree ensemble over message terms' as {outputs.explanation}
from p_proba"""
    return Compiled(name, body, [seed])


TEMPLATE_FREQUENCY = "ml_template_frequency"


def template_seed(features: LogFeatures, name: str = TEMPLATE_FREQUENCY) -> Seed:
    rows = [(h, float(f)) for h, f in sorted(features.template_frequency_.items())]
    return Seed(name, (("template_hash", "text"), ("frequency", "float8")), rows)


LEVEL_NAME = """case level_ordinal
            when 0::float8 then 'DEBUG' when 1::float8 then 'INFO' when 2::float8 then 'WARN'
            when 3::float8 then 'ERROR' when 4::float8 then 'FATAL'
        end"""

# Plain text only: formatting numbers per row costs more than the model.
_DETECTOR_EXPLANATION = """case
            when template_frequency = 0::float8 then 'template never seen in training'
            when template_frequency < 0.001::float8 then 'rare template (< 0.1% of training lines)'
            else 'common template'
        end
        || '; level ' || coalesce(level_name, 'unknown')"""


@dataclass(frozen=True)
class DetectorSql:
    """A detector over the log features, in parts that a query can place where it needs them.

    lateral: FROM items to append after `from <features> as a_f` (the float4 cast of the
    features, then the model, each evaluated once per row); raw: (expression, name) of the
    model's raw outputs; score: the raw name that is anomaly_score; is_anomaly and confidence:
    expressions over the raw names; explanation: over template_frequency and level_name."""

    lateral: str
    raw: list[tuple[str, str]]
    score: str
    is_anomaly: str
    confidence: str
    explanation: str

    def outputs(self, indent: str) -> str:
        """The select items of the detector's output columns, in order."""
        return f",\n{indent}".join(
            [
                f"{self.score} as anomaly_score",
                f"{self.is_anomaly} as is_anomaly",
                f"{self.confidence} as anomaly_confidence",
                f"{self.explanation} as anomaly_explanation",
            ]
        )


def detector_sql(model_step: str, model: object) -> DetectorSql:
    # The trees read the features as float32, as scikit-learn's trees do: cast once per row.
    columns = [f"a_x.x_{i}" for i in range(len(FEATURE_NAMES))]
    as_float4 = row_unnest([f"a_f.{n}::float4" for n in FEATURE_NAMES], "a_x", "x", "float4")
    if isinstance(model, IsolationForest):
        offset = float(model.offset_)
        # The score is -score_samples; decision_function is score_samples - offset_ and the
        # line is an anomaly when it is negative.
        score = PostgresInterpreter(columns).render(
            assemblers.isolation_forest_score(model, len(columns))
        )
        lateral = f"""cross join lateral {as_float4}
    cross join lateral {row_unnest([score], "a_s", "s")}"""
        raw = [("a_s.s_0", "anomaly_score")]
        decision = f"(-anomaly_score) - {float_literal(offset)}"
        confidence = f"""case
            when {decision} < 0::float8 then -({decision}) / {float_literal(1.0 + offset)}
            else ({decision}) / {float_literal(-offset)}
        end"""
        return DetectorSql(
            lateral,
            raw,
            "anomaly_score",
            f"{decision} < 0::float8",
            confidence,
            f"'isolation forest: ' || {_DETECTOR_EXPLANATION}",
        )
    if isinstance(model, TREE_CLASSIFIERS):
        positive = [bool(c) for c in model.classes_].index(True)
        lateral = f"""cross join lateral {as_float4}
    cross join lateral {_tree_probabilities(model, columns, "a_p")}"""
        p = [f"p_{k}" for k in range(len(model.classes_))]
        return DetectorSql(
            lateral,
            [(f"a_p.{name}", name) for name in p],
            p[positive],
            _argmax_case(p, [str(bool(c)) for c in model.classes_]),
            _argmax_case(p, p),
            f"'supervised tree model: ' || {_DETECTOR_EXPLANATION}",
        )
    raise UnsupportedStep(model_step, f"{type(model).__name__} is not a supported detector")


def _compile_detector(name: str, features: LogFeatures, model_step: str, model: object) -> Compiled:
    detector = detector_sql(model_step, model)
    raw = ", ".join(f"{expression} as {column}" for expression, column in detector.raw)
    body = f"""with

a_features as (
    select
        *,
        {LEVEL_NAME} as level_name
    from ({{{{ log_features(batch, '{TEMPLATE_FREQUENCY}') }}}}) as a_lf
),

a_scored as (
    select a_f.*, {raw}
    from a_features as a_f
    {detector.lateral}
)

select
    log_entry_id,
    {detector.outputs("    ")}
from a_scored"""
    return Compiled(name, body, [template_seed(features)])
