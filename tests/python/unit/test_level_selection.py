"""The level classifier is chosen among pipelines.LEVEL_CANDIDATES on validation windows inside
the training rows: the best validation macro-F1 wins, the first candidate on a tie, and the
winner comes back fitted with its own settings."""

from __future__ import annotations

import pandas as pd

from model_export import pipelines
from model_export.level_selection import select_level_classifier


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
