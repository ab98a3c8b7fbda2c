"""The figures of `evaluate` as tables (markdown for the terminal and the docs site's results
page, HTML for the report page) and precision-recall curves drawn as inline SVG (no plotting
dependency). A baseline stands beside every figure; a method with several seeds shows mean
[min-max]."""

from __future__ import annotations

import html as escape
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dbt_project.errors import InputError
from model_export.evaluation.rule_baselines import FATAL_RULE
from model_export.evaluation.unseen_system import TARGET_SHARE, judged_share
from model_export.training.metrics import RESAMPLES

Result = dict  # one dataset's figures, as evaluate.evaluate_dataset returns them
Unseen = dict  # one held-out system's figures, as unseen_system.unseen_systems returns them
BEGIN, END = "<!-- evaluate: begin -->", "<!-- evaluate: end -->"
SPLIT = "80/20"
# the default detector trained without labels, as evaluate.py names its figures
DETECTOR = "default (no labels)"


@dataclass(frozen=True)
class Table:
    title: str
    headers: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _spread(values: Sequence[float | None]) -> str:
    """mean [min-max] of a method's seeds."""
    known = [v for v in values if v is not None]
    if not known:
        return "-"
    if len(known) == 1 or min(known) == max(known):
        return _number(known[0])
    return f"{np.mean(known):.3f} [{min(known):.3f}-{max(known):.3f}]"


def _folds(figures: dict) -> list[dict]:
    return [v for k, v in figures.items() if k != SPLIT]


def _fold_mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def _pair(main: dict, folds: list[dict], pick: Callable[[dict], float | None]):
    """(80/20 figure, forward-chaining mean) of one method."""
    return pick(main), _fold_mean([pick(f) for f in folds])


def _difference(
    model: float | None, old: Sequence[float | None], bounds: Sequence[float] | None
) -> str:
    """The level model minus the old pipeline's seed mean, with its 95% bootstrap interval."""
    old_mean = _fold_mean(list(old))
    if model is None or old_mean is None:
        return "-"
    where = "" if bounds is None else f" [{_signed(bounds[0])}, {_signed(bounds[1])}]"
    return f"{_signed(model - old_mean)}{where}"


def _signed(value: float) -> str:
    return f"{round(value, 3) + 0.0:+.3f}"  # + 0.0: a rounded -0.0 reads +0.000


def _level_table(results: list[Result], metric: str, title: str) -> Table:
    rows = []
    means: dict[str, list[float]] = {}
    for result in results:
        levels = result["levels"]
        if SPLIT not in levels:
            continue
        main, folds = levels[SPLIT], _folds(levels)
        model = _pair(main, folds, lambda f: f["model"][metric])
        majority = _pair(main, folds, lambda f: f["majority"][metric])
        old_split = [o[metric] for o in main["old"]]
        old_fc = [_fold_mean([f["old"][i][metric] for f in folds]) for i in range(len(old_split))]
        bounds = result.get("levels_versus_old", {}).get(metric, {})
        if len(main["test_levels"]) > 1:  # the means: datasets where macro-F1 can tell
            for key, values in (
                ("model", model),
                ("majority", majority),
                ("old", (_fold_mean(old_split), _fold_mean(old_fc))),
            ):
                for part, value in zip(("split", "fc"), values, strict=True):
                    if value is not None:
                        means.setdefault(f"{key} {part}", []).append(value)
        rows.append(
            (
                result["dataset"],
                ", ".join(f"{k} {v}" for k, v in main["test_levels"].items()),
                main["chosen"],
                f"**{_number(model[0])}** \\| {_number(model[1])}",
                f"{_spread(old_split)} \\| {_spread(old_fc)}",
                f"{_difference(model[0], old_split, bounds.get(SPLIT))} \\|"
                f" {_difference(model[1], old_fc, bounds.get('fc'))}",
                f"{_number(majority[0])} \\| {_number(majority[1])}",
            )
        )
    if means:
        mean = {k: _number(float(np.mean(v))) for k, v in means.items()}
        rows.append(
            (
                "**mean, datasets with > 1 level in the 80/20 test part**",
                "",
                "",
                f"**{mean.get('model split', '-')}** \\| {mean.get('model fc', '-')}",
                f"{mean.get('old split', '-')} \\| {mean.get('old fc', '-')}",
                "",
                f"{mean.get('majority split', '-')} \\| {mean.get('majority fc', '-')}",
            )
        )
    headers = (
        "dataset",
        "test levels (80/20)",
        "candidate chosen (80/20)",
        "level model: 80/20 \\| fc mean",
        "old pipeline, seeds mean [min-max]: 80/20 \\| fc mean",
        "level model - old pipeline [95% bootstrap interval]: 80/20 \\| fc mean",
        "majority class: 80/20 \\| fc mean",
    )
    return Table(title, headers, rows)


