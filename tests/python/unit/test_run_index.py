"""Scheduled runs by log time: 6 hours since the epoch, whatever resolution pandas reads the
timestamps in (pandas 3 reads them in microseconds, pandas 2 in nanoseconds)."""

from __future__ import annotations

import pandas as pd
import pytest

from model_export.training.anomaly_detectors import run_index, with_history_in_runs

TIMES = ["2026-01-01T05:59:59Z", "2026-01-01T06:00:00Z", "2026-01-02T00:00:00Z"]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_runs_are_six_hours_of_log_time_in_every_resolution(unit: str) -> None:
    times = pd.Series(pd.to_datetime(TIMES, utc=True)).astype(f"datetime64[{unit}, UTC]")
    first = 20454 * 4  # 2026-01-01 is day 20454 since the epoch; four runs a day
    assert run_index(times).tolist() == [first, first + 1, first + 4]


def test_lines_of_earlier_runs_count_and_lines_of_the_same_run_do_not() -> None:
    frame = pd.DataFrame(
        {
            "log_entry_id": [1, 2, 3],
            "logged_at": pd.to_datetime(
                ["2026-01-01T00:10:00Z", "2026-01-01T05:50:00Z", "2026-01-01T06:10:00Z"],
                utc=True,
            ).astype("datetime64[us, UTC]"),
            "service": ["api"] * 3,
            "message": ["disk full"] * 3,
        }
    )
    counted = with_history_in_runs(frame, trained=None)
    assert counted["template_lines"].tolist() == [0, 0, 2]
    assert counted["service_lines"].tolist() == [0, 0, 2]
