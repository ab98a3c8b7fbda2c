"""Template labels: the cheap path to supervision. Labelling lines is what users never do;
labelling a template once ("this FATAL is benign", "this one pages someone") is.

`ml.ml_template_labels` (created by every dbt run: macros/template_labels.sql) holds one label
per template (its md5, as `ml_predictions.template_hash`) with an example line of it. Users
fill it with SQL or with

    python -m model_export label --log-entry-id 123 --anomalous   (or --normal; make label)

and the next `make export-model` uses it (TemplateLabels in
model_export.training.anomaly_detectors). When the
training rows carry the old system's `is_anomaly`, each training template is labelled too
(anomalous when at least half its lines are); a user's label wins over a derived one.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from dbt_project.database import connect
from model_export.training.data import STG_RELATION
from model_export.training.templates import Templates, TokenTemplates
from model_export.training.tokenizer import log_template, template_hash

TABLE = "ml.ml_template_labels"


@dataclass(frozen=True)
class Label:
    template_hash: str
    is_anomaly: bool
    example_message: str


def _exists(url: str) -> bool:
    """dbt creates the table on every run (macros/template_labels.sql)."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass(%s) is not null", (TABLE,))
        return bool(cur.fetchone()[0])


def label_line(url: str, log_entry_id: int, is_anomaly: bool, note: str | None = None) -> Label:
    """Label the template of one logged line (every line of that template)."""
    if not _exists(url):
        raise SystemExit(f"no {TABLE}: run dbt once (make run, or make pipeline)")
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"select message from {STG_RELATION} where log_entry_id = %s", (log_entry_id,))
        found = cur.fetchone()
        if found is None:
            raise SystemExit(f"no log line {log_entry_id} in {STG_RELATION}")
        message = str(found[0])
        label = Label(template_hash(message), is_anomaly, message)
        cur.execute(
            f"insert into {TABLE} (template_hash, is_anomaly, example_message, note)"
            " values (%s, %s, %s, %s) on conflict (template_hash) do update set"
            " is_anomaly = excluded.is_anomaly, example_message = excluded.example_message,"
            " note = excluded.note, labelled_at = now()",
            (label.template_hash, is_anomaly, message, note),
        )
    return label


def user_labels(url: str) -> list[Label]:
    if not _exists(url):
        return []
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"select template_hash, is_anomaly, example_message from {TABLE} order by 1")
        return [Label(str(h), bool(a), str(m)) for h, a, m in cur.fetchall()]


def derived_labels(train: pd.DataFrame, templates: Templates | None = None) -> list[Label]:
    """The old system's line labels as template labels: a training template (as `templates`
    assigns them; None: version 1) is anomalous when at least half of its labelled lines are."""
    known = train[train["is_anomaly_label"].notna()]
    if known.empty:
        return []
    messages = known["message"].astype(str)
    frame = pd.DataFrame(
        {
            "hash": (templates or TokenTemplates()).hashes(messages),
            "anomalous": known["is_anomaly_label"].astype(bool).to_numpy(),
            "message": messages.to_numpy(),
        }
    )
    grouped = frame.groupby("hash", sort=True)
    share = grouped["anomalous"].mean()
    example = grouped["message"].first()
    return [Label(str(h), bool(share[h] >= 0.5), str(example[h])) for h in share.index]


def rehashed(labels: list[Label], templates: Templates) -> list[Label]:
    """Users' labels under another template assignment: each by the template of its example
    line (the table keeps version 1's hash; a version with learned templates reads it so)."""
    return [
        Label(templates.hash(x.example_message), x.is_anomaly, x.example_message) for x in labels
    ]


def merge_labels(user: list[Label], derived: list[Label]) -> list[Label]:
    """Both kinds, one per template: the user's label wins."""
    merged = {label.template_hash: label for label in derived}
    merged.update({label.template_hash: label for label in user})
    return [merged[h] for h in sorted(merged)]


def describe(label: Label) -> str:
    kind = "anomalous" if label.is_anomaly else "normal"
    return f"{label.template_hash} labelled {kind}: {log_template(label.example_message)}"
