"""The intermediate form checks its invariants when it is built: an assembler cannot hand the
interpreter a name it never bound, a value of the wrong type or a memoized sub-program that
reads more of the row than its key."""

from __future__ import annotations

import pytest
from m2cgen import ast

from model_export.compiler import ir

FLOAT = ir.DType.FLOAT64
SEED = ir.Seed(
    "vocabulary",
    (("term", ir.DType.TEXT), ("feature_index", ir.DType.INT), ("idf", FLOAT), ("w_0", FLOAT)),
    (("disk", 0, 1.5, 0.25), ("failed", 1, 2.0, -1.0)),
)
BATCH = ir.Batch(("log_entry_id", "message"))
KEY = ("log_entry_id", ir.Ref("log_entry_id"))


def sums(name: str = "tfidf", text: str = "template") -> ir.TermSums:
    tokens = ir.Tokens(ir.Ref(text), ir.Analyzer.TEMPLATE)
    return ir.TermSums(name, tokens, SEED, ir.Tf.RAW, ir.Norm.L1, (("dot_0", "w_0"),))


def test_names_are_lowercase_identifiers() -> None:
    with pytest.raises(ValueError, match="identifier"):
        ir.Ref("Level")
    with pytest.raises(ValueError, match="identifier"):
        ir.Ref("a; drop table x")


def test_a_program_reads_only_names_bound_before() -> None:
    late = ir.vector("late", [ast.NumVal(1.0)], FLOAT)
    early = ir.vector("early", [ir.Ref("late_0")], FLOAT)
    with pytest.raises(ValueError, match="unbound names: \\['late_0'\\]"):
        ir.Program(BATCH, (early, late), (KEY,))
    ok = ir.Program(BATCH, (late, early), (KEY, ("value", ir.Ref("early_0"))))
    assert ok.free_names() == set()


def test_a_name_is_bound_once() -> None:
    first = ir.Let("a", (("message", ast.NumVal(1.0)),), FLOAT)
    with pytest.raises(ValueError, match="message is bound twice"):
        ir.Program(BATCH, (first,), (KEY,))
    with pytest.raises(ValueError, match="two bindings named x"):
        ir.Program(
            BATCH,
            (
                ir.vector("x", [ast.NumVal(1.0)], FLOAT),
                ir.Let("x", (("y", ast.NumVal(2.0)),), FLOAT),
            ),
            (KEY,),
        )


def test_let_values_have_its_type() -> None:
    ir.vector("leaf", [ast.NumVal(3, dtype=int)], ir.DType.INT)
    with pytest.raises(ValueError, match="is not int"):
        ir.vector("leaf", [ast.NumVal(3.0)], ir.DType.INT)
    with pytest.raises(ValueError, match="is not float32"):
        ir.vector("x", [ir.Ref("a"), ast.NumVal(0.5)], ir.DType.FLOAT32)
    with pytest.raises(ValueError, match="cannot bind"):
        ir.vector("label", [ir.Text("INFO")], ir.DType.TEXT)


def test_typed_nodes_reject_what_would_not_mean_anything() -> None:
    with pytest.raises(ValueError, match="integer"):
        ir.Lookup((0.5, 0.25), ast.NumVal(1.0))
    with pytest.raises(ValueError, match="one value per score"):
        ir.Argmax((ir.Ref("a"), ir.Ref("b")), (ir.Text("x"),))
    with pytest.raises(ValueError, match="different types"):
        ir.dtype_of(ast.IfExpr(ir.Bool(True), ast.NumVal(1, dtype=int), ast.NumVal(1.0)))
    with pytest.raises(ValueError, match="lowercase"):
        ir.Tokens(ir.Ref("message"), ir.Analyzer.TEMPLATE, lowercase=True)


def test_term_sums_read_columns_of_their_vocabulary() -> None:
    tokens = ir.Tokens(ir.Ref("message"), ir.Analyzer.DEFAULT)
    with pytest.raises(ValueError, match="w_1 is not a weight column"):
        ir.TermSums("t", tokens, SEED, ir.Tf.RAW, None, (("s", "w_1"),))
    with pytest.raises(ValueError, match="feature index 2"):
        ir.TermSums("t", tokens, SEED, ir.Tf.RAW, None, (("s", 2),))
    assert sums().per_occurrence()
    l2 = ir.TermSums("t", tokens, SEED, ir.Tf.RAW, ir.Norm.L2, (("s", 1),))
    assert not l2.per_occurrence()


def test_a_memoized_program_reads_exactly_its_key() -> None:
    level = ir.Program(None, (sums(),), (("score", ir.Ref("dot_0")),))
    assert level.free_names() == {"template"}
    ir.Memoized("level", ir.Ref("template"), level)
    with pytest.raises(ValueError, match="exactly its key message"):
        ir.Memoized("level", ir.Ref("message"), level)
    with pytest.raises(ValueError, match="no source"):
        ir.Memoized("level", ir.Ref("template"), ir.Program(BATCH, (), (KEY,)))


def test_seeds_are_collected_once_in_reading_order() -> None:
    frequency = ir.Seed("frequency", (("template_hash", ir.DType.TEXT),), (("abc",),))
    level = ir.Program(None, (sums(),), (("score", ir.Ref("dot_0")),))
    program = ir.Program(
        ir.LogFeatureRows(frequency, with_template=True),
        (sums("direct"), ir.Memoized("level", ir.Ref("template"), level)),
        (KEY, ("score", ir.Ref("score"))),
    )
    assert [s.name for s in program.seeds()] == ["frequency", "vocabulary"]
    with pytest.raises(ValueError, match="a row does not have 2 values"):
        ir.Seed("bad", (("a", FLOAT), ("b", FLOAT)), ((1.0,),))
