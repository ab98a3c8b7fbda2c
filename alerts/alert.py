"""An alert as ml.ml_alerts stores it (contract: models/marts/monitoring/_monitoring__models.yml):
the one definition of the row that the notifier sends and the API serves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from dbt_project.vocabulary import AlertKindName, AlertSeverity


class AlertRowError(ValueError):
    """A row of ml_alerts that does not fit AlertRow (e.g. of a kind var alert_kinds lacks)."""


class AlertRow(BaseModel):
    """The columns are described in the model's contract (and on the dbt docs site)."""

    alert_key: str
    alert_kind: AlertKindName
    model_version: str
    service: str | None
    window_start: datetime
    window_end: datetime
    observed: float | None
    baseline: float | None
    threshold: float | None
    severity: AlertSeverity
    message: str
    details: dict[str, Any] | None
    detected_at: datetime

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> AlertRow:
        """From a row selected as `select {COLUMNS}`."""
        try:
            return cls.model_validate(dict(zip(COLUMNS, row, strict=True)))
        except ValidationError as error:
            raise AlertRowError(
                f"alert {row[0]} does not fit alerts/alert.py ({error.errors()[0]['msg']});"
                " its kind and severity must be listed in the vars of dbt_project.yml"
            ) from None


# The columns readers select, in the model's order.
COLUMNS: tuple[str, ...] = tuple(AlertRow.model_fields)
