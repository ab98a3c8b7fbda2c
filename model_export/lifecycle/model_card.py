"""Model cards: what an exported version is, kept beside its joblib Pipelines
(artifacts/vN/model_card.json): the registry entries of its two models and the fingerprint of
the logs it was trained on (data.fingerprint).

A card lets a database that holds exactly those logs register the version without training it
again. That is how the repository ships its demo model: artifacts/v1 (card and Pipelines) and
its compiled SQL are committed, trained by `make demo-model` on the demo logs; `make demo` on a
fresh database loads the same logs, finds the card's fingerprint and registers v1 as it is, so a
fresh clone's generated files stay untouched and `make check-generated` has the artifacts it
regenerates them from. Any other logs get a model trained on them."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from dbt_project.errors import InputError
from model_export.lifecycle import versions
from model_export.lifecycle.registry import Entry, register
from model_export.training.data import Window, fingerprint

CARD = "model_card.json"


def write_card(folder: Path, version: str, window: Window, data: str, entries: list[Entry]) -> None:
    """The card of `version` in its artifacts folder (artifact paths relative to it)."""
    card = {
        "version": version,
        "trained_on": {"fingerprint": data, "window": _dates_as_text(asdict(window))},
        "models": [
            _dates_as_text({**asdict(e), "artifact_path": Path(e.artifact_path).name})
            for e in entries
        ],
    }
    (folder / CARD).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _dates_as_text(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def _date(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _window(saved: dict[str, Any]) -> Window:
    return Window(_date(saved["start"]), _date(saved["end"]), saved["limit"])


def trained_on_these_logs(
    conn: psycopg.Connection, project_dir: Path, artifacts_dir: Path
) -> str | None:
    """The newest version compiled in the project whose card says it was trained on exactly the
    logs in this database (None when there is none)."""
    for version in reversed(versions.compiled(project_dir)):
        path = versions.artifacts_folder(artifacts_dir, version) / CARD
        if not path.is_file():
            continue
        trained_on = json.loads(path.read_text(encoding="utf-8"))["trained_on"]
        if fingerprint(conn, _window(trained_on["window"])) == trained_on["fingerprint"]:
            return version
    return None


class CardError(InputError):
    """A model card that cannot be registered; the message says why and what to do."""


def register_from_card(
    conn: psycopg.Connection, artifacts_dir: Path, version: str, log_source: str
) -> None:
    """Register `version` as the active one from its card, with its artifacts where they are,
    as shipped: trained elsewhere, when the card says, on these logs of `log_source`."""
    folder = versions.artifacts_folder(artifacts_dir, version).resolve()
    card = json.loads((folder / CARD).read_text(encoding="utf-8"))
    if any("trained_at" not in model for model in card["models"]):
        raise CardError(
            f"{folder / CARD} does not say when its models were trained (trained_at):"
            " export the version again (make export-model, or make demo-model for v1)"
        )
    dates = ("trained_at", "window_start", "window_end")
    entries = [
        Entry(
            **{
                **model,
                "artifact_path": str(folder / model["artifact_path"]),
                **{name: _date(model[name]) for name in dates},
            }
        )
        for model in card["models"]
    ]
    register(conn, version, entries, log_source, shipped=True)
