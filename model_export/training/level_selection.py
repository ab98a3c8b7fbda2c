"""Choosing the level classifier inside the training window: each candidate of
pipelines.LEVEL_CANDIDATES is fitted on the oldest part of the training rows and scored on the
part that follows (never on rows held out from training), the best validation score wins (the
first candidate on a tie), and the winner is fitted on all the training rows. What was tried
and scored is returned with the model: export keeps it in the registry and the model card.

The score is the quality targets' own measure: macro-F1 over the levels with at least
MIN_SUPPORT lines in the validation window, then plain macro-F1 (over every level the window
holds) to break ties. Ranking by plain macro-F1 alone let one or two lines of a rare level
decide: each such line moves a window's plain figure by up to 1/levels, more than the
candidates differ on the levels that carry the logs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline

from model_export.training import pipelines
from model_export.training.metrics import MIN_SUPPORT, frequent_levels_macro_f1

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


def validation_score(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """(macro-F1 over the levels with at least MIN_SUPPORT lines in `truth`, plain macro-F1
    over every level in `truth`). Where no level has that many lines, both are the plain
    figure: every level is rare alike."""
    frequent, plain = frequent_levels_macro_f1(truth, predicted)
    return (plain if frequent is None else frequent), plain


def _validation(
    config: pipelines.LevelConfig, rows: pd.DataFrame, seed: int
) -> tuple[float, float] | None:
    """validation_score averaged over the windows that can be scored (None: none can)."""
    scores = []
    for fit_end, score_end in VALIDATION_WINDOWS:
        fit = rows.iloc[: int(len(rows) * fit_end)]
        scored = rows.iloc[int(len(rows) * fit_end) : int(len(rows) * score_end)]
        if fit["level"].nunique() < 2 or scored.empty:
            continue
        model = fit_level(pipelines.level_classifier(seed, config), fit)
        scores.append(validation_score(scored["level"].to_numpy(), model.predict(scored)))
    if not scores:
        return None
    frequent, plain = np.mean(scores, axis=0)
    return float(frequent), float(plain)


def best_candidate(scores: dict[str, tuple[float, float] | None]) -> str | None:
    """The name with the best (frequent-level, plain) score, the first of equals (candidates
    are in order of preference); None when no candidate could be scored."""
    scored = {name: s for name, s in scores.items() if s is not None}
    return max(scored, key=lambda name: scored[name]) if scored else None


def select_level_classifier(train: pd.DataFrame, seed: int) -> tuple[Pipeline, dict[str, object]]:
    """(the chosen candidate fitted on every training row with a known level, the record of
    the choice). `train` is in time order (data.time_split's training part)."""
    rows = train[train["level"].notna()].reset_index(drop=True)
    if rows["level"].nunique() < 2:
        raise ValueError("level classifier: the training rows need at least two known levels")
    recent = rows.iloc[-VALIDATION_ROWS:]
    scores = {c.name: _validation(c, recent, seed) for c in pipelines.LEVEL_CANDIDATES}
    # per candidate (None: no window could be scored)
    chosen = best_candidate(scores)
    config = next(
        (c for c in pipelines.LEVEL_CANDIDATES if c.name == chosen), pipelines.DEFAULT_LEVEL
    )
    record: dict[str, object] = {
        "chosen": config.name,
        "rule": (
            f"best mean validation macro-F1 over the levels with >= {MIN_SUPPORT} lines in the"
            " window, then best plain macro-F1, inside the training window (first on a tie)"
        ),
        "validation_windows": [list(w) for w in VALIDATION_WINDOWS],
        "validation_rows": len(recent),
        "min_support": MIN_SUPPORT,
        "validation_macro_f1_min_support": {n: s and s[0] for n, s in scores.items()},
        "validation_macro_f1": {n: s and s[1] for n, s in scores.items()},
    }
    return fit_level(pipelines.level_classifier(seed, config), rows), record
