"""The two rules the replay puts beside the product (issue 21, item 4), with line flags and
alerts judged like the product's:

- the FATAL rule: a FATAL line is an anomaly; one alert per (service, run) with a FATAL line,
  about the log time from its first FATAL line to its last;
- errors per service-hour above mean + 3 sigma: a service's ERROR and FATAL lines of one hour
  (UTC) are anomalies when their count is above the mean plus SIGMAS standard deviations of
  that service's own earlier hours (every hour since its first line, an hour without errors
  counting 0; at least MIN_EARLIER_HOURS of them); one alert per such (service, hour).

Both read only lines logged before the end of the hour or run they judge, so computing them over
all lines at once gives what they would give run after run. An alert is raised in the run that
holds its window's start (the first replayed run for an hour that began before the replay).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from model_export.evaluation.incidents import Raised, run_of
from model_export.training.anomaly_detectors import SEVERE, run_index, service_key
from model_export.training.pipelines import fatal_rule

SIGMAS = 3.0
MIN_EARLIER_HOURS = 24  # a day of the service's own hours before one is judged
# the rules' names in the tables, and the kinds of their alerts
FATAL_RULE = 'rule "FATAL means anomaly"'
ERROR_HOURS_RULE = 'rule "errors per service-hour above mean + 3 sigma"'
FATAL_KIND = "FATAL line"
ERROR_HOUR_KIND = "errors above mean + 3 sigma"


@dataclass(frozen=True)
class RuleOutput:
    flagged: np.ndarray  # per line of the frame the rule read
    raised: list[Raised]  # about the lines logged at or after `since`


def _times(lines: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(lines["logged_at"], utc=True).reset_index(drop=True)


def fatal_lines(lines: pd.DataFrame, since: pd.Timestamp) -> RuleOutput:
    """The FATAL rule over a stg frame; alerts about its lines logged at or after `since`."""
    flagged = fatal_rule(lines)
    at = _times(lines)
    chosen = flagged & (at >= since).to_numpy()
    frame = pd.DataFrame(
        {
            "service": np.asarray(service_key(lines), dtype=object)[chosen],
            "at": at[chosen].array,
            "run": run_index(at[chosen]),
        }
    )
    raised = [
        Raised(FATAL_KIND, str(service), group["at"].min(), group["at"].max(), int(run))
        for (service, run), group in frame.groupby(["service", "run"], sort=True)
    ]
    return RuleOutput(flagged, raised)


def _judged_hours(counts: np.ndarray) -> np.ndarray:
    """Whether each hour's count is above mean + SIGMAS sigma of the hours before it."""
    earlier = np.arange(len(counts), dtype=np.float64)
    total = np.cumsum(counts) - counts
    squares = np.cumsum(counts * counts) - counts * counts
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / earlier
        sigma = np.sqrt(np.maximum(squares / earlier - mean * mean, 0.0))
    return (earlier >= MIN_EARLIER_HOURS) & (counts > mean + SIGMAS * sigma)


def error_hours(lines: pd.DataFrame, since: pd.Timestamp) -> RuleOutput:
    """Errors per service-hour above mean + 3 sigma over a stg frame; alerts about the hours
    that end after `since`."""
    at = _times(lines)
    frame = pd.DataFrame(
        {
            "service": service_key(lines),
            "hour": at.dt.floor("h"),
            "error": lines["level"].isin(SEVERE).to_numpy(),
        }
    )
    first_hour = frame.groupby("service")["hour"].min()
    last_hour = frame["hour"].max()
    judged: list[tuple[str, pd.Timestamp]] = []
    for service, errors in frame[frame["error"]].groupby("service", sort=True):
        hours = pd.date_range(first_hour[service], last_hour, freq="h")
        counts = errors.groupby("hour").size().reindex(hours, fill_value=0)
        above = _judged_hours(counts.to_numpy(dtype=np.float64))
        judged += [(str(service), hour) for hour in hours[above]]
    flagged_hours = pd.MultiIndex.from_tuples(judged, names=["service", "hour"])
    flagged = frame["error"].to_numpy() & pd.MultiIndex.from_frame(frame[["service", "hour"]]).isin(
        flagged_hours
    )
    hour = pd.Timedelta(hours=1)
    raised = [
        Raised(ERROR_HOUR_KIND, service, start, start + hour, run_of(max(start, since)))
        for service, start in judged
        if start + hour > since
    ]
    return RuleOutput(flagged, raised)
