"""The default pipelines, and their outputs computed the Python way (the reference that the
compiled SQL must match). Every pipeline takes a stg_log_entries DataFrame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest, RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from model_export.detector import (
    SERVICE_LINES,
    TEMPLATE_LINES,
    SeverityRarity,
    severity_rarity,
    with_history,
)
from model_export.features import LogFeatures, MessageColumn
from model_export.tokenizer import log_tokens

# Supervised detection needs enough labelled lines of both kinds to learn from.
MIN_LABELLED_PER_CLASS = 10


def level_classifier(seed: int, C: float = 100.0) -> Pipeline:
    """TF-IDF over the log-aware tokens and a multinomial logistic regression. min_df=2 keeps
    one-off tokens out of the vocabulary; L1 row normalisation lets the SQL weight token
    occurrences in one GROUP BY (L2 needs per-(row, term) counts first); balanced class
    weights so that rare levels count."""
    return Pipeline(
        [
            ("message", MessageColumn()),
            (
                "tfidf",
                TfidfVectorizer(
                    tokenizer=log_tokens,
                    token_pattern=None,
                    lowercase=False,
                    min_df=2,
                    norm="l1",
                    max_features=20000,
                ),
            ),
            (
                "classifier",
                LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=seed),
            ),
        ]
    )


def isolation_forest(seed: int) -> Pipeline:
    return Pipeline(
        [
            ("features", LogFeatures()),
            ("detector", IsolationForest(n_estimators=100, random_state=seed)),
        ]
    )


def supervised_detector(seed: int) -> Pipeline:
    return Pipeline(
        [
            ("features", LogFeatures()),
            (
                "detector",
                RandomForestClassifier(
                    n_estimators=50,
                    max_depth=10,
                    class_weight="balanced",
                    random_state=seed,
                    n_jobs=1,
                ),
            ),
        ]
    )


def anomaly_detector(train: pd.DataFrame, seed: int, level: Pipeline) -> Pipeline:
    """Supervised when the training rows carry is_anomaly labels with at least
    MIN_LABELLED_PER_CLASS lines of each class, else severity x rarity over the fitted level
    classifier `level` (no labels needed; model_export.detector). IsolationForest
    (isolation_forest) stays available, not as a default: on real logs it flags the lines of
    templates unseen in training, a fifth of them (README "Anomaly detector")."""
    labels = train["is_anomaly_label"].dropna()
    positives = int(labels.astype(bool).sum())
    if positives >= MIN_LABELLED_PER_CLASS and len(labels) - positives >= MIN_LABELLED_PER_CLASS:
        return supervised_detector(seed)
    return severity_rarity(level)


def anomaly_labels(frame: pd.DataFrame) -> np.ndarray:
    return frame["is_anomaly_label"].fillna(False).astype(bool).to_numpy()


def fit_anomaly_detector(train: pd.DataFrame, seed: int, level: Pipeline) -> Pipeline:
    """The default detector for these rows (see anomaly_detector), fitted; `level` is the
    fitted level classifier. Training rows in (logged_at, log_entry_id) order are their own
    history (the severity x rarity threshold is chosen on them)."""
    model = anomaly_detector(train, seed, level)
    if isinstance(model[-1], IsolationForest | SeverityRarity):
        return model.fit(train)
    return model.fit(train, anomaly_labels(train))


@dataclass(frozen=True)
class ClassifierOutputs:
    label: np.ndarray
    confidence: np.ndarray


@dataclass(frozen=True)
class AnomalyOutputs:
    score: np.ndarray
    is_anomaly: np.ndarray
    confidence: np.ndarray
    # the signals behind the score, where the detector names them (severity x rarity)
    explanation: np.ndarray | None = None


def classifier_outputs(pipeline: Pipeline, inputs: object) -> ClassifierOutputs:
    """Predicted label and the probability of that label."""
    labels = pipeline.predict(inputs)
    proba = pipeline.predict_proba(inputs)
    index = np.searchsorted(pipeline.classes_, labels)
    return ClassifierOutputs(
        np.asarray([str(v) for v in labels]), proba[np.arange(len(labels)), index]
    )


def anomaly_outputs(
    pipeline: Pipeline, frame: pd.DataFrame, history: pd.DataFrame | None = None
) -> AnomalyOutputs:
    """Score in 0..1 (higher = more anomalous), decision, and a confidence in 0..1.
    Severity x rarity reads the frame's template_lines / service_lines columns (what the SQL
    counted) or, without them, counts the lines of `history` and the frame's earlier lines."""
    model = pipeline[-1]
    if isinstance(model, SeverityRarity):
        if TEMPLATE_LINES not in frame or SERVICE_LINES not in frame:
            frame = with_history(frame, history)
        signals = model.signals(frame)
        return AnomalyOutputs(
            signals["score"],
            model.decide(signals),
            model.confidence(signals),
            model.explanation(signals),
        )
    if isinstance(model, IsolationForest):
        score = -pipeline.score_samples(frame)
        decision = pipeline.decision_function(frame)
        offset = float(model.offset_)
        confidence = np.where(decision < 0, -decision / (1.0 + offset), decision / -offset)
        return AnomalyOutputs(score, decision < 0, confidence)
    proba = pipeline.predict_proba(frame)
    positive = [bool(c) for c in model.classes_].index(True)
    predicted = pipeline.predict(frame).astype(bool)
    index = np.searchsorted(model.classes_, predicted)
    return AnomalyOutputs(proba[:, positive], predicted, proba[np.arange(len(frame)), index])
