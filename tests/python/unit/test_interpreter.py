"""The PostgreSQL interpreter: IR -> SQL text, without a database. Golden snippets for every
node type and binding, the float literal round trip, the argmax tie rule, the shapes the
scorer's speed depends on, bounded line length, and a golden file for a small compiled
scorer (UPDATE_GOLDEN=1 rewrites it after a deliberate change; review the diff)."""

from __future__ import annotations

import itertools
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from m2cgen import ast
from m2cgen.assemblers.utils import add, div, lte
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

from model_export.compiler import ir
from model_export.compiler.assemblers import trees
from model_export.compiler.interpreters import postgresql
from model_export.compiler.interpreters.postgresql import expression, float_literal, render
from model_export.compiler.names import ScorerNames
from model_export.compiler.scorer import compile_scorer
from model_export.training import pipelines
from model_export.training.features import LogFeatures

GOLDEN = Path(__file__).parent / "golden" / "ml_score_vtiny.sql"
# The compiler takes any names its caller gives (a model version's come from
# model_export.lifecycle.versions); the golden file's are these.
TINY = ScorerNames(
    macro="ml_score_vtiny",
    level_vocabulary="ml_level_classifier_vocabulary_vtiny",
    template_frequency="ml_template_frequency_vtiny",
    template_labels="ml_template_labels_vtiny",
    training_history="ml_detector_training_history_vtiny",
    template_masks="ml_template_masks_vtiny",
    known_templates="ml_templates_vtiny",
    history_key="vtiny",
)
SCOPE = {n: f"t.{n}" for n in ("a", "b", "c", "d", "leaf", "message")}
A, B, C = ir.Ref("a"), ir.Ref("b"), ir.Ref("c")
FLOAT = ir.DType.FLOAT64


def sql(expr: ast.Expr) -> str:
    return expression(expr, SCOPE)


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (ast.NumVal(3, dtype=int), "3"),
        (ast.NumVal(0.1), "0.1::float8"),
        (ast.NumVal(-2.5), "(-2.5)::float8"),
        (ast.NumVal(-0.0), "(-0.0)::float8"),
        (ast.NumVal(5e-324), "5e-324::float8"),
        (ast.NumVal(float("nan")), "'NaN'::float8"),
        (ast.NumVal(float("-inf")), "'-Infinity'::float8"),
        (ir.Text("it's"), "'it''s'"),
        (ir.Bool(False), "false"),
        (A, "t.a"),
    ],
)
def test_leaves(value: ast.Expr, literal: str) -> None:
    assert sql(value) == literal


@given(st.floats(allow_nan=False))
def test_float_literals_read_back_as_the_same_float(value: float) -> None:
    literal = float_literal(value)
    assert literal.endswith("::float8")
    text = literal.removesuffix("::float8").strip("()'").replace("Infinity", "inf")
    assert float(text) == value and math.copysign(1, float(text)) == math.copysign(1, value)


def test_operators() -> None:
    assert sql(ast.BinNumExpr(A, ast.NumVal(2.0), ast.BinNumOpType.MUL)) == "(t.a * 2.0::float8)"
    assert sql(add(add(A, B), C)) == "(t.a + t.b + t.c)"  # left to right, as sklearn sums
    assert sql(add(A, add(B, C))) == "(t.a + (t.b + t.c))"
    assert sql(ast.CompExpr(A, B, ast.CompOpType.NOT_EQ)) == "t.a <> t.b"
    assert sql(ast.CompExpr(A, B, ast.CompOpType.EQ)) == "t.a = t.b"
    assert sql(ast.PowExpr(ast.NumVal(2.0), A)) == "power(2.0::float8, t.a)"
    # clamped where PostgreSQL's exp() would stop the query (numpy gives 0 or inf there)
    assert sql(ast.ExpExpr(A)) == "exp(least(greatest(t.a, -745.133), 709.782))"
    assert sql(ast.SigmoidExpr(A)) == (
        "(1.0::float8 / (1.0::float8 + exp(least(greatest(-t.a, -745.133), 709.782))))"
    )
    assert sql(ir.Max((A, B))) == "greatest(t.a, t.b)"
    assert sql(ir.Concat((ir.Text("level "), A))) == "'level ' || t.a"
    assert sql(ir.LogTemplate(ir.Ref("message"))) == "{{ log_template('t.message') }}"
    with pytest.raises(ValueError, match="d is not bound"):
        expression(ir.Ref("d"), {})


