"""Choosing the level classifier inside the training window: each candidate of
pipelines.LEVEL_CANDIDATES is fitted on the oldest part of the training rows and scored on the
part that follows (never on rows held out from training), the best mean macro-F1 wins (the
first candidate on a tie), and the winner is fitted on all the training rows. What was tried
and scored is returned with the model: export keeps it in the registry and the model card."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline

from model_export import pipelines
from model_export.metrics import level_metrics

# Validation windows, as fractions of the training rows in time order: fit on [0, a), score
# on [a, b). Two windows so that one odd period does not decide.
VALIDATION_WINDOWS = ((0.6, 0.8), (0.8, 1.0))
# The choice reads at most this many of the newest training rows (with a level): it costs
# two fits per candidate, and a 160,000-row training window needs no more to rank four.
VALIDATION_ROWS = 40_000


def fit_level(model: Pipeline, rows: pd.DataFrame) -> Pipeline:
    """Fit on rows with a known level (non-convergence warnings on tiny validation folds are
    silenced: the validation score judges the fit)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        return model.fit(rows, rows["level"].to_numpy())


def _macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    value = level_metrics(truth, predicted)["macro_f1"]
    assert isinstance(value, float)
    return value


def _validation_f1(config: pipelines.LevelConfig, rows: pd.DataFrame, seed: int) -> float | None:
    """Mean macro-F1 over the validation windows that can be scored (None: none can)."""
    scores = []
    for fit_end, score_end in VALIDATION_WINDOWS:
        fit = rows.iloc[: int(len(rows) * fit_end)]
        scored = rows.iloc[int(len(rows) * fit_end) : int(len(rows) * score_end)]
        if fit["level"].nunique() < 2 or scored.empty:
            continue
        model = fit_level(pipelines.level_classifier(seed, config), fit)
        truth = scored["level"].to_numpy()
        scores.append(_macro_f1(truth, model.predict(scored)))
    return float(np.mean(scores)) if scores else None


def select_level_classifier(train: pd.DataFrame, seed: int) -> tuple[Pipeline, dict[str, object]]:
    """(the chosen candidate fitted on every training row with a known level, the record of
    the choice). `train` is in time order (data.time_split's training part)."""
    rows = train[train["level"].notna()].reset_index(drop=True)
    if rows["level"].nunique() < 2:
        raise ValueError("level classifier: the training rows need at least two known levels")
    recent = rows.iloc[-VALIDATION_ROWS:]
    scores = {c.name: _validation_f1(c, recent, seed) for c in pipelines.LEVEL_CANDIDATES}
    scored = {name: s for name, s in scores.items() if s is not None}
    # max() keeps the first of equal scores: candidates are in order of preference.
    chosen = max(scored, key=lambda name: scored[name]) if scored else None
    config = next(
        (c for c in pipelines.LEVEL_CANDIDATES if c.name == chosen), pipelines.DEFAULT_LEVEL
    )
    record: dict[str, object] = {
        "chosen": config.name,
        "rule": "best mean validation macro-F1 inside the training window (first on a tie)",
        "validation_windows": [list(w) for w in VALIDATION_WINDOWS],
        "validation_rows": len(recent),
        "validation_macro_f1": scores,
    }
    return fit_level(pipelines.level_classifier(seed, config), rows), record
