"""The settings module: typed values from the environment, and a bad value is one clear message
that names the variable (never echoing a secret), which a command prints without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dbt_project.database import PROJECT_ROOT
from dbt_project.errors import SettingsError
from dbt_project.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts from the defaults: no variable the settings read is set."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.logml_schema == "ml"
    assert (settings.log_source_schema, settings.log_source_table) == (None, None)
    assert settings.embedded_pgdata == PROJECT_ROOT / ".pgdata"
    assert (settings.database_url, settings.logml_alert_webhook_url) == (None, None)
    assert (settings.api_host, settings.api_port, settings.api_cors_origins) == (
        "127.0.0.1",
        8000,
        [],
    )


def test_values_are_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGML_SCHEMA", "logml_out")
    monkeypatch.setenv("API_PORT", "8123")
    monkeypatch.setenv("API_POOL_TIMEOUT", "0.5")
    monkeypatch.setenv("API_CORS_ORIGINS", "https://a.example, https://b.example,")
    monkeypatch.setenv("LOGML_ALERT_WEBHOOK_URL", " ")  # blank: no webhook
    settings = load_settings()
    assert settings.logml_schema == "logml_out"
    assert (settings.api_port, settings.api_pool_timeout) == (8123, 0.5)
    assert settings.api_cors_origins == ["https://a.example", "https://b.example"]
    assert settings.logml_alert_webhook_url is None


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("LOGML_SCHEMA", "Logml-Out", "LOGML_SCHEMA='Logml-Out': must be a lowercase SQL name"),
        ("LOG_SOURCE_TABLE", "events; drop table x", "LOG_SOURCE_TABLE='events; drop table x'"),
        ("API_PORT", "eighty", "API_PORT='eighty': Input should be a valid integer"),
        ("API_PORT", "70000", "API_PORT='70000': Input should be less than or equal to 65535"),
        ("API_CACHE_SECONDS", "-1", "API_CACHE_SECONDS='-1': Input should be greater than"),
        ("LOGML_ALERT_WEBHOOK_URL", "ftp://x", "LOGML_ALERT_WEBHOOK_URL: must be an http://"),
    ],
)
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith(says)


def test_secrets_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGML_ALERT_WEBHOOK_URL", "hooks.example/T0/B0/secret-token-123")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "LOGML_ALERT_WEBHOOK_URL" in str(raised.value)
    assert "secret-token-123" not in str(raised.value)


def test_a_command_prints_the_message_without_a_traceback() -> None:
    env = {**os.environ, "LOGML_SCHEMA": "Bad-Schema"}
    done = subprocess.run(
        [sys.executable, "-m", "dbt_project", "summary"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: LOGML_SCHEMA='Bad-Schema': must be a lowercase SQL name")
    assert "Traceback" not in done.stderr