def test_float32_is_a_float4_cast_of_one_operand() -> None:
    assert sql(ir.Float32(A)) == "t.a::float4"
    assert sql(ir.Float32(add(A, B))) == "(t.a + t.b)::float4"
    assert sql(ir.Float32(ir.Max((A, B)))) == "greatest(t.a, t.b)::float4"
    assert sql(ir.Float32(ast.NumVal(-1.0))) == "((-1.0)::float8)::float4"


def test_a_leaf_lookup_is_a_constant_array_at_an_integer_subscript() -> None:
    assert sql(ir.Lookup((0.5, 0.25), ir.Ref("leaf"))) == "('{0.5,0.25}'::float8[])[t.leaf]"
    long = sql(ir.Lookup(tuple(float(i) / 7 for i in range(60)), ir.Ref("leaf")))
    assert "\n" in long and max(len(line) for line in long.split("\n")) <= 100
    numbers = re.sub(r"\s", "", long.split("'")[1]).strip("{}").split(",")
    assert [float(n) for n in numbers] == [float(i) / 7 for i in range(60)]


def test_nested_case_has_one_condition_per_line_and_else_chains_flattened() -> None:
    tree = ast.IfExpr(
        lte(A, ast.NumVal(0.5)),
        ast.IfExpr(lte(B, ast.NumVal(1.5)), ast.NumVal(1, dtype=int), ast.NumVal(2, dtype=int)),
        ast.IfExpr(lte(C, ast.NumVal(2.5)), ast.NumVal(3, dtype=int), ast.NumVal(4, dtype=int)),
    )
    assert sql(tree) == (
        "case\n"
        "    when t.a <= 0.5::float8 then case\n"
        "        when t.b <= 1.5::float8 then 1\n"
        "        else 2\n"
        "    end\n"
        "    when t.c <= 2.5::float8 then 3\n"
        "    else 4\n"
        "end"
    )


def test_argmax_takes_the_first_of_tied_scores() -> None:
    argmax = sql(ir.Argmax((A, B, C), (ir.Text("x"), ir.Text("y"), ir.Text("z"))))
    assert argmax == (
        "case\n"
        "    when t.a >= t.b and t.a >= t.c then 'x'\n"
        "    when t.b > t.a and t.b >= t.c then 'y'\n"
        "    else 'z'\n"
        "end"
    )
    # The same text, read as the database reads it, against numpy's argmax on every tie.
    branches = re.findall(r"when (.*) then '(\w)'", argmax)
    operators = {">": float.__gt__, ">=": float.__ge__}
    for scores in itertools.product([0.0, 1.0], repeat=3):
        named = dict(zip(["t.a", "t.b", "t.c"], scores, strict=True))
        chosen = next(
            (
                value
                for conditions, value in branches
                if all(
                    operators[op](named[left], named[right])
                    for left, op, right in (c.split(" ") for c in conditions.split(" and "))
                )
            ),
            "z",
        )
        assert chosen == "xyz"[int(np.argmax(scores))], scores
    assert sql(ir.Argmax((A,), (ir.Text("only"),))) == "'only'"


def test_long_argmax_conditions_go_one_per_line() -> None:
    scores = tuple(ir.Ref(f"decision_{k}") for k in range(5))
    scope = {s.name: f"decision.{s.name}" for s in scores}
    text = expression(ir.Argmax(scores, scores), scope)
    assert "\n        and decision.decision_0 >= decision.decision_2\n" in text
    assert max(len(line) for line in text.split("\n")) <= 100


SEED = ir.Seed(
    "vocabulary",
    (("term", ir.DType.TEXT), ("feature_index", ir.DType.INT), ("idf", FLOAT), ("w_0", FLOAT)),
    (("disk", 0, 1.5, 0.25),),
)
BATCH = ir.Batch(("log_entry_id", "message"))
KEY = ("log_entry_id", ir.Ref("log_entry_id"))


