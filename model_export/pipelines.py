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

from model_export.features import LogFeatures, MessageColumn
from model_export.tokenizer import MASK, log_tokens

# Supervised detection needs enough labelled lines of both kinds to learn from.
MIN_LABELLED_PER_CLASS = 10


@dataclass(frozen=True)
class LevelConfig:
    """One candidate level classifier: TF-IDF over the log-aware tokens (with or without the
    NUM token that stands for every digit-bearing token), then a multinomial logistic
    regression. Every candidate compiles to the same SQL shape: a vocabulary without NUM is
    only a seed without that row, and norm=None sums each occurrence's idf as it comes."""

    name: str
    keep_num: bool
    min_df: int
    norm: str | None
    C: float
    balanced: bool


# The candidates export chooses from on a validation split of its training window
# (model_export.level_selection), the first one on a tie. The first is the default: on
# validation windows inside the training windows of 10 loghub systems and generated logs it
# had the best mean macro-F1 of 72 configurations (issue #12). min_df=1 keeps the words of
# rare levels (two ERROR lines in Android's sample); without NUM, BGL's register dumps are not
# a wall of one term; raw TF-IDF counts a line's known words fully. The others are the runners
# up of that study, the previous default's weighting and today's default itself.
LEVEL_CANDIDATES = (
    LevelConfig("no-NUM raw tf-idf C=10", False, 1, None, 10.0, False),
    LevelConfig("raw tf-idf C=1", True, 1, None, 1.0, False),
    LevelConfig("no-NUM L1 C=100 balanced", False, 1, "l1", 100.0, True),
    LevelConfig("min_df=2 L1 C=100 balanced (before #12)", True, 2, "l1", 100.0, True),
)
DEFAULT_LEVEL = LEVEL_CANDIDATES[0]


def level_classifier(seed: int, config: LevelConfig = DEFAULT_LEVEL) -> Pipeline:
    """TF-IDF over the log-aware tokens and a multinomial logistic regression (see
    LevelConfig)."""
    return Pipeline(
        [
            ("message", MessageColumn()),
            (
                "tfidf",
                TfidfVectorizer(
                    tokenizer=log_tokens,
                    token_pattern=None,
                    lowercase=False,
                    stop_words=None if config.keep_num else [MASK],
                    min_df=config.min_df,
                    norm=config.norm,
                    max_features=20000,
                ),
            ),
            (
                "classifier",
                LogisticRegression(
                    C=config.C,
                    class_weight="balanced" if config.balanced else None,
                    max_iter=2000,
                    random_state=seed,
                ),
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


def anomaly_detector(train: pd.DataFrame, seed: int) -> Pipeline:
    """Supervised when the training rows carry is_anomaly labels with at least
    MIN_LABELLED_PER_CLASS lines of each class, else IsolationForest (no labels needed)."""
    labels = train["is_anomaly_label"].dropna()
    positives = int(labels.astype(bool).sum())
    if positives >= MIN_LABELLED_PER_CLASS and len(labels) - positives >= MIN_LABELLED_PER_CLASS:
        return supervised_detector(seed)
    return isolation_forest(seed)


def anomaly_labels(frame: pd.DataFrame) -> np.ndarray:
    return frame["is_anomaly_label"].fillna(False).astype(bool).to_numpy()


def fit_anomaly_detector(train: pd.DataFrame, seed: int) -> Pipeline:
    """The default detector for these rows (see anomaly_detector), fitted."""
    model = anomaly_detector(train, seed)
    if isinstance(model[-1], IsolationForest):
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


def classifier_outputs(pipeline: Pipeline, inputs: object) -> ClassifierOutputs:
    """Predicted label and the probability of that label."""
    labels = pipeline.predict(inputs)
    proba = pipeline.predict_proba(inputs)
    index = np.searchsorted(pipeline.classes_, labels)
    return ClassifierOutputs(
        np.asarray([str(v) for v in labels]), proba[np.arange(len(labels)), index]
    )


def anomaly_outputs(pipeline: Pipeline, frame: pd.DataFrame) -> AnomalyOutputs:
    """Score in 0..1 (higher = more anomalous), decision, and a confidence in 0..1."""
    model = pipeline[-1]
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
