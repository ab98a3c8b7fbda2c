"""Pipeline steps that read the stg_log_entries DataFrame: the message column for text models,
and the dense log features of the anomaly detector (mirrored in SQL by macros/log_features.sql).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from model_export.training.templates import LearnedTemplates, TokenTemplates
from model_export.training.tokenizer import log_template

# The columns of stg_log_entries: every Pipeline takes a DataFrame of them (and the compiled SQL
# a relation of them).
STG_COLUMNS = (
    "log_entry_id",
    "log_id",
    "logged_at",
    "level",
    "raw_level",
    "message",
    "message_truncated",
    "source_type",
    "host",
    "service",
    "category",
    "http_status",
    "response_time_ms",
    "is_anomaly_label",
    "anomaly_type",
    "created_at",
)
LEVEL_ORDINALS = {"DEBUG": 0.0, "INFO": 1.0, "WARN": 2.0, "ERROR": 3.0, "FATAL": 4.0}
FEATURE_NAMES = (
    "message_length",
    "token_count",
    "digit_ratio",
    "template_frequency",
    "level_ordinal",
    "http_status",
    "response_time_ms",
)
MISSING = -1.0
# Trees compare float32(feature); PostgreSQL's float8 -> float4 cast raises on overflow and on
# tiny non-zero values, so unbounded inputs are clamped into float4's range in both languages.
CLAMP = 1e30
TINY = 1e-30
_DIGITS = frozenset("0123456789")


class MessageColumn(TransformerMixin, BaseEstimator):
    """Selects the message texts of a stg_log_entries DataFrame (input of text vectorizers)."""

    def fit(self, frame: pd.DataFrame, y: object = None) -> MessageColumn:
        return self

    def transform(self, frame: pd.DataFrame) -> list[str]:
        return [str(m) for m in frame["message"]]


def _clamped(values: pd.Series) -> np.ndarray:
    array = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    array = np.clip(array, -CLAMP, CLAMP)
    array[np.abs(array) < TINY] = 0.0
    array[np.isnan(array)] = MISSING
    return array


class LogFeatures(TransformerMixin, BaseEstimator):
    """Dense features of a log line. `fit` learns the relative frequency in the training rows
    of the `max_templates` most frequent templates; any other template has frequency 0 (the
    SQL reads the same table from a seed, so it must stay small enough to seed). Templates as
    `templates` (fitted LearnedTemplates) assigns them; None: template version 1. Only the
    frequency follows it: token_count stays that of tokenizer.log_template."""

    def __init__(self, max_templates: int = 20000, templates: LearnedTemplates | None = None):
        self.max_templates = max_templates
        self.templates = templates

    def __setstate__(self, state: dict) -> None:
        state.setdefault("templates", None)  # saved before templates existed: version 1
        super().__setstate__(state)

    def _hashes(self, frame: pd.DataFrame) -> list[str]:
        return (self.templates or TokenTemplates()).hashes(str(m) for m in frame["message"])

    def fit(self, frame: pd.DataFrame, y: object = None) -> LogFeatures:
        counts = Counter(self._hashes(frame))
        total = float(len(frame))
        kept = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[: self.max_templates]
        self.template_frequency_ = {h: n / total for h, n in sorted(kept)}
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        rows = []
        for message, template_id in zip(frame["message"], self._hashes(frame), strict=True):
            text = str(message)
            length = len(text)
            digits = sum(1 for c in text if c in _DIGITS)
            template = log_template(text)
            tokens = template.count(" ") + 1 if template else 0
            rows.append(
                (
                    float(length),
                    float(tokens),
                    float(digits) / float(length) if length else 0.0,
                    self.template_frequency_.get(template_id, 0.0),
                )
            )
        levels = [
            LEVEL_ORDINALS.get(v, MISSING) if isinstance(v, str) else MISSING
            for v in frame["level"]
        ]
        return np.column_stack(
            [
                np.array(rows, dtype=np.float64).reshape(len(frame), 4),
                np.array(levels, dtype=np.float64),
                _clamped(frame["http_status"]),
                _clamped(frame["response_time_ms"]),
            ]
        )

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.array(FEATURE_NAMES, dtype=object)