def test_a_let_is_a_lateral_function_scan_evaluated_once_per_row() -> None:
    x = ir.vector(
        "x", [ir.Float32(ir.Ref("message")), ir.Float32(ir.Ref("log_entry_id"))], ir.DType.FLOAT32
    )
    body = render(ir.Program(BATCH, (x,), (KEY, ("first", ir.Ref("x_0")))))
    assert body == (
        "select\n"
        "    logs.log_entry_id,\n"
        "    x.x_0 as first\n"
        "from {{ batch }} as logs\n"
        "cross join lateral unnest(array[row(logs.message::float4, logs.log_entry_id::float4)])"
        " as x (x_0 float4, x_1 float4)"
    )


def term_sums(tf: ir.Tf, norm: ir.Norm | None, text: str = "message") -> ir.TermSums:
    tokens = ir.Tokens(ir.LogTemplate(ir.Ref(text)), ir.Analyzer.TEMPLATE)
    return ir.TermSums("tfidf", tokens, SEED, tf, norm, (("dot_0", "w_0"), ("term_0", 0)))


def test_term_sums_over_a_batch_are_one_group_by_left_joined_back() -> None:
    sums = term_sums(ir.Tf.RAW, ir.Norm.L1)
    body = render(
        ir.Program(BATCH, (sums,), (KEY, ("s", ir.Ref("dot_0")), ("t", ir.Ref("term_0"))))
    )
    assert body == (
        "select\n"
        "    logs.log_entry_id,\n"
        "    coalesce(tfidf.dot_0 / tfidf.norm, 0.0::float8) as s,\n"
        "    coalesce(tfidf.term_0 / tfidf.norm, 0.0::float8) as t\n"
        "from {{ batch }} as logs\n"
        "left join (\n"
        "    select\n"
        "        tfidf_weighted.log_entry_id,\n"
        "        sum(abs(tfidf_weighted.x)) as norm,\n"
        "        sum(tfidf_weighted.x * tfidf_weighted.w_0) as dot_0,\n"
        "        sum(tfidf_weighted.x) filter (where tfidf_weighted.feature_index = 0) as term_0\n"
        "    from (\n"
        "        select logs_2.log_entry_id, vocabulary.idf as x, vocabulary.w_0,"
        " vocabulary.feature_index\n"
        "        from {{ batch }} as logs_2\n"
        "        cross join lateral string_to_table({{ log_template('logs_2.message') }}, ' ')"
        " as tokens (token)\n"
        "        inner join {{ ref('vocabulary') }} as vocabulary\n"
        "            on vocabulary.term = tokens.token\n"
        "        where tokens.token <> ''\n"
        "    ) as tfidf_weighted\n"
        "    group by tfidf_weighted.log_entry_id\n"
        ") as tfidf on tfidf.log_entry_id = logs.log_entry_id"
    )


def test_term_frequencies_that_need_counts_count_terms_first() -> None:
    program = ir.Program(BATCH, (term_sums(ir.Tf.SUBLINEAR, ir.Norm.L2),), (KEY,))
    body = render(program)
    assert "sqrt(sum(tfidf_weighted.x * tfidf_weighted.x)) as norm" in body
    assert "(ln(counts.tf::float8) + 1.0::float8) * vocabulary.idf as x" in body
    assert "group by logs_2.log_entry_id, tokens.token" in body
    binary = render(
        ir.Program(BATCH, (term_sums(ir.Tf.BINARY, None),), (KEY, ("s", ir.Ref("dot_0"))))
    )
    assert "1.0::float8 * vocabulary.idf as x" in binary
    assert "coalesce(tfidf.dot_0, 0.0::float8) as s" in binary


def test_a_memoized_program_is_one_lateral_subquery_without_a_cte() -> None:
    level = ir.Program(
        None, (term_sums(ir.Tf.RAW, ir.Norm.L1, "template"),), (("s", ir.Ref("dot_0")),)
    )
    frequency = ir.Seed("frequency", (("template_hash", ir.DType.TEXT),), ())
    program = ir.Program(
        ir.LogFeatureRows(frequency, with_template=True),
        (ir.Memoized("level", ir.Ref("template"), level),),
        (KEY, ("s", ir.Ref("s"))),
    )
    body = render(program)
    assert body.startswith(
        "select\n"
        "    features.log_entry_id,\n"
        "    level.s\n"
        "from ({{ log_features(batch, 'frequency', with_template=true) }}) as features\n"
        "-- Once per distinct features.template: the subquery reads nothing else of the row,\n"
    )
    lateral = body[body.index("cross join lateral (") :]
    assert lateral.endswith("    offset 0\n) as level")  # one subquery PostgreSQL memoizes
    assert not re.search(r"\bwith\b", lateral)  # Citus loses the CTEs of a lateral subquery
    assert "group by" not in lateral  # one row per template, even without known tokens
    # LATERAL written out: Citus loses the outer reference of a function scan without it
    assert "from lateral string_to_table({{ log_template('features.template') }}, ' ')" in lateral
    with pytest.raises(ValueError, match="needs a source"):
        render(level)


