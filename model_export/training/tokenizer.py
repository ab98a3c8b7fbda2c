"""The log-aware tokenizer (Python side; its SQL twin is the macro log_template in
macros/log_features.sql).

A line's template is its ASCII-lowercased text with every token that contains a digit
(numbers, hex ids, versions, addresses) masked to NUM, the tokens (runs of [a-zA-Z0-9])
joined by single spaces; its tokens are the vocabulary of the level classifier.

Why this shape: PostgreSQL's regex alternations are leftmost-longest while Python's are
leftmost-first, and lower() and \\w follow the database collation. So there is no
alternation, lowercasing is ASCII only (lower(x collate "C") in SQL) and the character
classes are ASCII ranges; a masked token is uppercase so it can never be confused with text.
Two regex passes per line keep it fast in PostgreSQL, whose regex engine dominates the cost.
"""

from __future__ import annotations

import hashlib
import re
import warnings

MASK = "NUM"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# The whole token: greedy (Python) and longest (PostgreSQL) agree on a maximal run.
_WITH_DIGIT = re.compile("[a-z0-9]*[0-9][a-z0-9]*")
_SEPARATORS = re.compile("[^a-zA-Z0-9]+")
# A vectorizer with stop_words=[MASK] leaves the mask's token out of its vocabulary
# (model_export.training.pipelines). scikit-learn checks stop words by tokenizing them, finds that
# log_tokens reads the text "NUM" as the word "num" and warns on every fit and every first
# transform after loading: harmless (NUM is what log_tokens emits for digits, never "num").
# Only that exact warning is silenced.
warnings.filterwarnings(
    "ignore",
    message=r"Your stop_words may be inconsistent with your preprocessing\. Tokenizing the stop"
    r" words generated tokens \['num'\] not in stop_words\.",
    category=UserWarning,
)


def log_tokens(text: str) -> list[str]:
    """Tokens of a log line: ASCII-lowercased words, tokens with digits masked to NUM."""
    masked = _WITH_DIGIT.sub(MASK, text.translate(_ASCII_LOWER))
    return [t for t in _SEPARATORS.split(masked) if t]


def log_template(text: str) -> str:
    return " ".join(log_tokens(text))


def template_hash(text: str) -> str:
    """md5 of the line's template."""
    return hashlib.md5(log_template(text).encode("ascii")).hexdigest()
