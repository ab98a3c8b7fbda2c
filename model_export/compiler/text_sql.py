"""Fitted text vectorizers (TfidfVectorizer, CountVectorizer) -> SQL over a vocabulary seed.

The SQL is set based, as the probes found fastest: split every message into tokens, count
(row, term) pairs in one GROUP BY, join the vocabulary seed (term -> feature index, idf and
any per-term weights), and aggregate per row. Tokens outside the vocabulary (stop words
included) drop out in the join, as they do in scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from model_export.tokenizer import log_tokens

# scikit-learn's default analyzer: lowercase, then maximal runs of >= 2 word characters.
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"


class UnsupportedStep(ValueError):
    """A pipeline step (or one of its settings) that model_export cannot compile."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"step {step!r}: {reason}")


@dataclass(frozen=True)
class TextFeatures:
    """What the SQL needs from a fitted vectorizer."""

    terms: list[str]  # by feature index
    idf: np.ndarray  # per feature index (ones without idf)
    log_tokenizer: bool  # model_export's tokenizer, else scikit-learn's default analyzer
    lowercase: bool
    binary: bool
    sublinear_tf: bool
    norm: str | None


def text_features(step: str, vectorizer: object) -> TextFeatures:
    """Read a fitted vectorizer, rejecting settings whose SQL would not be exact."""
    if not isinstance(vectorizer, CountVectorizer):
        raise UnsupportedStep(step, f"{type(vectorizer).__name__} is not a supported vectorizer")
    v = vectorizer
    checks = {
        "analyzer must be 'word'": v.analyzer == "word",
        "ngram_range must be (1, 1)": tuple(v.ngram_range) == (1, 1),
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
    use_idf = is_tfidf and v.use_idf
    return TextFeatures(
        terms=terms,
        idf=np.asarray(v.idf_, dtype=np.float64) if use_idf else np.ones(len(terms)),
        log_tokenizer=log_tokenizer,
        lowercase=bool(v.lowercase),
        binary=bool(v.binary),
        sublinear_tf=is_tfidf and bool(v.sublinear_tf),
        norm=v.norm if is_tfidf else None,
    )


def per_occurrence(features: TextFeatures) -> bool:
    """True when the SQL can weight each token occurrence on its own: without L2 norm,
    sublinear or binary tf, the per-row sums need no (row, term) counts, which saves a
    GROUP BY (sum over occurrences of idf * w instead of tf * idf * w: equal to ~1e-16)."""
    return features.norm in (None, "l1") and not features.binary and not features.sublinear_tf


def token_split_sql(features: TextFeatures, message: str, token: str) -> tuple[str, str]:
    """(a set-returning call splitting `message` into candidate tokens, the condition on
    `token` that keeps the real ones)."""
    if features.log_tokenizer:
        return f"string_to_table({{{{ log_template('{message}') }}}}, ' ')", f"{token} <> ''"
    # \W+ splits into maximal runs of word characters; runs shorter than 2 are dropped,
    # which is exactly the set of matches of (?u)\b\w\w+\b. Word characters and lower()
    # follow the database's collation here, Unicode in Python: see docs/compiler.md.
    text = f"lower({message})" if features.lowercase else message
    return f"regexp_split_to_table({text}, '\\W+')", f"length({token}) >= 2"


def weighted_terms_sql(features: TextFeatures, prefix: str, vocabulary: str) -> str:
    """A CTE `<prefix>_weighted`: (log_entry_id, x, the vocabulary's columns) per term of a
    row (x = its un-normalised tf-idf value) or, when per_occurrence(), per token occurrence
    (x = idf; the row's sums over occurrences are the same)."""
    split, keep = token_split_sql(features, f"{prefix}_b.message", f"{prefix}_s.token")
    vocabulary_ref = "{{ ref('" + vocabulary + "') }}"
    if per_occurrence(features):
        return f"""{prefix}_weighted as (
    select {prefix}_b.log_entry_id, {prefix}_v.idf as x, {prefix}_v.*
    from {{{{ batch }}}} as {prefix}_b
    cross join lateral {split} as {prefix}_s (token)
    inner join {vocabulary_ref} as {prefix}_v on {prefix}_v.term = {prefix}_s.token
    where {keep}
)"""
    if features.binary:
        tf = "1::float8"
    elif features.sublinear_tf:
        tf = f"(ln({prefix}_t.tf::float8) + 1::float8)"
    else:
        tf = f"{prefix}_t.tf::float8"
    return f"""{prefix}_terms as (
    select {prefix}_b.log_entry_id, {prefix}_s.token as term, count(*) as tf
    from {{{{ batch }}}} as {prefix}_b
    cross join lateral {split} as {prefix}_s (token)
    where {keep}
    group by 1, 2
),

{prefix}_weighted as (
    select {prefix}_t.log_entry_id, {tf} * {prefix}_v.idf as x, {prefix}_v.*
    from {prefix}_terms as {prefix}_t
    inner join {vocabulary_ref} as {prefix}_v on {prefix}_v.term = {prefix}_t.term
)"""


def norm_sql(features: TextFeatures) -> str | None:
    """The per-row norm aggregate over the weighted terms (None: no normalisation)."""
    if features.norm == "l2":
        return "sqrt(sum(x * x))"
    if features.norm == "l1":
        return "sum(abs(x))"
    return None