def test_tree_lines_stay_short_whatever_the_depth() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 6))
    model = DecisionTreeClassifier(max_depth=12, random_state=0).fit(x, rng.integers(0, 3, 3000))
    features = [ir.Ref(f"x_{j}") for j in range(6)]
    votes = trees.tree_classifier(model, features)
    program = ir.Program(
        ir.Batch(("log_entry_id", *(f.name for f in features))),
        votes.bindings,
        (KEY, ("p", votes.probabilities[0])),
    )
    lines = render(program).split("\n")
    assert max(len(line) for line in lines) <= 120
    assert sum(line.lstrip().startswith("when ") for line in lines) == model.tree_.node_count // 2


def test_types_of_bound_values_and_seeds() -> None:
    assert [postgresql.column_type(t) for t in ir.DType] == [
        "float8",
        "float4",
        "integer",
        "text",
        "boolean",
        "varbit",
    ]


def tiny_scorer() -> str:
    """A scorer over a hand-set level classifier and a depth-2 tree detector: both fitted on
    fixed rows, so the text depends only on the compiler."""
    frame = pd.DataFrame(
        {
            "message": ["disk 3 failed", "disk ok", "user 42 logged in", "user failed", "ok"] * 4,
            "level": ["ERROR", "INFO", "INFO", "WARN", "INFO"] * 4,
            "http_status": [500.0, 200.0, 200.0, 401.0, np.nan] * 4,
            "response_time_ms": [900.0, 12.0, 30.0, 15.0, 1.0] * 4,
        }
    )
    level = pipelines.level_classifier(seed=0).fit(frame, frame["level"])
    terms = len(level[1].vocabulary_)
    level[-1].coef_ = np.arange(3 * terms, dtype=np.float64).reshape(3, terms) / 8 - 1.0
    level[-1].intercept_ = np.array([0.5, -0.25, 0.0])
    detector = Pipeline(
        [
            ("features", LogFeatures()),
            ("detector", DecisionTreeClassifier(max_depth=2, random_state=0)),
        ]
    ).fit(frame, frame["level"] == "ERROR")
    return compile_scorer(level, detector, TINY).body + "\n"


def test_a_small_scorer_compiles_to_the_golden_file() -> None:
    body = tiny_scorer()
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(body, encoding="utf-8")
    assert body == GOLDEN.read_text(encoding="utf-8")


def test_the_history_is_read_row_locally_with_the_training_seed() -> None:
    """The history columns come from the source like any feature (lookups by equality in
    the log_features macro, no window over the batch), so the scoring stays row-local and
    Citus pushes it down; the training history seed is handed to the macro by name."""
    level = ir.Program(
        None, (term_sums(ir.Tf.RAW, ir.Norm.L1, "template"),), (("s", ir.Ref("dot_0")),)
    )
    frequency = ir.Seed("frequency", (("template_hash", ir.DType.TEXT),), ())
    trained = ir.Seed("trained_v9", (("template_hash", ir.DType.TEXT),), ())
    rarity = ir.Let(
        "rarity",
        (("r", div(ast.NumVal(10.0), add(ast.NumVal(10.0), ir.Ref("template_lines")))),),
        ir.DType.FLOAT64,
    )
    program = ir.Program(
        ir.LogFeatureRows(frequency, with_template=True, history_key="v9", trained=trained),
        (ir.Memoized("level", ir.Ref("template"), level), rarity),
        (KEY, ("s", ir.Ref("s")), ("r", ir.Ref("r")), ("n", ir.Ref("service_lines"))),
    )
    body = render(program)
    assert (
        "from ({{ log_features(batch, 'frequency', history_version='v9', history=history,"
        " trained_seed='trained_v9') }}) as features" in body
    )
    assert " over (" not in body
    assert "features.template_lines" in body and "features.service_lines as n" in body
    assert program.seeds()[:2] == [frequency, trained]
