"""The default unsupervised anomaly detector: severity x rarity (issue #12; the study behind
the formula and its constants: docs/concepts/detector.md).

Per line, from signals that hold on real logs:

    T = the level model's P(ERROR) + P(FATAL), prior-corrected (each class's decision minus
        ln of its share of the training lines: the probabilities the same weights give when
        every level is equally likely a priori); 0 when no term of the line is known
    V = the logged level: ERROR/FATAL 1, WARN 0.5, DEBUG/INFO 0; 1 for HTTP >= 500;
        missing when the line has neither a level nor an HTTP status
    S = sqrt(T * V) (text and level must agree), or T when V is missing
    R = K / (K + c), c = lines of the same (service, template) in the history
    score    = S * R in [0, 1] (a ranking)
    decision = score >= threshold AND n >= N AND V is not missing
               (n = lines of the service in the history: no decision without some of its own)

c and n are history, not functions of the line: the training lines (kept as `history_`,
shipped as a seed) plus the lines scored by earlier runs after the training window (state
tables that dbt maintains incrementally). The lines of one run do not count each other, so
each line is scored from its own row and small lookups (docs/internals/detector.md). Here they
are the columns `template_lines` and `service_lines` of the input frame, or, when absent,
the training history alone (`with_history`).

The threshold comes from the training lines alone, each scored with the history before it:
the floor t0 = 0.5, raised only if t0 would flag more than `budget` of them.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from model_export.training.features import LEVEL_ORDINALS, LogFeatures
from model_export.training.templates import (
    LearnedTemplates,
    Templates,
    TokenTemplates,
    templates_of,
)

TEMPLATE_HASH = "template_hash"
TEMPLATE_LINES = "template_lines"
SERVICE_LINES = "service_lines"
SEVERE = ("ERROR", "FATAL")
ORDER = ["logged_at", "log_entry_id"]
# Evaluation scores held-out lines run by run, as the shipped schedule does
# (.github/workflows/ml_analysis.yml: dbt every 6 hours).
RUN_SECONDS = 6 * 3600


def time_order(frame: pd.DataFrame) -> np.ndarray:
    """Row positions in (logged_at, log_entry_id) order: positions, not labels (a frame's
    index may repeat, frames being concatenated)."""
    return frame[ORDER].reset_index(drop=True).sort_values(ORDER, kind="stable").index.to_numpy()


def service_key(frame: pd.DataFrame) -> list[str]:
    """The history's service key: a missing service is its own service ('')."""
    return ["" if pd.isna(s) else str(s) for s in frame["service"]]


class History:
    """Running counts of lines per (service, template) and per service: `count` gives each
    row of a frame the lines counted before it (in (logged_at, log_entry_id) order) and adds
    the frame. How `fit` scores the training lines, each with the lines before it."""

    def __init__(self) -> None:
        self.templates: Counter[tuple[str, str]] = Counter()
        self.services: Counter[str] = Counter()

    def count(self, frame: pd.DataFrame, templates: Templates | None = None) -> pd.DataFrame:
        order = time_order(frame)
        ordered = frame.iloc[order]
        c = np.empty(len(frame), dtype=np.int64)
        n = np.empty(len(frame), dtype=np.int64)
        rows = zip(order, service_key(ordered), _hashes(ordered, templates), strict=True)
        for position, key, h in rows:
            c[position], n[position] = self.templates[(key, h)], self.services[key]
            self.templates[(key, h)] += 1
            self.services[key] += 1
        return frame.assign(**{TEMPLATE_LINES: c, SERVICE_LINES: n})


def with_history(
    frame: pd.DataFrame,
    history: pd.DataFrame | None = None,
    trained: History | None = None,
    templates: Templates | None = None,
) -> pd.DataFrame:
    """`frame` (the lines of one run) with template_lines and service_lines as the SQL counts
    them: the lines of `trained` (the detector's training lines, shipped as a seed) plus the
    lines of `history` (scored by earlier runs, after the training window), per (service,
    template) and per service. The lines of one run do not count each other: that keeps the
    scoring of each line independent of the others (row-local SQL, which Citus pushes down to
    the shards). Templates as `templates` assigns them (version 1 when None). Row order is
    kept."""
    counter = History()
    if trained is not None:
        counter.templates.update(trained.templates)
        counter.services.update(trained.services)
    if history is not None:
        counter.count(history, templates)
    keys, hashes = service_key(frame), _hashes(frame, templates)
    return frame.assign(
        **{
            TEMPLATE_HASH: hashes,
            TEMPLATE_LINES: np.array(
                [counter.templates[(k, h)] for k, h in zip(keys, hashes, strict=True)],
                dtype=np.int64,
            ),
            SERVICE_LINES: np.array([counter.services[k] for k in keys], dtype=np.int64),
        }
    )


