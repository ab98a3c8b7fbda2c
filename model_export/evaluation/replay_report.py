"""The replay's figures as report tables (they flow through evaluation.report like every other
table), and issue 21's targets, each stated as met or missed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from model_export.evaluation.grouping import Grouping
from model_export.evaluation.incidents import MAX_GAP, AlertFigures
from model_export.evaluation.replay_evaluation import DatasetResult, product_method
from model_export.evaluation.report import Table
from model_export.evaluation.rule_baselines import (
    ERROR_HOURS_RULE,
    FATAL_RULE,
    MIN_EARLIER_HOURS,
    SIGMAS,
)
from model_export.evaluation.unseen_system import TARGET_SHARE, judged_share

Unseen = dict  # one held-out system's figures, as unseen_system.unseen_systems returns them
# dataset -> method -> line F1, mean over the forward-chaining folds (evaluate.py computes it)
ForwardChaining = Mapping[str, Mapping[str, float | None]]

# alerts are what on-call hears; an incident's lines are the product's line-level answer
PRODUCT = product_method("ml_alerts")
PRODUCT_LINES = product_method("ml_incidents")
BASELINES = (FATAL_RULE, ERROR_HOURS_RULE)
# issue 21's targets
WITHIN_RUNS = 1  # alerted in the run where the incident starts or the next
ALERTED_SHARE = 0.95
FALSE_PER_DAY = 1.0
LINE_F1 = 0.8
ABOVE_FATAL = 0.1  # BGL's forward-chaining line F1 over the FATAL rule's
MEAN_GA, LOWEST_GA = 0.90, 0.6


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _delays(figures: AlertFigures) -> str:
    later = figures.alerted() - figures.alerted(WITHIN_RUNS)
    return (
        f"{figures.alerted(0)} \\| {figures.alerted(1) - figures.alerted(0)} \\| {later}"
        f" \\| {figures.incidents - figures.alerted()}"
    )


def _share(count: int, total: int) -> str:
    return "-" if total == 0 else f"{count / total:.0%} ({count} of {total})"


def _false_kinds(figures: AlertFigures) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in figures.false_kinds.items()) or "-"


def replay_table(results: Sequence[DatasetResult], forward_chaining: ForwardChaining) -> Table:
    rows = []
    for result in results:
        for m in result.methods:
            a = m.alerts
            fc = forward_chaining.get(result.dataset, {}).get(m.method)
            rows.append(
                (
                    result.dataset,
                    f"**{m.method}**" if m.method.startswith("logml") else m.method,
                    _delays(a),
                    _share(a.alerted(WITHIN_RUNS), a.incidents),
                    f"{a.raised} ({a.raised_per_day:.1f})",
                    f"**{a.false_per_day:.1f}**",
                    _false_kinds(a),
                    _number(m.lines["precision"]),  # type: ignore[arg-type]
                    _number(m.lines["recall"]),  # type: ignore[arg-type]
                    f"**{_number(m.lines['f1'])}**",  # type: ignore[arg-type]
                    "-" if not result.loghub else _number(fc),
                )
            )
    return Table(
        "Replayed run by run as the schedule runs (6 hours of log time per dbt run), labels"
        " hidden from the product. A labelled incident: a burst of is_anomaly lines of one"
        f" anomaly_type on one service, cut at gaps over {MAX_GAP.total_seconds() / 3600:g} h. An"
        " alert is about it when it names its service and its window meets the incident's span;"
        " any other alert is a false alert. Baselines judged run by run the same way:"
        f" {FATAL_RULE} (an alert per service and run with a FATAL line), {ERROR_HOURS_RULE} (a"
        f" service's ERROR and FATAL lines of an hour when their count is above the mean +"
        f" {SIGMAS:g} sigma of its earlier hours, at least {MIN_EARLIER_HOURS} of them; an alert"
        " per such hour)",
        (
            "dataset",
            "method",
            "incidents alerted in the run they start \\| the next \\| later \\| never",
            f"alerted by the next run (target >= {ALERTED_SHARE:.0%})",
            "alerts (per day)",
            f"false alerts per day (target <= {FALSE_PER_DAY:g}; ml_incidents: false incidents)",
            "false alerts by kind",
            "line precision",
            "line recall",
            f"line F1 (target >= {LINE_F1:g})",
            "line F1, forward-chaining mean",
        ),
        rows,
    )


def datasets_table(results: Sequence[DatasetResult]) -> Table:
    rows = [
        (
            r.dataset,
            f"{r.lines:,}",
            f"{r.replayed_lines:,}",
            str(len(r.runs)),
            f"{r.method(PRODUCT).alerts.days:.2f}",
            str(len(r.incidents)),
            ", ".join(f"{k} {v:.0f} s" for k, v in r.seconds.items()),
        )
        for r in results
    ]
    return Table(
        "Replayed datasets: trained with `python -m model_export export --window-end` on the"
        " lines before the replay (generated: the first 4 days; loghub: the oldest 80%), then"
        " one dbt run per 6 hours of log time that brought lines",
        (
            "dataset",
            "lines",
            "replayed lines",
            "dbt runs",
            "replayed days",
            "labelled incidents",
            "time (export, first run, replayed runs)",
        ),
        rows,
    )


def _verdict(met: bool | None) -> str:
    return "not measured in this run" if met is None else ("met" if met else "**missed**")


def _per_dataset(results: Sequence[DatasetResult], figure) -> str:  # type: ignore[no-untyped-def]
    return "; ".join(f"{r.short}: {figure(r)}" for r in results)


def targets_table(
    results: Sequence[DatasetResult],
    forward_chaining: ForwardChaining,
    unseen: Sequence[Unseen] = (),
    groupings: Sequence[Grouping] = (),
) -> Table:
    """Each of issue 21's targets with its figure, its baselines and whether it is met."""
    generated = [r for r in results if not r.loghub]
    rows = []

    def alerted(r: DatasetResult, method: str) -> str:
        a = r.method(method).alerts
        return _share(a.alerted(WITHIN_RUNS), a.incidents)

    def false_per_day(r: DatasetResult, method: str) -> str:
        return f"{r.method(method).alerts.false_per_day:.1f}"

    def line_f1(r: DatasetResult, method: str) -> str:
        return _number(r.method(method).lines["f1"])  # type: ignore[arg-type]

    def lines_of(r: DatasetResult) -> str:
        """A project without the incidents mart answers lines with ml_predictions' flags."""
        return PRODUCT_LINES if any(m.method == PRODUCT_LINES for m in r.methods) else PRODUCT

    for target, figure, method_of, met in (
        (
            f"generated logs: >= {ALERTED_SHARE:.0%} of incidents alerted in the run where they"
            " start or the next",
            alerted,
            lambda r: PRODUCT,
            lambda r: (r.method(PRODUCT).alerts.alerted_share(WITHIN_RUNS) or 0) >= ALERTED_SHARE,
        ),
        (
            f"generated logs: <= {FALSE_PER_DAY:g} false alert per day",
            false_per_day,
            lambda r: PRODUCT,
            lambda r: r.method(PRODUCT).alerts.false_per_day <= FALSE_PER_DAY,
        ),
        (
            f"generated logs: line F1 >= {LINE_F1:g} (the incidents' lines)",
            line_f1,
            lines_of,
            lambda r: float(r.method(lines_of(r)).lines["f1"]) >= LINE_F1,  # type: ignore[arg-type]
        ),
    ):
        rows.append(
            (
                target,
                _per_dataset(generated, lambda r, f=figure, m=method_of: f(r, m(r))),
                " / ".join(
                    f"{b}: {_per_dataset(generated, lambda r, f=figure, b=b: f(r, b))}"
                    for b in BASELINES
                ),
                _verdict(all(met(r) for r in generated) if generated else None),
            )
        )
    for r in results:
        if not r.loghub:
            continue
        fc = forward_chaining.get(r.dataset, {})
        ours, fatal = fc.get(PRODUCT), fc.get(FATAL_RULE)
        rows.append(
            (
                f"{r.dataset}: forward-chaining line F1 >= the FATAL rule's + {ABOVE_FATAL:g}",
                _number(ours),
                " / ".join(f"{b}: {_number(fc.get(b))}" for b in BASELINES),
                _verdict(None if ours is None or fatal is None else ours >= fatal + ABOVE_FATAL),
            )
        )
    worst = max(unseen, key=judged_share, default=None)
    rows.append(
        (
            f"unseen system: <= {TARGET_SHARE:.0%} of normal lines flagged on every loghub system",
            "-"
            if worst is None
            else f"{sum(judged_share(u) <= TARGET_SHARE for u in unseen)} of {len(unseen)}"
            f" systems; the most: {worst['system']} {judged_share(worst):.2%}",
            "-"
            if worst is None
            else "FATAL rule on the same lines: "
            + ", ".join(f"{u['system']} {u['fatal'] / max(u['lines'], 1):.2%}" for u in unseen),
            _verdict(None if worst is None else judged_share(worst) <= TARGET_SHARE),
        )
    )
    learned = [g.learned[0] for g in groupings]
    mean = float(np.mean(learned)) if learned else None
    token = [g.token[0] for g in groupings]
    rows.append(
        (
            f"loghub: mean grouping accuracy >= {MEAN_GA:.2f}, none below {LOWEST_GA:g}",
            "-" if mean is None else f"mean {mean:.3f}, lowest {min(learned):.3f}",
            "-" if not token else f"log_template (v1): mean {np.mean(token):.3f}",
            _verdict(None if mean is None else mean >= MEAN_GA and min(learned) >= LOWEST_GA),
        )
    )
    return Table(
        "Issue 21's targets (held out by time, no labels in training): met or missed",
        ("target", "logml", "baselines", "verdict"),
        rows,
    )


def replay_tables(
    results: Sequence[DatasetResult],
    forward_chaining: ForwardChaining,
    unseen: Sequence[Unseen] = (),
    groupings: Sequence[Grouping] = (),
) -> list[Table]:
    return [
        targets_table(results, forward_chaining, unseen, groupings),
        replay_table(results, forward_chaining),
        datasets_table(results),
    ]
