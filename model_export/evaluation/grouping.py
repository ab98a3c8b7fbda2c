"""Grouping accuracy of log templates on the loghub samples (docs/internals/templates.md).

GA (loghub's measure): a line is right when the lines that share its template are exactly the
lines that share its true EventId. Per system, in time order (logged_at, log_entry_id): the
learned templates (template version 3, and version 2 beside them) are fitted on the earliest
half and applied to the later half (held out) and to all lines; beside them, on the same lines,
version 1 (tokenizer.log_template, nothing to fit) and Drain3 0.9.11 with its default settings,
fed every line in order as it runs online. Drain3 is not a dependency of logml: install it for the
comparison with `pip install drain3==0.9.11`; without it its columns read "-".
"""

from __future__ import annotations

import csv
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from model_export.evaluation.report import Table
from model_export.training.anomaly_detectors import ORDER
from model_export.training.templates import LEARNED_TEMPLATES, LearnedTemplates, TokenTemplates

DRAIN3 = "drain3==0.9.11"


def grouping_accuracy(predicted: Sequence[str], truth: Sequence[str]) -> float:
    """The share of lines whose template groups exactly the lines of their true event."""
    if len(predicted) != len(truth):
        raise ValueError("one template per line, one event per line")
    if not truth:
        return 0.0
    by_template: dict[str, set[int]] = defaultdict(set)
    by_event: dict[str, set[int]] = defaultdict(set)
    for i, (p, t) in enumerate(zip(predicted, truth, strict=True)):
        by_template[p].add(i)
        by_event[t].add(i)
    right = sum(by_template[p] == by_event[t] for p, t in zip(predicted, truth, strict=True))
    return right / len(truth)


def split_half(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(earliest half, later half) by (logged_at, log_entry_id)."""
    ordered = frame.sort_values(ORDER, kind="stable")
    half = len(ordered) // 2
    return ordered.iloc[:half], ordered.iloc[half:]


def loghub_events(csv_path: Path, system: str) -> dict[str, str]:
    """log_id (as the loader writes it: <System>-<LineId>) -> EventId of a structured CSV."""
    with csv_path.open(newline="", encoding="utf-8") as handle:
        return {f"{system}-{row['LineId']}": row["EventId"] for row in csv.DictReader(handle)}


def drain3_clusters(messages: Sequence[str]) -> list[str] | None:
    """Drain3's cluster of each message, fed in order with default settings (None when drain3
    is not installed)."""
    try:
        from drain3 import TemplateMiner  # type: ignore[import-not-found]
    except ImportError:
        return None
    logging.getLogger("drain3").setLevel(logging.WARNING)
    miner = TemplateMiner()
    return [str(miner.add_log_message(m)["cluster_id"]) for m in messages]


@dataclass(frozen=True)
class Grouping:
    """One system's GA: (held-out half, all lines) per method; None: not measured."""

    system: str
    lines: int
    learned: tuple[float, float]
    learned_v2: tuple[float, float]
    token: tuple[float, float]
    drain3: tuple[float, float] | None


def system_grouping(system: str, frame: pd.DataFrame, events: dict[str, str]) -> Grouping:
    """GA of one system's lines (a stg frame with log_id) against their EventIds."""
    train, test = split_half(frame)
    ordered = pd.concat([train, test])
    messages = [str(m) for m in ordered["message"]]
    truth = [events[str(i)] for i in ordered["log_id"]]
    held = len(train)

    def both(templates: Sequence[str]) -> tuple[float, float]:
        held_out = grouping_accuracy(templates[held:], truth[held:])
        return held_out, grouping_accuracy(templates, truth)

    learned = LearnedTemplates().fit(messages[:held]).templates(messages)
    v2 = LearnedTemplates(version=LEARNED_TEMPLATES).fit(messages[:held]).templates(messages)
    token = [TokenTemplates().template(m) for m in messages]
    drain = drain3_clusters(messages)
    return Grouping(
        system,
        len(messages),
        both(learned),
        both(v2),
        both(token),
        None if drain is None else both(drain),
    )


def loghub_groupings(systems: dict[str, pd.DataFrame], loghub_dir: Path) -> list[Grouping]:
    found = []
    for system, frame in sorted(systems.items()):
        csvs = sorted((loghub_dir / system).glob("*_structured.csv"))
        if csvs and "EventId" in csvs[0].open(encoding="utf-8").readline():
            found.append(system_grouping(system, frame, loghub_events(csvs[0], system)))
    return found


def _cell(pair: tuple[float, float] | None) -> str:
    return "-" if pair is None else f"{pair[0]:.3f} ({pair[1]:.3f})"


def grouping_table(groupings: Sequence[Grouping]) -> Table:
    methods = ("learned", "learned_v2", "token", "drain3")
    rows = [(g.system, f"{g.lines:,}", *(_cell(getattr(g, m)) for m in methods)) for g in groupings]
    if groupings:
        mean = [
            None
            if any(getattr(g, m) is None for g in groupings)
            else tuple(float(np.mean([getattr(g, m)[k] for g in groupings])) for k in (0, 1))
            for m in methods
        ]
        lowest = min(g.learned[0] for g in groupings)
        verdict = "met" if mean[0] is not None and mean[0][0] >= 0.9 and lowest >= 0.6 else "missed"
        rows.append(
            (f"**mean** (target >= 0.90, none below 0.6: {verdict})", "", *map(_cell, mean))  # type: ignore[arg-type]
        )
    return Table(
        "Templates, grouping accuracy on the later half (and on all lines); learned templates"
        f" fitted on the earliest half; Drain3 ({DRAIN3}, defaults) fed every line online",
        ("system", "lines", "learned (v3)", "learned (v2)", "log_template (v1)", "Drain3"),
        rows,
    )
