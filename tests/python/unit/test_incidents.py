"""Labelled incidents on a hand-made label sequence, what counts as an alert about one, and the
rule baselines the replay puts beside the product."""

from __future__ import annotations

import pandas as pd
import pytest

from model_export.evaluation.incidents import (
    UNTYPED,
    Raised,
    alert_figures,
    labelled_incidents,
    run_of,
)
from model_export.evaluation.rule_baselines import (
    ERROR_HOUR_KIND,
    FATAL_KIND,
    MIN_EARLIER_HOURS,
    error_hours,
    fatal_lines,
)

DAY = pd.Timestamp("2026-03-02T00:00:00Z")  # a run boundary: 6-hour runs start at 0, 6, 12, 18


def at(hhmm: str) -> pd.Timestamp:
    hours, minutes = hhmm.split(":")
    return DAY + pd.Timedelta(hours=int(hours), minutes=int(minutes))


# (time, service, is_anomaly, anomaly_type)
SEQUENCE = [
    ("00:00", "api", True, "disk"),
    ("00:10", "api", True, "net"),
    ("00:20", "db", True, "disk"),
    ("00:30", "api", True, "disk"),
    ("00:40", "api", False, None),  # a normal line inside a burst does not cut it
    ("01:30", "api", True, "disk"),  # exactly one hour after the last: the same burst
    ("02:31", "api", True, "disk"),  # 61 minutes after: a new burst
    ("05:59", None, True, None),  # no service, no type
    ("06:05", None, True, None),  # six minutes later, but in the next run
]


def lines() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"log_entry_id": i, "logged_at": at(t), "service": s, "is_anomaly": a,
             "anomaly_type": k}
            for i, (t, s, a, k) in enumerate(SEQUENCE)
        ]
    )  # fmt: skip


def test_an_incident_is_a_burst_of_one_type_on_one_service() -> None:
    found = [
        (i.service, i.anomaly_type, i.start, i.end, i.lines, i.run)
        for i in labelled_incidents(lines())
    ]
    first = run_of(DAY)
    assert found == [
        ("api", "disk", at("00:00"), at("01:30"), 3, first),
        ("api", "net", at("00:10"), at("00:10"), 1, first),
        ("db", "disk", at("00:20"), at("00:20"), 1, first),
        ("api", "disk", at("02:31"), at("02:31"), 1, first),
        ("", UNTYPED, at("05:59"), at("06:05"), 2, first),
    ]


def test_the_order_of_the_rows_does_not_matter() -> None:
    shuffled = lines().sample(frac=1.0, random_state=3)
    assert labelled_incidents(shuffled) == labelled_incidents(lines())


def test_alerts_about_incidents_their_delays_and_false_alerts() -> None:
    incidents = labelled_incidents(lines())
    first = run_of(DAY)
    raised = [
        # the hour 00:00-01:00 on api: about both api bursts of that hour
        Raised("hour", "api", at("00:00"), at("01:00"), first),
        # one line at 02:31 on api, raised a run later
        Raised("line", "api", at("02:31"), at("02:31"), first + 1),
        # db, but after its incident: false
        Raised("hour", "db", at("01:00"), at("02:00"), first),
        # no service (drift): about no incident, even the one without a service
        Raised("drift", None, at("00:00"), at("06:00"), first),
        # the lines without a service, two runs later
        Raised("hour", "", at("06:00"), at("07:00"), first + 2),
    ]
    figures = alert_figures(incidents, raised, days=0.5)
    assert figures.delays == (0, 0, None, 1, 2)
    assert (figures.alerted(0), figures.alerted(1), figures.alerted()) == (2, 3, 4)
    assert figures.alerted_share(1) == pytest.approx(3 / 5)
    assert figures.false_kinds == {"drift": 1, "hour": 1}
    assert figures.false_per_day == pytest.approx(4.0)
    assert figures.raised_per_day == pytest.approx(10.0)


def stg(rows: list[tuple[pd.Timestamp, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"log_entry_id": i, "logged_at": t, "service": s, "level": level}
            for i, (t, s, level) in enumerate(rows)
        ]
    )


def test_the_fatal_rule_alerts_once_per_service_and_run() -> None:
    frame = stg(
        [
            (at("00:05"), "api", "FATAL"),  # before `since`: flagged, no alert
            (at("01:00"), "api", "FATAL"),
            (at("03:00"), "api", "ERROR"),
            (at("05:00"), "api", "FATAL"),
            (at("06:30"), "api", "FATAL"),
            (at("02:00"), "db", "FATAL"),
        ]
    ).sort_values("logged_at")
    output = fatal_lines(frame, since=at("00:30"))
    assert output.flagged.tolist() == [True, True, True, False, True, True]
    first = run_of(DAY)
    assert output.raised == [
        Raised(FATAL_KIND, "api", at("01:00"), at("05:00"), first),
        Raised(FATAL_KIND, "api", at("06:30"), at("06:30"), first + 1),
        Raised(FATAL_KIND, "db", at("02:00"), at("02:00"), first),
    ]


def test_errors_above_mean_plus_three_sigma_of_the_services_earlier_hours() -> None:
    # api: one ERROR an hour (mean 1, sigma 0), then an hour with two errors and one with one;
    # db: a burst of five errors in its third hour, too early to be judged
    start = DAY - pd.Timedelta(hours=MIN_EARLIER_HOURS + 6)
    hours = [start + pd.Timedelta(hours=h, minutes=10) for h in range(MIN_EARLIER_HOURS + 6)]
    rows = [(t, "api", "ERROR") for t in hours]
    rows += [(at("00:10"), "api", "ERROR"), (at("00:20"), "api", "FATAL")]
    rows += [(at("00:30"), "api", "INFO"), (at("01:10"), "api", "ERROR")]
    rows += [(DAY - pd.Timedelta(hours=2), "db", "INFO")]
    rows += [(DAY + pd.Timedelta(minutes=m), "db", "ERROR") for m in range(5)]
    frame = stg(sorted(rows))
    output = error_hours(frame, since=DAY)
    flagged = frame.loc[output.flagged, ["logged_at", "level"]].to_numpy().tolist()
    assert flagged == [[at("00:10"), "ERROR"], [at("00:20"), "FATAL"]]
    assert output.raised == [Raised(ERROR_HOUR_KIND, "api", DAY, at("01:00"), run_of(DAY))]


def test_a_burst_before_the_replay_is_history_not_an_alert() -> None:
    start = DAY - pd.Timedelta(hours=MIN_EARLIER_HOURS + 6)
    rows = [(start + pd.Timedelta(hours=h), "api", "ERROR") for h in range(MIN_EARLIER_HOURS + 6)]
    rows += [(DAY - pd.Timedelta(minutes=m), "api", "ERROR") for m in range(1, 6)]
    frame = stg(sorted(rows))
    output = error_hours(frame, since=DAY)
    assert output.flagged.sum() == 6  # the hour before DAY: its history's line and the burst
    assert output.raised == []
