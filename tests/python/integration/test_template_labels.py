"""Template labels, round trip: generated logs with the old system's is_anomaly (turned into
template labels at export), two templates labelled by a user with `python -m model_export
label` (one frequent normal template called anomalous, one anomalous template called
normal: the user wins), an export, a dbt build; every line of a labelled template is then
scored by its label, the compiled detector matches the joblib Pipeline on every line, and the
API's "templates to label" lists only flagged templates without a label."""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg.rows import dict_row

from api import queries
from dbt_project.database import connect
from dev.db import fetch_all, scalar
from dev.pipeline import cli, create_source, dbt, export, load_generated
from model_export.lifecycle.verify import verify_predictions
from model_export.training.data import ensure_staging, read_stg, time_split
from model_export.training.tokenizer import template_hash

pytestmark = pytest.mark.slow

ROWS = 20_000


def _label(url: str, log_entry_id: int, kind: str) -> str:
    return cli(url, "model_export", "label", "--log-entry-id", str(log_entry_id), kind)


@pytest.fixture(scope="module")
def labelled(module_db: str, dbt_project_copy: Path) -> tuple[str, dict[str, bool]]:
    """(url, the user's labels by template hash), after export and dbt build."""
    url, project = module_db, dbt_project_copy
    create_source(url)
    load_generated(url, ROWS, seed=3)
    with connect(url) as conn:
        ensure_staging(conn, project)
        frame = read_stg(conn)
    train, _ = time_split(frame)
    train = train.assign(hash=[template_hash(m) for m in train["message"]])
    normal = train[~train["is_anomaly_label"].fillna(False).astype(bool)]
    frequent = normal["hash"].value_counts().index[0]
    anomalous = train[train["is_anomaly_label"].fillna(False).astype(bool)]
    incident = anomalous["hash"].value_counts().index[0]
    lines = {}
    for h, is_anomaly in {frequent: True, incident: False}.items():
        line = int(train.loc[train["hash"] == h, "log_entry_id"].iloc[0])
        out = _label(url, line, "--anomalous" if is_anomaly else "--normal")
        assert out.startswith(f"{h} labelled {'anomalous' if is_anomaly else 'normal'}")
        lines[line] = is_anomaly
    export(url, project)
    dbt(project, url, "build")
    # a label names its example line's template; a version with learned templates applies it
    # to the template it learned for that line
    user = {
        scalar(
            url,
            "select template_hash from ml.ml_predictions"
            " where model_version = 'v1' and log_entry_id = %s",
            (line,),
        ): is_anomaly
        for line, is_anomaly in lines.items()
    }
    assert len(user) == 2
    return url, user


def test_the_export_learns_from_template_labels(labelled) -> None:
    url, _ = labelled
    metrics = scalar(
        url,
        "select metrics from ml.ml_model_registry"
        " where model_version = 'v1' and model_name = 'anomaly_detector'",
    )
    assert metrics["detector"] == "TemplateLabels"
    assert metrics["labelled_templates"] > metrics["anomalous_templates"] >= 1


def test_labelled_templates_are_scored_by_their_labels(labelled) -> None:
    url, user = labelled
    for h, is_anomaly in user.items():
        rows = fetch_all(
            url,
            "select distinct is_anomaly, anomaly_score, anomaly_confidence from ml.ml_predictions"
            " where model_version = 'v1' and template_hash = %s",
            (h,),
        )
        assert rows == [(is_anomaly, 1.0 if is_anomaly else 0.0, 1.0)], h
    flagged = fetch_all(
        url,
        "select explanation from ml.ml_predictions where model_version = 'v1'"
        " and template_hash = %s limit 1",
        (next(h for h, a in user.items() if a),),
    )
    assert flagged[0][0].endswith("; anomaly: template labelled anomalous")


def test_compiled_template_labels_match_the_pipeline(labelled) -> None:
    url, _ = labelled
    with connect(url) as conn:
        results = verify_predictions(conn, None)
    assert all(r.exact and r.rows == ROWS for r in results), [r.line() for r in results]


def test_templates_to_label_are_flagged_and_unlabelled(labelled) -> None:
    url, user = labelled
    with connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute("set search_path to ml")
        cur.execute(queries.UNLABELLED_TEMPLATES, {"model_version": "v1", "limit": 50})
        rows = cur.fetchall()
    labels = {h for (h,) in fetch_all(url, "select template_hash from ml.ml_template_labels")}
    assert rows, "the detector flags templates nobody labelled"
    assert all(r["flagged"] > 0 and r["template_hash"] not in labels for r in rows)
    assert [r["flagged"] for r in rows] == sorted((r["flagged"] for r in rows), reverse=True)
    assert all(r["example_message"] for r in rows)
    # the users' labels were carried over to the learned templates at export: not listed
    assert set(user) <= labels and not {r["template_hash"] for r in rows} & set(user)


def test_a_label_given_after_scoring_names_the_scored_template(labelled) -> None:
    """`make label` on a line a version with learned templates scored: the label is stored
    under that version's hash too, so the incidents and the API read it at once."""
    url, _ = labelled
    line, scored = fetch_all(
        url,
        "select p.log_entry_id, p.template_hash from ml.ml_predictions as p"
        " where p.model_version = 'v1' and not exists (select 1 from ml.ml_template_labels as l"
        " where l.template_hash = p.template_hash) order by p.log_entry_id limit 1",
    )[0]
    _label(url, line, "--normal")
    stored = fetch_all(
        url, "select is_anomaly from ml.ml_template_labels where template_hash = %s", (scored,)
    )
    assert stored == [(False,)]
