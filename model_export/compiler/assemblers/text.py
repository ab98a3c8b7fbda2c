"""Fitted text vectorizers (TfidfVectorizer, CountVectorizer) -> IR: the tokens of a text and
their tf-idf values summed per row against a vocabulary seed (term -> feature index, idf and
per-term weights). Tokens outside the vocabulary (stop words included) contribute nothing, as
in scikit-learn. Settings whose SQL would not be exact are rejected."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from m2cgen import ast
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from model_export.compiler import ir
from model_export.compiler.assemblers import UnsupportedStep
from model_export.training.tokenizer import log_tokens

# scikit-learn's default analyzer: lowercase, then maximal runs of >= 2 word characters.
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"


@dataclass(frozen=True)
class Vectorizer:
    """What the IR needs from a fitted vectorizer."""

    terms: tuple[str, ...]  # by feature index
    idf: np.ndarray  # per feature index (ones without idf)
    log_tokenizer: bool  # model_export's tokenizer, else scikit-learn's default analyzer
    lowercase: bool
    tf: ir.Tf
    norm: ir.Norm | None
    ngram_range: tuple[int, int] = (1, 1)
    stop_words: frozenset[str] = frozenset()  # removed before n-grams are formed


def read_vectorizer(step: str, vectorizer: object) -> Vectorizer:
    """Read a fitted vectorizer, rejecting settings whose SQL would not be exact."""
    if not isinstance(vectorizer, CountVectorizer):
        raise UnsupportedStep(step, f"{type(vectorizer).__name__} is not a supported vectorizer")
    v = vectorizer
    if v.analyzer in ("char", "char_wb"):
        raise UnsupportedStep(
            step, f"analyzer={v.analyzer!r}: character n-grams are not compiled; use 'word'"
        )
    checks = {
        "analyzer must be 'word'": v.analyzer == "word",
        "preprocessor is not supported": v.preprocessor is None,
        "strip_accents is not supported": v.strip_accents is None,
        "input must be 'content'": v.input == "content",
    }
    for reason, ok in checks.items():
        if not ok:
            raise UnsupportedStep(step, reason)
    if v.tokenizer is log_tokens:
        if v.lowercase:
            raise UnsupportedStep(step, "model_export's tokenizer needs lowercase=False")
        log_tokenizer = True
    elif v.tokenizer is None and v.token_pattern == DEFAULT_TOKEN_PATTERN:
        log_tokenizer = False
    else:
        raise UnsupportedStep(step, "only the default token_pattern or model_export's tokenizer")
    terms = [""] * len(v.vocabulary_)
    for term, index in v.vocabulary_.items():
        terms[index] = term
    is_tfidf = isinstance(v, TfidfVectorizer)
    if v.binary:
        tf = ir.Tf.BINARY
    elif is_tfidf and v.sublinear_tf:
        tf = ir.Tf.SUBLINEAR
    else:
        tf = ir.Tf.RAW
    return Vectorizer(
        terms=tuple(terms),
        idf=np.asarray(v.idf_, dtype=np.float64) if is_tfidf and v.use_idf else np.ones(len(terms)),
        log_tokenizer=log_tokenizer,
        lowercase=bool(v.lowercase),
        tf=tf,
        norm=ir.Norm(v.norm) if is_tfidf and v.norm else None,
        ngram_range=(int(v.ngram_range[0]), int(v.ngram_range[1])),
        stop_words=frozenset(v.get_stop_words() or ()),
    )


def message_tokens(vectorizer: Vectorizer, message: ast.Expr) -> ir.Tokens | ir.WordGrams:
    """The tokens (or word n-grams) the vectorizer reads from a message."""
    if vectorizer.log_tokenizer:
        tokens = ir.Tokens(ir.LogTemplate(message), ir.Analyzer.TEMPLATE)
    else:
        tokens = ir.Tokens(message, ir.Analyzer.DEFAULT, vectorizer.lowercase)
    if vectorizer.ngram_range == (1, 1):
        return tokens  # a stop word is simply not in the vocabulary
    return ir.WordGrams(tokens, *vectorizer.ngram_range, vectorizer.stop_words)


def vocabulary_seed(
    name: str, vectorizer: Vectorizer, weights: Mapping[str, np.ndarray]
) -> ir.Seed:
    """term, feature_index, idf, then one float column per weight vector."""
    columns = (
        ("term", ir.DType.TEXT),
        ("feature_index", ir.DType.INT),
        ("idf", ir.DType.FLOAT64),
        *((column, ir.DType.FLOAT64) for column in weights),
    )
    rows = tuple(
        (term, index, float(vectorizer.idf[index]), *(float(w[index]) for w in weights.values()))
        for index, term in enumerate(vectorizer.terms)
    )
    return ir.Seed(name, columns, rows)


def term_sums(
    name: str,
    vectorizer: Vectorizer,
    tokens: ir.Tokens | ir.WordGrams,
    vocabulary: ir.Seed,
    sums: Sequence[tuple[str, str | int]],
) -> ir.TermSums:
    return ir.TermSums(name, tokens, vocabulary, vectorizer.tf, vectorizer.norm, tuple(sums))