def _share(main: dict, folds: list[dict], method: str) -> str:
    fc = _fold_mean([f[method]["flagged_share"] for f in folds if method in f])
    return f"{main[method]['flagged_share']:.1%} \\| " + ("-" if fc is None else f"{fc:.1%}")


def _seeds(figures: dict | list) -> list[dict]:
    return figures if isinstance(figures, list) else [figures]


def _quality_rows(dataset: str, main: dict, folds: list[dict]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for method, figures in main.items():
        if method == "curves":
            continue
        seeds = _seeds(figures)
        fc = [
            _fold_mean([_seeds(f[method])[i].get("f1") for f in folds if method in f])
            for i in range(len(seeds))
        ]
        rows.append(
            (
                dataset,
                method + (f" ({len(seeds)} seeds)" if len(seeds) > 1 else ""),
                str(seeds[0]["positives"]),
                _spread([s["flagged_share"] for s in seeds]),
                _spread([s["precision"] for s in seeds]),
                _spread([s["recall"] for s in seeds]),
                f"**{_spread([s['f1'] for s in seeds])}**",
                _spread(fc),
            )
        )
    return rows


def _split_rows(dataset: str, anomalies: dict) -> list[tuple[str, ...]]:
    """Each split of a dataset whose test lines carry labels: the detector's F1 beside the
    FATAL rule's and the best any threshold on the detector's score reaches there."""
    rows: list[tuple[str, ...]] = []
    for split, figures in anomalies.items():
        ours, fatal = figures[DETECTOR], figures[FATAL_RULE]
        if "best_threshold_f1" not in ours:
            continue
        rows.append(
            (
                dataset,
                split,
                f"{ours['rows']:,}",
                str(ours["positives"]),
                f"{ours['f1']:.3f}",
                f"{fatal['f1']:.3f}",
                f"{ours['best_threshold_f1']:.3f}",
            )
        )
    return rows


def _anomaly_tables(results: list[Result]) -> list[Table]:
    flagged, quality, splits = [], [], []
    for result in results:
        anomalies = result["anomalies"]
        if SPLIT not in anomalies:
            continue
        main, folds = anomalies[SPLIT], _folds(anomalies)
        flagged.append(
            (
                result["dataset"],
                _share(main, folds, DETECTOR),
                _share(main, folds, FATAL_RULE),
            )
        )
        if "f1" in main[DETECTOR]:
            quality += _quality_rows(result["dataset"], main, folds)
            splits += _split_rows(result["dataset"], anomalies)
    return [
        Table(
            "Share of test lines flagged anomalous: 80/20 | forward-chaining mean",
            ("dataset", "default detector, trained without labels", FATAL_RULE),
            flagged,
        ),
        Table(
            "Anomalies on datasets with line labels (80/20 test part; F1 also as fc mean)",
            (
                "dataset",
                "method",
                "anomalies (80/20 test)",
                "flagged share",
                "precision",
                "recall",
                "F1 (80/20)",
                "F1 fc mean",
            ),
            quality,
        ),
        Table(
            "Anomalies split by split (datasets with line labels): the default detector, the FATAL"
            " rule, and the best F1 of any threshold on the detector's score, chosen on that"
            " split's own test lines (a bound on what the score tells apart, not a result)",
            (
                "dataset",
                "split",
                "test lines",
                "labelled anomalies",
                "default detector F1",
                f"{FATAL_RULE} F1",
                "best F1 of any threshold (chosen on the test lines)",
            ),
            splits,
        ),
    ]


def _count_share(count: int, total: int) -> str:
    return f"{count} ({count / max(total, 1):.2%})"


def _verdict(share: float) -> str:
    return "met" if share <= TARGET_SHARE else "**missed**"


def _unseen_table(unseen: Sequence[Unseen]) -> Table:
    """Per held-out system (at least one): the figures, and the target judged on all its
    lines (and on its normal lines where it has labels)."""
    rows = []
    for u in unseen:
        normal, anomalies, bound = "-", "-", "-"
        verdict = _verdict(u["flagged_share"])
        rule = _count_share(u["fatal"], u["lines"])
        if "normal_lines" in u:  # a labelled system: its normal lines apart
            normal = _count_share(u["normal_flagged"], u["normal_lines"])
            rule += f" \\| {_count_share(u['normal_fatal'], u['normal_lines'])}"
            anomalies = f"{u['anomalies_flagged']} of {u['lines'] - u['normal_lines']}"
            if u.get("normal_at_first_anomaly") is not None:
                bound = _count_share(u["normal_at_first_anomaly"], u["normal_lines"])
            verdict += f" \\| {_verdict(u['normal_flagged_share'])}"
        rows.append(
            (
                u["system"],
                f"{u['lines']:,}",
                f"{u['threshold']:.3f}",
                _count_share(u["undecided"], u["lines"]),
                f"**{_count_share(u['flagged'], u['lines'])}**",
                normal,
                anomalies,
                bound,
                rule,
                _count_share(u["alerts"], u["lines"]),
                "-" if u["first_alert_line"] is None else f"{u['first_alert_line']:,}",
                str(u["alerts_undecided"]),
                verdict,
            )
        )
    met = sum(judged_share(u) <= TARGET_SHARE for u in unseen)
    early = sum(u["alerts_undecided"] for u in unseen)
    rows.append(
        (
            f"**{met} of {len(unseen)} systems at most {TARGET_SHARE:.0%} of their normal lines"
            " flagged (all lines where none is labelled);"
            f" {early} alerts before a system's own history**",
            *("",) * 12,
        )
    )
    n = unseen[0]["min_history"]
    return Table(
        "A system never seen in training: each loghub system held out, the default detector"
        f" trained without labels on the others (target: at most {TARGET_SHARE:.0%} of its normal"
        " lines flagged, every line counting as normal where none is labelled; no alert before"
        f" {n} lines of its own)",
        (
            "unseen system",
            "lines",
            "threshold (from the others)",
            f"no decision yet (< {n} own lines)",
            "flagged is_anomaly (share)",
            "normal lines flagged (share)",
            "labelled anomalies flagged",
            "normal lines any threshold flags once it flags an anomaly (chosen on these lines)",
            'baseline: rule "FATAL means anomaly", all lines \\| normal lines',
            "alerts (share)",
            "first alert at own line #",
            "alerts before own history",
            f"<= {TARGET_SHARE:.0%} flagged: all lines \\| normal lines",
        ),
        rows,
    )


def tables(
    results: list[Result], unseen: Sequence[Unseen] = (), extra: Sequence[Table] = ()
) -> list[Table]:
    unseen_tables = [_unseen_table(unseen)] if unseen else []
    split_tables = [
        _level_table(results, "macro_f1", "Level classifier, macro-F1 (levels in the test part)"),
        _level_table(
            results,
            "macro_f1_min_support",
            "Level classifier, macro-F1 over the levels with >= 5 test lines",
        ),
        *_anomaly_tables(results),
    ]
    return [*(split_tables if results else []), *unseen_tables, *extra]


PREAMBLE = (
    "Each dataset is split by time: 80/20 (train on the oldest 80%, test on the newest 20%) and"
    " forward chaining (train on the oldest k x 10%, test on the next 10%, k = 5..9; fc mean is"
    " the mean over the folds). The level model is what export trains: the candidate with the"
    " best macro-F1 over the levels with >= 5 lines (then plain macro-F1) on validation windows"
    " inside the training part. Baselines are trained on"
    " the same training part; the old pipeline (TF-IDF 1000 + RandomForest 100) with seeds"
    " 0, 1, 2 shows mean [min-max]. The level model's difference to the old pipeline's seed"
    f" mean comes with a paired bootstrap interval ({RESAMPLES:,} resamples of the test lines, the"
    " same for both; each fold resampled on its own for the fc mean): an interval that holds 0 is a"
    " difference these test lines cannot tell from chance. No figure is measured on training"
    " lines."
)


def markdown(
    results: list[Result], command: str, unseen: Sequence[Unseen] = (), extra: Sequence[Table] = ()
) -> str:
    lines = [f"Produced by `{command}`. {PREAMBLE}", ""]
    for table in tables(results, unseen, extra):
        lines += [f"**{table.title}**", "", "| " + " | ".join(table.headers) + " |"]
        lines.append("|" + "---|" * len(table.headers))
        lines += ["| " + " | ".join(row) + " |" for row in table.rows]
        lines.append("")
    return "\n".join(lines)


class MissingMarkers(InputError):
    """The page has no BEGIN ... END pair to write the figures between."""


def _section_bounds(page: Path) -> tuple[str, int, int]:
    """The page's text and where its generated section starts and ends."""
    text = page.read_text(encoding="utf-8") if page.is_file() else ""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise MissingMarkers(
            f"{page} has no '{BEGIN}' ... '{END}' pair: add both lines where the tables go"
        )
    return text, start + len(BEGIN), end


def check_page(page: Path) -> None:
    """Raise MissingMarkers before a long evaluation whose tables would have nowhere to go."""
    _section_bounds(page)


def replace_generated_section(page: Path, section: str) -> None:
    """Replace the text between the BEGIN and END markers of a markdown page (the results
    page keeps its prose around the generated tables)."""
    text, start, end = _section_bounds(page)
    page.write_text(text[:start] + "\n" + section + "\n" + text[end:], encoding="utf-8")


def _html_cell(text: str) -> str:
    text = escape.escape(text.replace("\\|", "|"))
    if text.startswith("**") and "**" in text[2:]:
        bold, rest = text[2:].split("**", 1)
        return f"<b>{bold}</b>{rest}"
    return text


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{_html_cell(h)}</th>" for h in table.headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{_html_cell(c)}</td>" for c in row) + "</tr>" for row in table.rows
    )
    return f"<h2>{escape.escape(table.title)}</h2>\n<table><tr>{head}</tr>{body}</table>"


COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def _svg_curves(title: str, main: dict) -> str:
    """Precision (y) against recall (x): the detector's curves, the baselines' decisions as
    points."""
    width, height, pad = 420, 300, 40
    x = lambda r: pad + r * (width - 2 * pad)  # noqa: E731
    y = lambda p: height - pad - p * (height - 2 * pad)  # noqa: E731
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' role="img" aria-label="{escape.escape(title)}">',
        f'<rect x="{pad}" y="{pad}" width="{width - 2 * pad}" height="{height - 2 * pad}"'
        ' fill="none" stroke="#999"/>',
        f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle" font-size="12">recall</text>',
        f'<text x="12" y="{height / 2}" font-size="12" transform="rotate(-90 12 {height / 2})"'
        ' text-anchor="middle">precision</text>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="13">'
        f"{escape.escape(title)}</text>",
        *(
            f'<text x="{x(v)}" y="{height - pad + 14}" font-size="10" text-anchor="middle">'
            f'{v:g}</text><text x="{pad - 6}" y="{y(v) + 4}" font-size="10"'
            f' text-anchor="end">{v:g}</text>'
            for v in (0.0, 0.5, 1.0)
        ),
    ]
    legend = 0
    for (name, curve), colour in zip(main.get("curves", {}).items(), COLOURS, strict=False):
        points = " ".join(
            f"{x(r):.1f},{y(p):.1f}"
            for r, p in zip(curve["recall"], curve["precision"], strict=True)
        )
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}"/>')
        parts.append(_legend(legend, colour, f"{name}: score curve", width, pad))
        legend += 1
    for method, figures in main.items():
        if method == "curves" or method.startswith("default"):
            continue
        colour = COLOURS[legend % len(COLOURS)]
        for f in figures if isinstance(figures, list) else [figures]:
            parts.append(
                f'<circle cx="{x(f["recall"]):.1f}" cy="{y(f["precision"]):.1f}" r="4"'
                f' fill="{colour}"/>'
            )
        parts.append(_legend(legend, colour, f"{method} (point)", width, pad))
        legend += 1
    for method in (DETECTOR, "default (with labels)"):
        if method in main and "precision" in main[method]:
            f = main[method]
            parts.append(
                f'<rect x="{x(f["recall"]) - 4:.1f}" y="{y(f["precision"]) - 4:.1f}" width="8"'
                ' height="8" fill="none" stroke="#000"/>'
            )
    parts.append("</svg>")
    return "\n".join(parts)


def _legend(index: int, colour: str, text: str, width: int, pad: int) -> str:
    top = pad + 14 + 14 * index
    return (
        f'<rect x="{pad + 8}" y="{top - 9}" width="10" height="10" fill="{colour}"/>'
        f'<text x="{pad + 22}" y="{top}" font-size="11">{escape.escape(text)}</text>'
    )


def html(
    results: list[Result], command: str, unseen: Sequence[Unseen] = (), extra: Sequence[Table] = ()
) -> str:
    body = [f"<p>Produced by <code>{escape.escape(command)}</code>. {escape.escape(PREAMBLE)}</p>"]
    body += [_html_table(t) for t in tables(results, unseen, extra)]
    body.append("<h2>Precision-recall, 80/20 test part (squares: the detector's decision)</h2>")
    for result in results:
        main = result["anomalies"].get(SPLIT, {})
        if "curves" in main:
            body.append(_svg_curves(result["dataset"], main))
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table{border-collapse:collapse;margin-bottom:1em}"
        "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>logml evaluation</title><style>{style}</style></head><body>\n"
        "<h1>logml: held-out quality</h1>\n" + "\n".join(body) + "\n</body></html>\n"
    )