def run_index(times: pd.Series, run_seconds: int = RUN_SECONDS) -> np.ndarray:
    """The scheduled run each time falls in: whole `run_seconds` windows since the epoch (UTC),
    whatever the datetime resolution (pandas 3 reads timestamps in microseconds)."""
    since = pd.to_datetime(times, utc=True) - pd.Timestamp(0, tz="UTC")
    return np.asarray(since // pd.Timedelta(seconds=run_seconds), dtype=np.int64)


def with_history_in_runs(
    frame: pd.DataFrame,
    trained: History | None,
    run_seconds: int = RUN_SECONDS,
    templates: Templates | None = None,
) -> pd.DataFrame:
    """`frame` scored by scheduled runs (evaluation and benchmarks): the lines logged in each
    `run_seconds` window (by logged_at) form one run, whose history is `trained` plus the
    lines of the frame's earlier runs. What with_history gives run after run, in one pass."""
    counted = with_history(frame, trained=trained, templates=templates)
    run = run_index(frame["logged_at"], run_seconds)
    lines = pd.DataFrame(
        {"service": service_key(frame), "template": counted[TEMPLATE_HASH].to_numpy(), "run": run}
    )
    for name, key in ((TEMPLATE_LINES, ["service", "template"]), (SERVICE_LINES, ["service"])):
        per_run = lines.groupby([*key, "run"], sort=True).size()
        # the lines of the key's earlier runs: the running total minus the run's own lines
        before = per_run.groupby(level=key, sort=False).cumsum() - per_run
        index = pd.MultiIndex.from_frame(lines[[*key, "run"]])
        counted[name] = counted[name].to_numpy() + before.reindex(index).to_numpy(dtype=np.int64)
    return counted


def training_history(detector: object) -> History | None:
    """The training history a detector (or its pipeline) ships: severity x rarity's."""
    step = detector[-1] if isinstance(detector, Pipeline) else detector
    history = getattr(step, "history_", None)
    return history if isinstance(history, History) else None


def _hashes(frame: pd.DataFrame, templates: Templates | None = None) -> list[str]:
    return (templates or TokenTemplates()).hashes(str(m) for m in frame["message"])


class _TemplatesParam:
    """`templates`: the fitted template assignment a detector counts by (None: version 1, as
    every detector saved before it existed, whose pickles lack the attribute)."""

    templates: LearnedTemplates | None

    def __setstate__(self, state: dict) -> None:
        state.setdefault("templates", None)
        super().__setstate__(state)  # type: ignore[misc]


class SeverityRarity(_TemplatesParam, BaseEstimator):
    """score_samples / predict / decision_function over a stg_log_entries DataFrame (with or
    without the history columns). `level` is the fitted level classifier Pipeline (TF-IDF ->
    LogisticRegression) whose text reading is T; `templates` the fitted LearnedTemplates that
    its history counts by (None: template version 1)."""

    def __init__(
        self,
        level: Pipeline | None = None,
        rarity: float = 10.0,
        min_history: int = 1000,
        floor: float = 0.5,
        budget: float = 0.15,
        templates: LearnedTemplates | None = None,
    ) -> None:
        self.level = level
        self.templates = templates
        self.rarity = rarity
        self.min_history = min_history
        self.floor = floor
        self.budget = budget

    def fit(self, frame: pd.DataFrame, y: object = None) -> SeverityRarity:
        if self.level is None:
            raise ValueError("SeverityRarity needs the fitted level classifier")
        # The template frequencies the drift monitor compares against (log_features' seed).
        self.features_ = LogFeatures(templates=self.templates).fit(frame)
        classes = [str(c) for c in self.level.classes_]
        levels = frame["level"].dropna().astype(str)
        shares = np.array([(levels == c).sum() / max(len(levels), 1) for c in classes])
        if (shares <= 0).any():
            raise ValueError("every level of the classifier must occur in the training rows")
        self.log_priors_ = np.log(shares)
        self.severe_ = np.array([c in SEVERE for c in classes])
        # Each training line scored with the training lines before it; the counts of them all
        # are the history a version starts with (a seed, so its first run can decide).
        self.history_ = History()
        signals = self.signals(self.history_.count(frame, templates_of(self)))
        eligible = signals["eligible"]
        scores = np.sort(signals["score"][eligible])
        allowed = int(np.floor(self.budget * len(frame)))
        threshold = float(self.floor)
        if int(np.sum(scores >= threshold)) > allowed:
            # the smallest threshold that flags at most `allowed` of the training lines
            threshold = float(np.nextafter(scores[len(scores) - allowed - 1], np.inf))
        self.threshold_ = threshold
        self.training_flagged_share_ = float(np.sum(scores >= threshold)) / max(len(frame), 1)
        return self

    def severity_text(self, frame: pd.DataFrame) -> np.ndarray:
        """T: prior-corrected P(ERROR) + P(FATAL), 0 for a line without a known term."""
        level = self.level
        assert level is not None
        x = level[:-1].transform(frame)
        d = np.asarray(level[-1].decision_function(x), dtype=np.float64)
        if d.ndim == 1:  # binary: scikit-learn's one decision is the second class's
            d = np.column_stack([np.zeros_like(d), d])
        shifted = d - self.log_priors_
        exps = np.exp(shifted - shifted.max(axis=1, keepdims=True))
        severe = exps[:, self.severe_].sum(axis=1) / exps.sum(axis=1)
        known = np.diff(x.tocsr().indptr) > 0
        return np.where(known, severe, 0.0)

    def signals(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Every signal of the formula, per row (the explanation names the ones that fired)."""
        if TEMPLATE_LINES not in frame or SERVICE_LINES not in frame:
            frame = with_history(frame, trained=self.history_, templates=templates_of(self))
        t = self.severity_text(frame)
        ordinal = np.array(
            [LEVEL_ORDINALS.get(v, -1.0) if isinstance(v, str) else -1.0 for v in frame["level"]]
        )
        g = np.where(ordinal >= 3, 1.0, np.where(ordinal == 2, 0.5, np.where(ordinal >= 0, 0, -1)))
        status = pd.to_numeric(frame["http_status"], errors="coerce").to_numpy(dtype=np.float64)
        h = np.where(np.nan_to_num(status, nan=0.0) >= 500, 1.0, 0.0)
        v = np.maximum(g, h)  # -1: neither a level nor an HTTP status
        s = np.where(v >= 0, np.power(t * np.maximum(v, 0.0), 0.5), t)
        c = frame[TEMPLATE_LINES].to_numpy(dtype=np.float64)
        n = frame[SERVICE_LINES].to_numpy(dtype=np.float64)
        score = s * (self.rarity / (self.rarity + c))
        eligible = (n >= self.min_history) & (v >= 0)
        return {
            "text": t,
            "level": v,
            "ordinal": ordinal,
            "http": np.nan_to_num(status, nan=0.0),
            "score": score,
            "eligible": eligible,
            "c": c,
            "n": n,
        }

    def score_samples(self, frame: pd.DataFrame) -> np.ndarray:
        return self.signals(frame)["score"]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.decide(self.signals(frame))

    def decide(self, signals: dict[str, np.ndarray]) -> np.ndarray:
        return signals["eligible"] & (signals["score"] >= self.threshold_)

    def confidence(self, signals: dict[str, np.ndarray]) -> np.ndarray:
        """How far the score is from the threshold, 0..1; 0 where no decision can be made."""
        margin = np.abs(signals["score"] - self.threshold_) / self.margin_scale()
        return np.where(signals["eligible"], margin, 0.0)

    def explanation(self, signals: dict[str, np.ndarray]) -> np.ndarray:
        """For a flagged line, the signals behind its score, e.g. "text reads ERROR/FATAL 97%;
        logged FATAL; new for its service (1204 earlier lines of it)"; '' for other lines
        (formatting numbers on every line would cost more than the model). Numbers are
        floor()ed integers, so the SQL writes exactly the same text."""
        names = {v: k for k, v in LEVEL_ORDINALS.items()}
        texts = []
        for flagged, t, ordinal, http, c, n in zip(
            self.decide(signals),
            signals["text"],
            signals["ordinal"],
            signals["http"],
            signals["c"],
            signals["n"],
            strict=True,
        ):
            if not flagged:
                texts.append("")
                continue
            parts = [
                f"text reads ERROR/FATAL {int(np.floor(100.0 * t))}%",
                f"logged {names.get(float(ordinal), 'no level')}",
            ]
            if http >= 500:
                parts.append(f"HTTP {int(np.floor(http))}")
            if c == 0:
                parts.append(f"new for its service ({int(n)} earlier lines of it)")
            else:
                parts.append(f"seen {int(c)} times in its service")
            texts.append("; ".join(parts))
        return np.asarray(texts, dtype=object)

    def margin_scale(self) -> float:
        """The largest possible |score - threshold| (scores lie in 0..1)."""
        return max(self.threshold_, 1.0 - self.threshold_)


def severity_rarity(level: Pipeline, templates: LearnedTemplates | None = None) -> Pipeline:
    return Pipeline([("detector", SeverityRarity(level, templates=templates))])


class TemplateLabels(_TemplatesParam, BaseEstimator):
    """Supervision from template labels (model_export.training.labels): a labelled template
    takes its label (score 1 or 0); any other template gets the prediction of a logistic regression
    trained on one row per labelled template, its example line through the level
    classifier's vectorizer (class_weight balanced: anomalous templates are few). Words
    generalise: a new `ciod: Error loading <path>` reads like the ones labelled normal.
    `labels` is ((template_hash, is_anomaly, example message), ...) with both kinds, hashed by
    `templates` (None: template version 1)."""

    def __init__(
        self,
        level: Pipeline | None = None,
        labels: tuple[tuple[str, bool, str], ...] = (),
        C: float = 10.0,
        templates: LearnedTemplates | None = None,
    ) -> None:
        self.level = level
        self.labels = labels
        self.C = C
        self.templates = templates

    def fit(self, frame: pd.DataFrame, y: object = None) -> TemplateLabels:
        if self.level is None:
            raise ValueError("TemplateLabels needs the fitted level classifier")
        kinds = {bool(a) for _, a, _ in self.labels}
        if kinds != {False, True}:
            raise ValueError("TemplateLabels needs anomalous and normal templates")
        # the drift monitor's template frequencies
        self.features_ = LogFeatures(templates=self.templates).fit(frame)
        self.labels_ = {str(h): bool(a) for h, a, _ in self.labels}
        examples = pd.DataFrame({"message": [str(m) for _, _, m in self.labels]})
        x = self.level[:-1].transform(examples)
        target = np.array([bool(a) for _, a, _ in self.labels])
        self.model_ = LogisticRegression(
            C=self.C, class_weight="balanced", max_iter=2000, random_state=0
        ).fit(x, target)
        return self

    def signals(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        level = self.level
        assert level is not None
        hashes = _hashes(frame, templates_of(self))
        label = np.array([float(self.labels_[h]) if h in self.labels_ else -1.0 for h in hashes])
        x = level[:-1].transform(frame)
        decision = np.asarray(self.model_.decision_function(x), dtype=np.float64)
        proba = self.model_.predict_proba(x)[:, 1]
        known = label >= 0
        flagged = np.where(known, label == 1.0, self.model_.predict(x).astype(bool))
        return {
            "label": label,
            "decision": decision,
            "proba": proba,
            "score": np.where(known, label, proba),
            "flagged": flagged,
            "confidence": np.where(known, 1.0, np.where(decision > 0, proba, 1.0 - proba)),
        }

    def score_samples(self, frame: pd.DataFrame) -> np.ndarray:
        return self.signals(frame)["score"]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.signals(frame)["flagged"]

    def explanation(self, signals: dict[str, np.ndarray]) -> np.ndarray:
        """For a flagged line: "template labelled anomalous", or "reads like the templates
        labelled anomalous: 87%" (floor()ed, as the SQL writes it); '' for other lines."""
        texts = []
        for flagged, label, p in zip(
            signals["flagged"], signals["label"], signals["proba"], strict=True
        ):
            if not flagged:
                texts.append("")
            elif label >= 0:
                texts.append("template labelled anomalous")
            else:
                texts.append(
                    f"reads like the templates labelled anomalous: {int(np.floor(100.0 * p))}%"
                )
        return np.asarray(texts, dtype=object)


def template_labels(
    level: Pipeline,
    labels: tuple[tuple[str, bool, str], ...],
    templates: LearnedTemplates | None = None,
) -> Pipeline:
    return Pipeline([("detector", TemplateLabels(level, labels, templates=templates))])
