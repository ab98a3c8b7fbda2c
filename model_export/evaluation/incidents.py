"""Incidents as an on-call engineer counts them (issue 21, item 4): the labelled incidents of a
dataset, what a method raised about them, and the figures that come out of it.

A labelled incident is a maximal burst of lines labelled anomalous (is_anomaly) of one
anomaly_type on one service: that service's lines of that type in (logged_at, log_entry_id)
order, cut wherever two consecutive ones are more than MAX_GAP apart. A line without a service
belongs to the service '' (as in the detector's history), one without a type to UNTYPED. The
generator labels each of its incidents this way (a burst of one kind on one service); two of its
incidents of one kind on one service less than MAX_GAP apart read as one, as they would to the
engineer paged about them.

A raised thing (an alert, or an incident the product opened) is about a labelled incident when
it names the incident's service and its window [start, end] meets the incident's [first line,
last line]. Its delay is in scheduled runs: the run that raised it minus the run the incident's
first line arrived in (0: the run where it starts). An alert about no labelled incident is a
false alert, counted per alert.

MAX_GAP is part of the definition, fixed before any figure was measured: one hour, the unit the
alerts count in (ml_alerts judges a service per hour); nothing here is tuned on test lines.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pandas as pd

from model_export.training.anomaly_detectors import ORDER, run_index, service_key

MAX_GAP = pd.Timedelta(hours=1)
UNTYPED = "(no anomaly_type)"


@dataclass(frozen=True)
class Incident:
    service: str
    anomaly_type: str
    start: pd.Timestamp  # its first line
    end: pd.Timestamp  # its last line
    lines: int
    run: int  # the scheduled run its first line arrives in


@dataclass(frozen=True)
class Raised:
    """An alert or an incident a method raised: the service it names (None: none, e.g. drift),
    the window of log time it is about, and the run that raised it."""

    kind: str
    service: str | None
    start: pd.Timestamp
    end: pd.Timestamp
    run: int


def run_of(moment: pd.Timestamp) -> int:
    """The scheduled run a moment of log time falls in."""
    return int(run_index(pd.Series([moment]))[0])


def labelled_incidents(lines: pd.DataFrame) -> list[Incident]:
    """The labelled incidents among `lines` (columns log_entry_id, logged_at, service,
    is_anomaly, anomaly_type), oldest first."""
    labelled = lines[lines["is_anomaly"].eq(True)].sort_values(ORDER, kind="stable")
    frame = pd.DataFrame(
        {
            "service": service_key(labelled),
            "type": [t if isinstance(t, str) and t else UNTYPED for t in labelled["anomaly_type"]],
            "at": pd.to_datetime(labelled["logged_at"], utc=True).array,
        }
    )
    incidents = []
    for (service, kind), group in frame.groupby(["service", "type"], sort=True):
        burst = (group["at"].diff() > MAX_GAP).cumsum()
        for _, lines_of in group.groupby(burst, sort=True):
            first, last = lines_of["at"].iloc[0], lines_of["at"].iloc[-1]
            incidents.append(
                Incident(str(service), str(kind), first, last, len(lines_of), run_of(first))
            )
    return sorted(incidents, key=lambda i: (i.start, i.service, i.anomaly_type))


def is_about(raised: Raised, incident: Incident) -> bool:
    return (
        raised.service == incident.service
        and raised.start <= incident.end
        and incident.start <= raised.end
    )


@dataclass(frozen=True)
class AlertFigures:
    """What a method raised, judged against the labelled incidents of the replayed days."""

    delays: tuple[int | None, ...]  # per labelled incident: runs to its first alert (None: never)
    raised: int
    false_kinds: dict[str, int]  # raised about no labelled incident, per kind
    days: float

    @property
    def incidents(self) -> int:
        return len(self.delays)

    def alerted(self, within: int | None = None) -> int:
        """Incidents alerted at all, or within `within` runs of their start."""
        return sum(d is not None and (within is None or d <= within) for d in self.delays)

    def alerted_share(self, within: int | None = None) -> float | None:
        return self.alerted(within) / self.incidents if self.incidents else None

    @property
    def false_raised(self) -> int:
        return sum(self.false_kinds.values())

    @property
    def false_per_day(self) -> float:
        return self.false_raised / self.days

    @property
    def raised_per_day(self) -> float:
        return self.raised / self.days


def alert_figures(incidents: list[Incident], raised: list[Raised], days: float) -> AlertFigures:
    delays = tuple(
        min((r.run - i.run for r in raised if is_about(r, i)), default=None) for i in incidents
    )
    false = Counter(r.kind for r in raised if not any(is_about(r, i) for i in incidents))
    return AlertFigures(delays, len(raised), dict(sorted(false.items())), days)
