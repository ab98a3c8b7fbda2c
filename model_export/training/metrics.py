"""Held-out metrics (never computed on training rows)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support


def level_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, object]:
    """Per-class F1 and macro F1 over the levels present in the held-out rows."""
    labels = sorted(set(y_true.tolist()))
    per_class = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        "rows": int(len(y_true)),
        "accuracy": float(np.mean(y_true == y_pred)) if len(y_true) else 0.0,
        "macro_f1": float(np.mean(per_class)) if len(labels) else 0.0,
        "f1": {label: float(f) for label, f in zip(labels, per_class, strict=True)},
        "support": {label: int(np.sum(y_true == label)) for label in labels},
    }


# The quality targets' second macro-F1 counts only the levels with this many lines.
MIN_SUPPORT = 5


def frequent_levels_macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float | None, float]:
    """(macro-F1 over the levels with at least MIN_SUPPORT lines in y_true, None when no level
    has that many; plain macro-F1 over every level in y_true)."""
    scores = level_metrics(y_true, y_pred)
    f1, support, plain = scores["f1"], scores["support"], scores["macro_f1"]
    assert isinstance(f1, dict) and isinstance(support, dict) and isinstance(plain, float)
    frequent = [f1[level] for level in f1 if support[level] >= MIN_SUPPORT]
    return (float(np.mean(frequent)) if frequent else None), plain


def anomaly_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, object]:
    """Precision, recall and F1 of the anomaly class."""
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=[True], average=None, zero_division=0
    )
    return {
        "rows": int(len(y_true)),
        "positives": int(np.sum(y_true)),
        "flagged": int(np.sum(y_pred)),
        "precision": float(precision[0]),
        "recall": float(recall[0]),
        "f1": float(f1[0]),
    }


# --- ceilings: what a score can tell apart at best (thresholds chosen on the judged lines
# themselves; never a result, only the bound no honestly chosen threshold can pass) ---


def best_threshold_f1(y_true: np.ndarray, score: np.ndarray, decided: np.ndarray) -> float:
    """The highest anomaly F1 of flagging the `decided` lines whose score is at least t, over
    every t. Anomalies among the undecided lines count as missed whatever t is."""
    positives = int(np.sum(y_true))
    order = np.argsort(-score[decided], kind="stable")
    ranked, hits = score[decided][order], np.asarray(y_true)[decided][order]
    if not positives or not len(ranked):
        return 0.0
    # a threshold flags a whole run of equal scores: cut only after the last of each run
    cuts = np.r_[ranked[1:] != ranked[:-1], True]
    true_positives = np.cumsum(hits)[cuts]
    flagged = np.arange(1, len(ranked) + 1)[cuts]
    return float(np.max(2 * true_positives / (flagged + positives)))


def normal_at_first_anomaly(
    y_true: np.ndarray, score: np.ndarray, decided: np.ndarray
) -> int | None:
    """The fewest normal lines a threshold flags once it flags any anomaly: the decided normal
    lines scoring at least as high as the best-scored decided anomaly (None: no anomaly is
    decided)."""
    anomalies = decided & np.asarray(y_true, dtype=bool)
    if not anomalies.any():
        return None
    return int(np.sum(decided & ~anomalies & (score >= score[anomalies].max())))


# Bootstrap resamples of a test part: enough for a stable 95% interval of a difference.
RESAMPLES = 1000


def resampling_weights(lines: int, seed: int, resamples: int = RESAMPLES) -> np.ndarray:
    """How many times each of `lines` test lines is drawn in each bootstrap resample
    (resamples x lines): the same draws for every method, so differences are paired."""
    return np.random.default_rng(seed).multinomial(lines, np.full(lines, 1 / lines), resamples)


def resampled_macro_f1s(
    y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """frequent_levels_macro_f1 of every resample in one pass (rows of `weights`): (macro-F1
    over the levels with at least MIN_SUPPORT drawn lines, nan where none has that many;
    plain macro-F1 over the levels drawn)."""
    f1s, supports = [], []
    for level in sorted(set(y_true.tolist())):
        is_level, said_level = y_true == level, y_pred == level
        tp = weights @ (is_level & said_level)
        wrong = weights @ (is_level ^ said_level)  # false positives plus false negatives
        supports.append(weights @ is_level)
        f1s.append(np.divide(2 * tp, 2 * tp + wrong, out=np.zeros(len(weights)), where=tp > 0))
    f1, support = np.array(f1s), np.array(supports)
    frequent = support >= MIN_SUPPORT
    with np.errstate(invalid="ignore"):  # no frequent level in a resample: nan, as None above
        frequent_mean = (f1 * frequent).sum(axis=0) / frequent.sum(axis=0)
    return frequent_mean, (f1 * (support > 0)).sum(axis=0) / (support > 0).sum(axis=0)


def interval(draws: np.ndarray) -> list[float] | None:
    """The central 95% of a statistic's bootstrap draws (None when no draw is defined)."""
    known = draws[~np.isnan(draws)]
    return [float(v) for v in np.percentile(known, [2.5, 97.5])] if len(known) else None
