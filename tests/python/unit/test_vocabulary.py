"""The severities and alert kinds are defined once, in the vars of dbt_project.yml: the API's
OpenAPI enums, the alert row, the notifier and the dashboard's sources take them from there
(dbt's side: tests/python/integration/test_alerts.py), and a bad definition is refused with
a message that names the var to fix."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from alerts.alert import COLUMNS, AlertRow, AlertRowError
from alerts.notifier import slack_payload
from api.app import create_app
from dbt_project.database import PROJECT_ROOT
from dbt_project.settings import load_settings
from dbt_project.vocabulary import PROJECT_FILE, VOCABULARY, VocabularyError, load

KIND_NAMES = list(VOCABULARY.alert_kind_names)


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    # the document needs no database: the pool opens only in the app's lifespan
    return create_app(load_settings(api_database_url="postgresql://nowhere/none")).openapi()


def _query_enum(openapi: dict[str, Any], path: str, name: str) -> list[str]:
    (parameter,) = [p for p in openapi["paths"][path]["get"]["parameters"] if p["name"] == name]
    (array,) = [s for s in parameter["schema"]["anyOf"] if s.get("type") == "array"]
    return list(array["items"]["enum"])


def test_the_openapi_enums_are_the_vocabulary(openapi: dict[str, Any]) -> None:
    assert _query_enum(openapi, "/api/v1/alerts", "kind") == KIND_NAMES
    assert _query_enum(openapi, "/api/v1/alerts", "severity") == list(VOCABULARY.alert_severities)
    assert _query_enum(openapi, "/api/v1/predictions", "severity") == list(VOCABULARY.severities)
    alert = openapi["components"]["schemas"]["Alert"]["properties"]
    assert alert["alert_kind"]["enum"] == KIND_NAMES
    assert alert["severity"]["enum"] == list(VOCABULARY.alert_severities)
    stats = openapi["components"]["schemas"]["SeverityStats"]["properties"]
    assert stats["severity"]["enum"] == list(VOCABULARY.severities)


def test_the_alert_row_is_the_contract_of_ml_alerts() -> None:
    """AlertRow holds every column of ml_alerts' contract that readers read (the watermark
    source_predicted_at is dbt's own), in the contract's order."""
    models = PROJECT_ROOT / "models" / "marts" / "monitoring" / "_monitoring__models.yml"
    (model,) = [m for m in yaml.safe_load(models.read_text())["models"] if m["name"] == "ml_alerts"]
    contract = [column["name"] for column in model["columns"]]
    assert contract == [*COLUMNS, "source_predicted_at"]


def _alert(kind: str, **values: Any) -> AlertRow:
    moment = datetime(2026, 11, 1, 10, tzinfo=UTC)
    row = {
        "alert_key": "k",
        "alert_kind": kind,
        "model_version": "v1",
        "service": "api",
        "window_start": moment,
        "window_end": moment,
        "observed": 0.25,
        "baseline": None,
        "threshold": 0.125,
        "severity": VOCABULARY.alert_severities[0],
        "message": "m",
        "details": None,
        "detected_at": moment,
        **values,
    }
    return AlertRow.from_row(tuple(row[column] for column in COLUMNS))


@pytest.mark.parametrize("kind", VOCABULARY.alert_kinds, ids=KIND_NAMES)
def test_the_notifier_titles_and_formats_each_kind_by_the_list(kind: Any) -> None:
    payload = slack_payload(_alert(kind.name))
    assert payload["blocks"][0]["text"]["text"] == f"logml: {kind.title}"
    fields = {
        f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in payload["blocks"][2]["fields"]
    }
    # lines: counts and what a baseline expected of them, to a tenth
    shown = {"share": "25.0% / 12.5%", "lines": "0.2 / 0.1", "psi": "0.250 / 0.125"}
    shown["score"] = shown["psi"]
    assert fields["*Observed / threshold*"] == shown[kind.observed]


def test_an_incident_alert_shows_its_lines_against_the_baseline_and_the_incident() -> None:
    details = {
        "incident_id": "abc",
        "state": "open",
        "templates": [{"lines": 40, "example": {"message": "upstream timeout"}}],
        "hosts": [{"value": "gw-1", "share": 0.75}],
    }
    payload = slack_payload(
        _alert("incident_opened", observed=40.0, baseline=1.26, threshold=None, details=details)
    )
    fields = {
        f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in payload["blocks"][2]["fields"]
    }
    assert fields["*Observed / baseline*"] == "40 / 1.3"
    assert fields["*Incident*"] == "abc (open)"
    assert fields["*Top template*"] == "40 lines: upstream timeout"
    assert fields["*Hosts*"] == "gw-1 (75%)"


def test_a_row_of_a_kind_the_list_lacks_is_refused_by_name() -> None:
    with pytest.raises(AlertRowError, match="alert k does not fit .*vars of dbt_project.yml"):
        _alert("no_such_kind")


def test_no_reader_keeps_a_copy_of_the_names() -> None:
    """The API, the notifier and the page write no alert kind as a string, and no line of them
    lists two severities: they read the vocabulary (a copy would drift from it)."""
    severities = set(VOCABULARY.severities)
    copies = []
    for package in ("api", "alerts"):
        for path in sorted((PROJECT_ROOT / package).rglob("*")):
            if path.suffix not in {".py", ".js", ".html", ".css"}:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                # as strings, or as the CSS classes the page once had per kind
                named = set(re.findall(r"[\"'`]([a-z_]+)[\"'`]|kind-([a-z_]+)", line))
                names = {name for pair in named for name in pair}
                if names & set(KIND_NAMES) or len(names & severities) > 1:
                    copies.append(f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}")
    assert copies == []


def _project_file(tmp_path: Path, **changes: Any) -> Path:
    project = yaml.safe_load(PROJECT_FILE.read_text(encoding="utf-8"))
    project["vars"].update(changes)
    path = tmp_path / "dbt_project.yml"
    path.write_text(yaml.safe_dump(project, sort_keys=False), encoding="utf-8")
    return path


def test_the_vocabulary_is_read_from_the_project_file(tmp_path: Path) -> None:
    kinds = yaml.safe_load(PROJECT_FILE.read_text(encoding="utf-8"))["vars"]["alert_kinds"]
    added = {
        "incident_merged": {"title": "Incident merged", "observed": "lines", "description": "d"}
    }
    read = load(_project_file(tmp_path, alert_kinds={**kinds, **added}))
    assert read.alert_kind_names == (*KIND_NAMES, "incident_merged")
    assert read.alert_kinds[-1].title == "Incident merged"
    assert load() == VOCABULARY


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"severities": []}, "vars.severities must be a non-empty list"),
        ({"severities": ["critical", "High"]}, "vars.severities must hold distinct lowercase"),
        ({"alert_severities": ["high", "high"]}, "vars.alert_severities must hold distinct"),
        ({"high_severities": ["fatal"]}, "vars.high_severities must be a subset"),
        ({"alert_kinds": ["drift"]}, "vars.alert_kinds must map each kind"),
        ({"alert_kinds": {"drift": {"observed": "psi"}}}, "drift needs a title and a description"),
        (
            {"alert_kinds": {"drift": {"title": "t", "description": "d", "observed": "%"}}},
            "drift.observed must be one of lines, share, psi, score",
        ),
    ],
)
def test_a_bad_vocabulary_is_refused_naming_the_var(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(VocabularyError, match=re.escape(message)):
        load(_project_file(tmp_path, **changes))
