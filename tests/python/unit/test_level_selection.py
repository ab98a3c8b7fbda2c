"""The level classifier is chosen among pipelines.LEVEL_CANDIDATES on validation windows inside
the training rows: the best validation score wins (macro-F1 over the levels with at least
MIN_SUPPORT lines, then plain macro-F1), the first candidate on a tie, and the winner comes
back fitted with its own settings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model_export.training import pipelines
from model_export.training.level_selection import (
    MIN_SUPPORT,
    best_candidate,
    select_level_classifier,
    validation_score,
)


def frame(messages: list[str], levels: list[str], repeat: int = 20) -> pd.DataFrame:
    return pd.DataFrame({"message": messages * repeat, "level": levels * repeat})


def test_a_tie_keeps_the_default() -> None:
    # Words alone tell the levels apart: every candidate is perfect on validation.
    train = frame(["disk failed", "all good", "slow reply"], ["ERROR", "INFO", "WARN"])
    model, selection = select_level_classifier(train, seed=0)
    scores = selection["validation_macro_f1"]
    assert isinstance(scores, dict) and set(scores.values()) == {1.0}
    assert selection["chosen"] == pipelines.DEFAULT_LEVEL.name
    assert model[1].stop_words == ["NUM"] and model[1].norm is None and model[-1].C == 10.0
    assert list(model.predict(frame(["disk failed"], ["ERROR"], 1))) == ["ERROR"]


def test_validation_picks_the_candidate_that_reads_the_data() -> None:
    # Only the digit mask tells ERROR from INFO: candidates without the NUM term cannot.
    train = frame(["disk 3 failed", "disk failed"], ["ERROR", "INFO"])
    model, selection = select_level_classifier(train, seed=0)
    scores = selection["validation_macro_f1"]
    assert isinstance(scores, dict)
    keeps_num = [c.name for c in pipelines.LEVEL_CANDIDATES if c.keep_num]
    drops_num = [c.name for c in pipelines.LEVEL_CANDIDATES if not c.keep_num]
    assert min(scores[n] for n in keeps_num) == 1.0 > max(scores[n] for n in drops_num)
    assert selection["chosen"] == keeps_num[0]
    assert "NUM" in model[1].vocabulary_
    held_out = frame(["disk 7 failed", "disk failed"], ["ERROR", "INFO"], 1)
    assert list(model.predict(held_out)) == ["ERROR", "INFO"]


def test_the_score_reads_the_frequent_levels_first() -> None:
    # 20 INFO, 20 ERROR, 1 WARN. "rare" gets the WARN line right and misses 4 ERROR lines;
    # "frequent" misses the WARN line and gets every INFO and ERROR line right.
    truth = np.array(["INFO"] * 20 + ["ERROR"] * 20 + ["WARN"])
    rare = truth.copy()
    rare[20:24] = "INFO"
    frequent = truth.copy()
    frequent[-1] = "INFO"
    rare_score, frequent_score = validation_score(truth, rare), validation_score(truth, frequent)
    # plain macro-F1 prefers "rare" (its WARN F1 of 1 outweighs four ERROR misses) ...
    assert rare_score[1] > frequent_score[1]
    # ... the targets' measure (levels with >= MIN_SUPPORT lines) prefers "frequent"
    assert frequent_score[0] > rare_score[0]
    assert best_candidate({"rare": rare_score, "frequent": frequent_score}) == "frequent"


def test_plain_macro_f1_breaks_ties_and_rare_windows_fall_back_to_it() -> None:
    assert best_candidate({"a": (0.9, 0.7), "b": (0.9, 0.8), "c": (0.9, 0.8)}) == "b"
    assert best_candidate({"a": None, "b": (0.5, 0.5)}) == "b"
    assert best_candidate({"a": None}) is None
    # no level with MIN_SUPPORT lines: both figures are the plain macro-F1
    truth = np.array(["INFO", "INFO", "ERROR"])
    predicted = np.array(["INFO", "ERROR", "ERROR"])
    assert MIN_SUPPORT > 2
    frequent, plain = validation_score(truth, predicted)
    assert frequent == plain == pytest.approx((2 / 3 + 2 / 3) / 2)


def test_the_record_holds_both_figures_and_the_choice_follows_them() -> None:
    messages = ["disk failed", "all good", "slow reply", "disk 3 failed"]
    train = frame(messages, ["ERROR", "INFO", "WARN", "INFO"])
    _, selection = select_level_classifier(train, seed=0)
    frequent = selection["validation_macro_f1_min_support"]
    plain = selection["validation_macro_f1"]
    assert isinstance(frequent, dict) and isinstance(plain, dict)
    names = [c.name for c in pipelines.LEVEL_CANDIDATES]
    assert set(frequent) == set(plain) == set(names)
    assert selection["chosen"] == max(names, key=lambda n: (frequent[n], plain[n]))
    assert selection["min_support"] == MIN_SUPPORT
