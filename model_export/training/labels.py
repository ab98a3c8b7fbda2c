"""Template labels: the cheap path to supervision. Labelling lines is what users never do;
labelling a template once ("this FATAL is benign", "this one pages someone") is.

`ml_template_labels` (in the output schema; macros/schema_migrations.sql) holds one label
per template hash (the md5 of `ml_predictions.template_hash`) with an example line of it. Users
fill it with SQL or with

    python -m model_export label --log-entry-id 123 --anomalous   (or --normal; make label)

and the next `make export-model` uses it (TemplateLabels in
model_export.training.anomaly_detectors). Versions group lines into templates differently
(template version 1 or learned templates), and the incidents and the API read the labels by
each version's own hash: a label is stored under every hash its line has (version 1's and
every scoring version's), and an export adds the hashes of the new version (carry_over). When the
training rows carry the old system's `is_anomaly`, each training template is labelled too
(anomalous when at least half its lines are); a user's label wins over a derived one.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import psycopg
from psycopg import sql

from dbt_project.database import output_name, output_table, table_exists
from dbt_project.errors import InputError
from model_export.training.data import stg_relation
from model_export.training.templates import Templates, TokenTemplates
from model_export.training.tokenizer import log_template, template_hash

TABLE = "ml_template_labels"


@dataclass(frozen=True)
class Label:
    template_hash: str
    is_anomaly: bool
    example_message: str


def label_line(
    conn: psycopg.Connection, log_entry_id: int, is_anomaly: bool, note: str | None = None
) -> Label:
    """Label the template of one logged line (every line of that template), under version 1's
    hash and the hash of every version that scored the line."""
    found = conn.execute(
        f"select message from {stg_relation()} where log_entry_id = %s", (log_entry_id,)
    ).fetchone()
    if found is None:
        raise InputError(f"no log line {log_entry_id} in {output_name('stg_log_entries')}")
    message = str(found[0])
    label = Label(template_hash(message), is_anomaly, message)
    predictions = output_table("ml_predictions")
    scored = []
    if table_exists(conn, predictions):
        scored = conn.execute(
            sql.SQL("select distinct template_hash from {} where log_entry_id = %s").format(
                predictions
            ),
            (log_entry_id,),
        ).fetchall()
    hashes = {label.template_hash} | {str(h) for (h,) in scored if h is not None}
    conn.cursor().executemany(
        sql.SQL(
            "insert into {} (template_hash, is_anomaly, example_message, note)"
            " values (%s, %s, %s, %s) on conflict (template_hash) do update set"
            " is_anomaly = excluded.is_anomaly, example_message = excluded.example_message,"
            " note = excluded.note, labelled_at = now()"
        ).format(output_table(TABLE)),
        [(h, is_anomaly, message, note) for h in sorted(hashes)],
    )
    return label


def carry_over(conn: psycopg.Connection, templates: Templates) -> int:
    """The users' labels under a new version's template assignment, added to the table where
    that hash has none yet (a label given to the hash itself wins); how many were added."""
    added = rehashed(user_labels(conn), templates)
    inserted = conn.execute(
        sql.SQL(
            "insert into {} (template_hash, is_anomaly, example_message)"
            " select * from unnest(%s::text[], %s::boolean[], %s::text[])"
            " on conflict (template_hash) do nothing"
        ).format(output_table(TABLE)),
        (
            [x.template_hash for x in added],
            [x.is_anomaly for x in added],
            [x.example_message for x in added],
        ),
    )
    return max(inserted.rowcount, 0)


def user_labels(conn: psycopg.Connection) -> list[Label]:
    rows = conn.execute(
        sql.SQL("select template_hash, is_anomaly, example_message from {} order by 1").format(
            output_table(TABLE)
        )
    ).fetchall()
    return [Label(str(h), bool(a), str(m)) for h, a, m in rows]


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
