"""A system never seen in training (issue #12: "trained on others, all its lines normal: at most
1% of its lines flagged is_anomaly, and no alert until it has a history of its own").

Leave one system out: export's default path (the level classifier as export chooses it, then
the severity x rarity detector, no labels) is trained on every other loghub system's lines
in time order and applied to the held-out system's lines run by run, each line with the
history the detector counts for it (detector.with_history_in_runs: the training history, in
which the held-out system has no line, plus its own lines of earlier runs). Per system: its
lines, those with no decision yet (fewer than min_history lines of their service known), the
share flagged, the share of its normal lines flagged where every line carries a label (BGL has
real anomalies, so "all its lines normal" does not hold there), and the alerts ml_alerts would
raise (pipelines.new_template_alerts), with any raised before the system had a history of its
own; beside them, the lines the rule "FATAL means anomaly" flags (all, and normal). Where lines
carry labels, also the fewest normal lines any threshold on the detector's score flags once it
flags one anomaly (a bound, the threshold chosen on the judged lines: no result).
"""

from __future__ import annotations

import pandas as pd

from model_export.progress import progress
from model_export.training import pipelines
from model_export.training.anomaly_detectors import ORDER, SeverityRarity, with_history_in_runs
from model_export.training.level_selection import select_level_classifier
from model_export.training.metrics import normal_at_first_anomaly
from model_export.training.templates import templates_of

TARGET_SHARE = 0.01  # at most this share of the unseen system's lines flagged


def unseen_system(others: pd.DataFrame, system: pd.DataFrame, seed: int) -> dict[str, object]:
    """The figures of `system` under the default detector trained on `others` alone."""
    train = pipelines.without_labels(others).sort_values(ORDER, kind="stable")
    level, _ = select_level_classifier(train, seed)
    detector = pipelines.fit_anomaly_detector(train, level)[-1]
    assert isinstance(detector, SeverityRarity)  # no labels: the unsupervised default
    counted = with_history_in_runs(
        system.sort_values(ORDER, kind="stable"),
        detector.history_,
        templates=templates_of(detector),
    )
    signals = detector.signals(counted)
    flagged = detector.decide(signals)
    undecided = signals["n"] < detector.min_history
    fatal = pipelines.fatal_rule(counted)
    alerts = pipelines.new_template_alerts(flagged, counted)
    figures: dict[str, object] = {
        "lines": len(counted),
        "min_history": detector.min_history,
        "threshold": detector.threshold_,
        "undecided": int(undecided.sum()),
        "flagged": int(flagged.sum()),
        "flagged_share": float(flagged.mean()) if len(counted) else 0.0,
        "fatal": int(fatal.sum()),
        "alerts": int(alerts.sum()),
        "alerts_undecided": int((alerts & undecided).sum()),
        "first_alert_line": int(signals["n"][alerts].min()) + 1 if alerts.any() else None,
    }
    if len(counted) and counted["is_anomaly_label"].notna().all():
        normal = ~pipelines.anomaly_labels(counted)
        figures.update(
            normal_lines=int(normal.sum()),
            normal_flagged=int((flagged & normal).sum()),
            normal_flagged_share=float((flagged & normal).sum() / max(int(normal.sum()), 1)),
            anomalies_flagged=int((flagged & ~normal).sum()),
            normal_fatal=int((fatal & normal).sum()),
            # what the score allows at best: a threshold chosen on these very lines
            normal_at_first_anomaly=normal_at_first_anomaly(
                ~normal, signals["score"], signals["eligible"]
            ),
        )
    return figures


def judged_share(figures: dict[str, object]) -> float:
    """The share the target judges: of the normal lines where every line carries a label (a
    labelled anomaly is not a line "all its lines normal" speaks of), else of all lines."""
    share = figures.get("normal_flagged_share", figures["flagged_share"])
    assert isinstance(share, float)
    return share


def unseen_systems(systems: dict[str, pd.DataFrame], seed: int) -> list[dict[str, object]]:
    """Each system held out in turn (its lines are in no training set of its own figures)."""
    results = []
    for name, system in systems.items():
        others = pd.concat([frame for other, frame in systems.items() if other != name])
        progress(f"unseen system {name}: trained on {len(others)} lines of the others")
        results.append({"system": name, **unseen_system(others, system, seed)})
    return results
