"""The bootstrap's macro-F1s are frequent_levels_macro_f1 of each resample: checked against
it (scikit-learn underneath) on the resampled lines written out, including resamples where a
level drops below MIN_SUPPORT or out of the test part, and levels predicted but absent. The
score ceilings are checked against every threshold tried one by one."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from model_export.training.metrics import (
    MIN_SUPPORT,
    best_threshold_f1,
    frequent_levels_macro_f1,
    interval,
    normal_at_first_anomaly,
    resampled_macro_f1s,
    resampling_weights,
)


def test_each_resample_is_scored_as_its_lines_written_out() -> None:
    rng = np.random.default_rng(7)
    # a rare level (FATAL: 4 lines) that some resamples drop or draw >= MIN_SUPPORT times
    truth = np.array(["INFO"] * 30 + ["ERROR"] * 8 + ["FATAL"] * 4, dtype=object)
    predicted = truth.copy()
    flip = rng.random(len(truth)) < 0.3
    predicted[flip] = rng.choice(["INFO", "ERROR", "FATAL", "WARN"], flip.sum())  # WARN: absent
    weights = resampling_weights(len(truth), seed=3, resamples=200)
    assert weights.shape == (200, len(truth)) and (weights.sum(axis=1) == len(truth)).all()
    frequent, plain = resampled_macro_f1s(truth, predicted, weights)
    fatal_drawn = weights[:, truth == "FATAL"].sum(axis=1)
    assert (fatal_drawn == 0).any() and (fatal_drawn >= MIN_SUPPORT).any()
    for row, f, p in zip(weights, frequent, plain, strict=True):
        expected_frequent, expected_plain = frequent_levels_macro_f1(
            np.repeat(truth, row), np.repeat(predicted, row)
        )
        assert p == pytest.approx(expected_plain, abs=1e-12)
        assert f == pytest.approx(expected_frequent, abs=1e-12)


def test_no_frequent_level_is_nan_and_left_out_of_the_interval() -> None:
    truth = np.array(["INFO", "INFO", "ERROR"], dtype=object)
    frequent, plain = resampled_macro_f1s(truth, truth, resampling_weights(3, seed=0))
    assert np.isnan(frequent).all() and (plain == 1.0).all()
    assert interval(frequent) is None
    low, high = interval(np.array([np.nan, *np.linspace(0, 1, 401)]))
    assert (low, high) == pytest.approx((0.025, 0.975))


def _lines(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, scores with many ties (rounded), and the lines decided, some anomalies undecided."""
    rng = np.random.default_rng(seed)
    truth = rng.random(300) < 0.1
    score = np.round(np.clip(rng.normal(0.3 + 0.3 * truth, 0.2), 0, 1), 1)
    return truth, score, rng.random(300) < 0.8


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_best_threshold_f1_is_the_best_of_every_threshold(seed: int) -> None:
    truth, score, decided = _lines(seed)
    assert (truth & ~decided).any()  # missed whatever the threshold
    every = [f1_score(truth, decided & (score >= t)) for t in np.unique(score)]
    assert best_threshold_f1(truth, score, decided) == pytest.approx(max(every))
    assert best_threshold_f1(np.zeros(3, dtype=bool), np.ones(3), np.ones(3, dtype=bool)) == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_normal_at_first_anomaly_is_the_fewest_any_catching_threshold_flags(seed: int) -> None:
    truth, score, decided = _lines(seed)
    catching = [
        int(np.sum(decided & ~truth & (score >= t)))
        for t in np.unique(score)
        if np.any(decided & truth & (score >= t))
    ]
    assert normal_at_first_anomaly(truth, score, decided) == min(catching)
    assert normal_at_first_anomaly(truth, score, decided & ~truth) is None
