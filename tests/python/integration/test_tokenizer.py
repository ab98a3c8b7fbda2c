"""The SQL tokenizers against the Python ones, in the real database, property based:
model_export's log tokenizer (macro log_template) must agree on any text; the compiled form
of scikit-learn's default analyzer must agree on ASCII text (beyond ASCII it follows the
database collation: see docs/internals/compiler.md)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import CountVectorizer

from dbt_project.database import PROJECT_ROOT, connect
from model_export.compiler import ir
from model_export.compiler.assemblers.text import message_tokens, read_vectorizer
from model_export.compiler.interpreters.postgresql import split_tokens
from model_export.compiler.render import render_macro
from model_export.training.tokenizer import log_template, log_tokens

# PostgreSQL text cannot hold NUL; surrogates are not text.
ANY_CHAR = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))
LOG_LIKE = st.sampled_from(list("aZzA09fF_-./:=[]()<> \t\n,;'\"@#%é\u00c9\u00dfİıſK€中\u00a0٣"))
TEXTS = st.one_of(
    st.text(ANY_CHAR, max_size=120),
    st.text(LOG_LIKE, max_size=120),
    st.text(st.sampled_from(list("abcdef0123456789 -_.")), max_size=120),
)
PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def sql_values(url: str, expression: str, texts: list[str]) -> list[object]:
    """`expression` over u.text for each text, in order."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            f"select {expression} from unnest(%s::text[]) with ordinality as u(text, n) order by n",
            (texts,),
        )
        return [row[0] for row in cur.fetchall()]


def sql_templates(url: str, texts: list[str]) -> list[str]:
    return [
        str(v)
        for v in sql_values(url, render_macro(PROJECT_ROOT, "log_template", "-", "u.text"), texts)
    ]


@PROPERTY
@given(texts=st.lists(TEXTS, min_size=1, max_size=25))
def test_log_template_sql_equals_python(server_url: str, texts: list[str]) -> None:
    assert sql_templates(server_url, texts) == [log_template(t) for t in texts]


def test_log_template_edge_cases(server_url: str) -> None:
    long_line = ("ERROR blk_-1608999687919862906 at 0xDEADbeef /var/log/x.log: Ünïcode Ω " * 120)[
        :8192
    ]
    texts = ["", " ", "....,,;;", "A", "9", "v2.1.0-rc1", "__init__", "İstanbul KELVIN", long_line]
    assert sql_templates(server_url, texts) == [log_template(t) for t in texts]
    assert log_tokens("Took 35ms for user=U123 at 10.0.0.1") == [
        "took",
        "NUM",
        "for",
        "user",
        "NUM",
        "at",
        "NUM",
        "NUM",
        "NUM",
        "NUM",
    ]


def default_analyzer_sql(url: str, texts: list[str]) -> list[list[str]]:
    vectorizer = CountVectorizer().fit(["fitted only so that its settings can be read"])
    tokens = message_tokens(read_vectorizer("vectorizer", vectorizer), ir.Ref("text"))
    split, keep = split_tokens(tokens, {"text": "u.text"}, "s.token")
    expression = (
        f"array(select s.token from {split} with ordinality as s(token, i)"
        f" where {keep} order by s.i)"
    )
    return sql_values(url, expression, texts)


@PROPERTY
@given(texts=st.lists(st.text(st.characters(min_codepoint=1, max_codepoint=127)), max_size=25))
def test_default_analyzer_sql_equals_sklearn_on_ascii(server_url: str, texts: list[str]) -> None:
    analyzer = CountVectorizer().build_analyzer()
    assert default_analyzer_sql(server_url, texts) == [analyzer(t) for t in texts]


def test_default_analyzer_beyond_ascii_follows_letters(server_url: str) -> None:
    """Measured on the embedded server (C.UTF-8): every BMP letter and decimal digit agrees
    except U+0130 (Python lowercases it to two characters); combining marks, other numbers
    (superscripts, fractions) and some symbols do not (docs/internals/compiler.md)."""
    with connect(server_url) as conn, conn.cursor() as cur:
        cur.execute("select datctype from pg_database where datname = current_database()")
        if cur.fetchone()[0] != "C.UTF-8":
            pytest.skip("the measured facts are those of a C.UTF-8 database")
    letters = [
        chr(c)
        for c in range(128, 0x10000)
        if unicodedata.category(chr(c)) in {"Lu", "Ll", "Lt", "Lm", "Lo", "Nd"}
    ]
    texts = [f"ab{c}cd {c}{c}x" for c in letters]
    analyzer = CountVectorizer().build_analyzer()
    disagreeing = [
        c
        for c, text, got in zip(
            letters, texts, default_analyzer_sql(server_url, texts), strict=True
        )
        if got != analyzer(text)
    ]
    assert disagreeing == ["\u0130"]
