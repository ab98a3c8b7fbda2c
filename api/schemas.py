"""Response bodies, as published in the OpenAPI document."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

Severity = Literal["high", "medium", "low", "info"]
Level = Literal["DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
Window = Literal["1h", "24h", "7d"]
Role = Literal["active", "challenger", "retired"]


def percentage(part: int, whole: int) -> float:
    """part/whole in percent, two decimals (the old API's anomaly_rate); 0 for nothing."""
    return round(100.0 * part / whole, 2) if whole else 0.0


# --- the old dashboard's endpoint (shapes kept exactly) -------------------------------------
class LegacyStatus(BaseModel):
    success: bool
    ml_system: Literal["active", "not_initialized"]
    message: str | None = Field(None, description="only when not_initialized")
    latest_prediction: datetime | None
    total_predictions: int
    logs_available: bool
    predictions_available: bool
    timestamp: datetime


class LegacyPrediction(BaseModel):
    id: int
    log_entry_id: int
    predicted_level: str
    level_confidence: float
    is_anomaly: bool
    anomaly_score: float
    severity: str
    predicted_at: datetime
    log_id: str | None
    message: str | None


class LegacyAnalyze(BaseModel):
    success: bool
    results: list[LegacyPrediction]
    total: int
    source: Literal["database"]
    timestamp: datetime


class SeverityCount(BaseModel):
    severity: str
    count: int


class LegacyStatistics(BaseModel):
    severity_distribution: list[SeverityCount]
    total_predictions: int
    anomaly_count: int
    high_severity_count: int
    anomaly_rate: float = Field(description="percentage of predictions that are anomalies")


class LegacyStats(BaseModel):
    success: bool
    statistics: LegacyStatistics
    period: Literal["last_24_hours"]
    timestamp: datetime


class LegacyOffline(BaseModel):
    success: bool
    ml_system: Literal["offline"]
    error: str
    timestamp: datetime


# --- /api/v1 --------------------------------------------------------------------------------
class Status(BaseModel):
    state: Literal["ready", "not_initialized"]
    message: str | None = None
    active_model_version: str | None = None
    latest_prediction_at: datetime | None = None
    latest_log_at: datetime | None = None
    total_predictions: int = 0
    anomaly_count: int = 0
    anomaly_rate: float = Field(default=0.0, description="percentage")
    high_severity_count: int = 0
    logs_available: bool = False
    predictions_available: bool = False
    last_run_at: datetime | None = None
    next_run_due_at: datetime | None = None


class Prediction(BaseModel):
    log_entry_id: int
    model_version: str
    logged_at: datetime
    predicted_at: datetime
    logged_level: str | None
    predicted_level: str
    level_confidence: float
    level_disagrees: bool | None
    is_anomaly: bool
    anomaly_score: float
    anomaly_confidence: float
    severity: str
    explanation: str | None
    service: str | None
    host: str | None
    source_type: str | None
    log_id: str | None
    message: str | None


class PredictionPage(BaseModel):
    items: list[Prediction]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null at the end"
    )


class SeverityStats(BaseModel):
    severity: str
    predictions: int
    anomalies: int
    level_disagreements: int


class WindowStats(BaseModel):
    window: Window
    window_start: datetime | None
    window_end: datetime | None
    model_version: str | None
    predictions: int
    anomalies: int
    anomaly_rate: float = Field(description="percentage")
    level_disagreements: int
    high_severity: int
    by_severity: list[SeverityStats]


class HourStats(BaseModel):
    hour: datetime
    predictions: int
    anomalies: int
    level_disagreements: int
    mean_anomaly_score: float | None


class Hourly(BaseModel):
    hours: list[HourStats]


class LevelPair(BaseModel):
    logged_level: str
    predicted_level: str
    predictions: int


class Levels(BaseModel):
    window: Window
    pairs: list[LevelPair]


class ServiceStats(BaseModel):
    service: str
    predictions: int
    anomalies: int
    level_disagreements: int


class Services(BaseModel):
    window: Window
    services: list[ServiceStats]


class Model(BaseModel):
    model_version: str
    model_name: str
    trained_at: datetime | None
    training_rows: int | None
    window_start: datetime | None
    window_end: datetime | None
    sklearn_version: str | None
    metrics: dict[str, Any] | None
    is_active: bool
    role: Role


class ModelVersion(BaseModel):
    model_version: str
    role: Role = Field(
        description="active: dbt scores with it and the API serves it; challenger: scores new"
        " logs beside it in shadow mode; retired: neither"
    )
    trained_at: datetime | None
    training_rows: int | None
    window_start: datetime | None
    window_end: datetime | None
    last_action: str | None = Field(description="newest deployment action about the version")
    last_action_at: datetime | None


class Models(BaseModel):
    models: list[Model] = Field(description="one per version and model, with held-out metrics")
    versions: list[ModelVersion] = Field(description="one per version, newest first")


# A share of the compared logs, 0..1 (the table's unit; /stats reports percentages instead).
Share = Annotated[float, Field(ge=0, le=1)]


class ComparisonDay(BaseModel):
    """One day of ml_model_comparison: the logs both versions scored that day."""

    day: date = Field(description="UTC date of logged_at")
    logs_compared: int
    level_agreement: Share = Field(description="same predicted level")
    anomaly_agreement: Share = Field(description="same anomaly decision")
    baseline_anomaly_rate: Share
    candidate_anomaly_rate: Share
    baseline_level_counts: dict[str, int] = Field(description="predicted level -> logs")
    candidate_level_counts: dict[str, int] = Field(description="predicted level -> logs")
    logs_with_level: int = Field(description="logs with a known logged level")
    baseline_level_accuracy: Share | None = Field(description="null without logged levels")
    candidate_level_accuracy: Share | None = Field(description="null without logged levels")
    labelled_logs: int = Field(description="logs with an is_anomaly label")
    baseline_anomaly_precision: Share | None = Field(description="null when undefined")
    baseline_anomaly_recall: Share | None = Field(description="null when undefined")
    baseline_anomaly_f1: Share | None = Field(description="null when undefined")
    candidate_anomaly_precision: Share | None = Field(description="null when undefined")
    candidate_anomaly_recall: Share | None = Field(description="null when undefined")
    candidate_anomaly_f1: Share | None = Field(description="null when undefined")
    last_predicted_at: datetime


class Comparison(BaseModel):
    baseline_version: str | None = Field(description="the older version of the pair")
    candidate_version: str | None = Field(description="the newer version of the pair")
    baseline_role: Role | None
    candidate_role: Role | None
    days: int = Field(description="the last `days` days compared, ending at the newest one")
    rows: list[ComparisonDay] = Field(description="one per day, oldest first")
