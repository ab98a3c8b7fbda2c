"""LearnedTemplates (template versions 3 and 2) on small made-up logs, version 1 kept by the
detectors saved before them, and the shipped demo v1's templates."""

from __future__ import annotations

import pickle
from pathlib import Path

from model_export.evaluation.grouping import grouping_accuracy
from model_export.lifecycle.artifacts import load_pipeline
from model_export.training.anomaly_detectors import SeverityRarity
from model_export.training.templates import (
    LEARNED_TEMPLATES,
    UNIT_VALUE_PATTERN,
    UNIT_VALUES,
    LearnedTemplates,
    TokenTemplates,
    shape_text,
    templates_of,
)
from model_export.training.tokenizer import template_hash

V1 = Path(__file__).resolve().parents[3] / "artifacts" / "v1"
USERS = ["fatima.sato", "li.wei", "ana.gomez", "joe", "mary.k", "omar"]


def test_shape_masks_words_with_digits_and_normalises_whitespace() -> None:
    assert shape_text("  GET /api/v2/x\tuser=7  took 12ms ") == "GET <*> <*> took <*>"
    assert shape_text("") == ""


def test_from_version_3_a_value_keeps_its_units() -> None:
    """A size or a duration logged with one unit, two or none is one value: one shape."""
    sizes = ["0 bytes sent, 0 bytes received", "1190 bytes (1.16 KB) sent, 815 bytes received"]
    assert {shape_text(line) for line in sizes} == {"<*> sent, <*> received"}
    assert shape_text("lifetime <1 sec") == shape_text("lifetime 00:17") == "lifetime <*>"
    assert shape_text("took 5 ms, free 3 MiB (12 %)") == "took <*> free <*>"
    # a word after a value that is no unit, a unit after a word, a unit inside a word: kept
    assert shape_text("3 users in 2 shards") == "<*> users in <*> shards"
    assert shape_text("KB limit reached, MSG lost") == "KB limit reached, MSG lost"
    assert shape_text("closed 1 bytestream") == "closed <*> bytestream"
    # version 2 reads the words as they are
    assert shape_text(sizes[1], LEARNED_TEMPLATES) == "<*> bytes <*> KB) sent, <*> bytes received"


def test_the_sql_twin_has_the_same_unit_pattern() -> None:
    """macros/templates.sql writes the pattern out (dbt renders it); the exactness on real
    lines is checked in PostgreSQL (tests/python/integration/test_templates.py)."""
    macro = (Path(__file__).resolve().parents[3] / "macros" / "templates.sql").read_text()
    assert f"'{UNIT_VALUE_PATTERN}'" in macro


def test_a_detector_saved_before_version_3_keeps_version_2() -> None:
    lines = [f"closed after {n} bytes sent" for n in range(5)] + ["closed after 3 KB sent"]
    model = LearnedTemplates().fit(lines)
    assert model.version == UNIT_VALUES and len({model.template(x) for x in lines}) == 1
    state = model.__getstate__()
    del state["version"]  # as pickled before the attribute existed
    old = LearnedTemplates.__new__(LearnedTemplates)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert old.version == LEARNED_TEMPLATES and old.summary()["version"] == LEARNED_TEMPLATES


def test_a_variable_word_becomes_a_wildcard() -> None:
    lines = [f"bounce for user {u}: mailbox unavailable" for u in USERS]
    model = LearnedTemplates().fit(lines)
    assert {model.template(x) for x in lines} == {"bounce for user <*> mailbox unavailable"}
    # an unseen user in the same position gets the same template
    assert model.template("bounce for user zed: mailbox unavailable") == model.template(lines[0])


def test_few_values_that_change_the_rest_of_the_line_stay_events() -> None:
    lines = [f"session opened for user {u} by sshd" for u in USERS]
    lines += [f"session closed for user {u}" for u in USERS]
    lines += [f"connection {v} by peer" for v in ("opened", "closed") for _ in range(3)]
    model = LearnedTemplates().fit(lines)
    assert len({model.template(x) for x in lines}) == 4
    assert model.template("connection opened by peer") != model.template(
        "connection closed by peer"
    )


def test_variable_leading_word() -> None:
    hosts = ["www.example.org", "cdn.site.net", "mail.corp.io", "api.host.com", "db.local"]
    lines = [f"{h} open through proxy gateway HTTPS" for h in hosts]
    lines += [f"{h} close, connection reset" for h in hosts]
    model = LearnedTemplates().fit(lines)
    assert {model.template(x) for x in lines} == {
        "<*> open through proxy gateway HTTPS",
        "<*> close, connection reset",
    }


def test_unseen_group_falls_back_to_its_shape() -> None:
    model = LearnedTemplates().fit([f"job {u} started" for u in USERS])
    assert model.template("disk sda3 failed after 3 retries") == "disk <*> failed after <*> retries"


def test_templates_are_the_same_one_by_one_and_in_bulk() -> None:
    lines = [f"bounce for user {u}: code {i}" for i, u in enumerate(USERS)] + ["odd line", ""]
    model = LearnedTemplates().fit(lines[:4])
    assert model.templates(lines) == [model.template(x) for x in lines]
    assert model.hashes(lines) == [model.hash(x) for x in lines]


def test_grouping_accuracy() -> None:
    assert grouping_accuracy(["a", "a", "b"], ["x", "x", "y"]) == 1.0
    # one event split in two: both of its lines are wrong; a merge makes all three wrong
    assert grouping_accuracy(["a", "b", "c"], ["x", "x", "y"]) == 1 / 3
    assert grouping_accuracy(["a", "a", "a"], ["x", "x", "y"]) == 0.0


def test_a_detector_saved_before_learned_templates_keeps_version_1() -> None:
    """A detector pickled before templates were learned (no `templates` attribute) counts by
    log_template, so its history, frequencies and labels (and its generated SQL, which
    `make check-generated` regenerates) stay as they were."""
    state = SeverityRarity().__getstate__()
    del state["templates"]  # as pickled before the attribute existed
    old = SeverityRarity.__new__(SeverityRarity)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    templates = templates_of(old)
    assert isinstance(templates, TokenTemplates) and templates.version == 1
    assert old.templates is None
    line = "bounce for user fatima.sato: mailbox unavailable (code 550)"
    assert templates.hash(line) == template_hash(line)
    assert repr(old)  # get_params works on a pickle without the attribute


def test_the_shipped_demo_v1_counts_by_learned_templates() -> None:
    """The demo model the repository ships (make demo-model) learned its templates: the demo's
    failed logins of every user and address are one template, so a burst of them is one."""
    templates = templates_of(load_pipeline(V1 / "anomaly_detector.joblib"))
    assert isinstance(templates, LearnedTemplates) and templates.version == UNIT_VALUES
    logins = [
        "failed login for user hana.rossi from 237.116.126.202: invalid password",
        "failed login for user jo.sato from 68.85.224.5: invalid password",
    ]
    assert len({templates.hash(line) for line in logins}) == 1
