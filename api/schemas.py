"""Response bodies, as published in the OpenAPI document."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from alerts.alert import AlertRow
from dbt_project.vocabulary import VOCABULARY, AlertKind, Severity

Level = Literal["DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
Window = Literal["1h", "24h", "7d"]
Role = Literal["active", "challenger", "retired"]


def percentage(part: int, whole: int) -> float:
    """part/whole in percent, two decimals (the old API's anomaly_rate); 0 for nothing."""
    return round(100.0 * part / whole, 2) if whole else 0.0


def high_severity_predictions(rows: list[dict[str, Any]]) -> int:
    """The predictions of a high severity (var high_severities) in ml_stats_windows rows."""
    return sum(row["predictions"] for row in rows if row["severity"] in VOCABULARY.high_severities)


# --- the old dashboard's endpoint (shapes kept exactly) -------------------------------------
class Freshness(BaseModel):
    """When the newest log arrived and whether scoring is behind (view ml_log_freshness)."""

    newest_log_at: datetime | None = Field(
        default=None, description="timestamp of the newest log (by id)"
    )
    newest_log_arrived_at: datetime | None = Field(
        default=None, description="its created_at (when it was inserted); null without that column"
    )
    newest_scored_log_at: datetime | None = Field(
        default=None, description="timestamp of the newest log the active version scored (by id)"
    )
    unscored_logs: int | None = Field(
        default=None,
        description="logs newer (by id) than the newest scored one; counting stops at 10,000",
    )
    unscored_logs_capped: bool | None = Field(default=None, description="true: 10,000 or more")
    scoring_behind: bool | None = Field(
        default=None, description="true when logs newer than the newest scored one exist"
    )


class LegacyStatus(Freshness):
    success: bool
    ml_system: Literal["active", "not_initialized"]
    message: str | None = Field(default=None, description="only when not_initialized")
    architecture: str
    deployment_size: str
    prediction_source: str
    latest_prediction: datetime | None
    total_predictions: int
    logs_available: bool
    predictions_available: bool
    query_time: str | None = Field(description="measured time of this request's query")
    query_time_ms: float | None
    ml_compute_time: None = Field(description="not recorded in the database (see the note)")
    ml_compute_time_note: str
    active_model_version: str | None = None
    last_run_at: datetime | None = None
    next_run_due_at: datetime | None = None
    timestamp: datetime


class LegacyPrediction(BaseModel):
    id: int = Field(description="the log_entry_id (predictions have no serial id)")
    log_entry_id: int
    predicted_level: str
    level_confidence: float
    is_anomaly: bool
    anomaly_score: float
    severity: Severity
    predicted_at: datetime
    log_id: str | None
    message: str | None
    actual_level: Level | None = Field(description="the logged level; null when unknown")


class LegacyAnalyze(BaseModel):
    success: bool
    results: list[LegacyPrediction]
    total: int
    source: Literal["database", "empty"]
    message: str | None = Field(default=None, description="only before the pipeline ran")
    query_time: str | None = None
    query_time_ms: float | None = None
    timestamp: datetime


class SeverityCount(BaseModel):
    severity: Severity
    count: int


class LegacyStatistics(BaseModel):
    severity_distribution: list[SeverityCount] = Field(
        description="largest count first, no empty severities (the old order)"
    )
    total_predictions: int
    anomaly_count: int
    high_severity_count: int = Field(description="severity high or critical")
    anomaly_rate: float = Field(description="percentage of predictions that are anomalies")


class LegacyStats(BaseModel):
    success: bool
    statistics: LegacyStatistics
    period: Literal["last_24_hours"]
    window_start: datetime | None = None
    window_end: datetime | None = None
    message: str | None = Field(default=None, description="only before the pipeline ran")
    source: Literal["empty"] | None = None
    timestamp: datetime


class LegacyOffline(BaseModel):
    success: bool
    ml_system: Literal["offline"]
    error: str
    timestamp: datetime


class MetricValues(BaseModel):
    total_logs: int = Field(description="logs scored by the active version in the 24h window")
    avg_response_time_ms: float | None = Field(
        description="ms, over the window's logs with response_time_ms; null: none"
    )
    fatal_rate: float | None = Field(description="percent of known logged levels; null: none")
    error_rate: float | None
    high_anomaly_rate: float = Field(description="percent of predictions, high or critical")
    high_anomaly_count: int
    system_health: float | None = Field(description="the old formula; null without data")


class Metrics(BaseModel):
    success: bool
    metrics: MetricValues
    calculation: dict[str, float | str]
    notes: dict[str, str]
    period: Literal["last_24_hours"]
    window_start: datetime | None
    window_end: datetime | None
    message: str | None = None
    timestamp: datetime


class ServiceNode(BaseModel):
    name: str
    status: Literal["healthy", "unknown", "warning", "degraded", "unhealthy"]
    importance: int = Field(description="layout weight of the old treemap, not a measurement")
    responseTime: float | None = Field(description="ms, measured; null where nothing is timed")
    uptime: Literal["n/a"] = Field(description="not measured anywhere")
    description: str = Field(description="how the status was read")
    children: list[ServiceNode] | None = None


class ServiceHealth(BaseModel):
    success: bool
    services: list[ServiceNode]
    overall_status: Literal["healthy", "unknown", "warning", "degraded", "critical"]
    timestamp: datetime


class ChartDataset(BaseModel):
    label: str | None = None
    data: list[int | float]


class Chart(BaseModel):
    labels: list[str]
    datasets: list[ChartDataset]


class SystemMetrics(BaseModel):
    logsProcessed: int = Field(description="logs the active version scored, in total")
    activeAlerts: int = Field(description="alerts about the 24 hours to the newest hour scored")
    responseTime: float | None = Field(description="ms, average over the 24 hours; null: none")
    systemHealth: Literal["Healthy", "Unknown", "Warning", "Degraded", "Critical"]
    uptime: str = Field(description="percent of the 24 hours' logs that are scored, e.g. 98.5%")


class DashboardAnalytics(BaseModel):
    logVolume: Chart = Field(description="logs scored per hour (labels HH:00 UTC)")
    logDistribution: Chart = Field(description="logs per logged level, INFO WARN ERROR DEBUG FATAL")
    responseTime: Chart = Field(
        description="average and p95 response_time_ms per hour that has response times"
    )
    errorTypes: Chart = Field(description="empty: error types are not in the ML tables")
    systemMetrics: SystemMetrics
    systemMetricsNotes: dict[str, str] = Field(description="where each systemMetrics comes from")
    timestamp: datetime
    dataSource: Literal["database", "empty"]
    period: Literal["last_24_hours"]


class MonitoringLine(BaseModel):
    log_entry_id: int
    log_id: str | None
    timestamp: datetime = Field(description="the log's timestamp")
    level: Level
    message: str
    actual_level: Level | None
    predicted_level: Level
    is_anomaly: bool
    anomaly_score: float
    severity: Severity
    predicted_at: datetime
    source_type: str | None
    host: str | None
    service: str | None
    response_time_ms: None
    http_status: None


class MonitoringData(BaseModel):
    percentiles: dict[str, int | bool | str] = Field(description="not available: zeros")
    resources: dict[str, dict[str, Any]]
    ml_alerts: list[MonitoringLine] = Field(description="newest high/critical predictions")
    incidents: list[MonitoringLine] = Field(description="newest logged ERROR/FATAL lines")


class Monitoring(BaseModel):
    success: bool
    timestamp: datetime
    data: MonitoringData


class LogLine(BaseModel):
    id: str = Field(description="log_entry_id")
    timestamp: datetime
    level: Level
    level_source: Literal["logged", "predicted"]
    message: str
    source: str | None
    responseTime: None
    host: str | None
    service: str | None
    category: None
    tags: list[str]
    isAnomaly: bool = Field(description="the detector's decision")
    sessionId: None
    ipAddress: None
    predicted_level: Level
    severity: Severity
    anomaly_score: float


class LogsData(BaseModel):
    logs: list[LogLine]
    summary: dict[str, int]
    pagination: dict[str, int | None]


class LogsPage(BaseModel):
    success: bool
    data: LogsData
    dataSource: Literal["database", "empty"]
    timestamp: datetime


class MlResult(BaseModel):
    log_id: str = Field(description="the log_entry_id asked for")
    classification: Level
    confidence: float
    anomaly_score: float
    is_anomaly: bool
    severity: Severity
    timestamp: datetime = Field(description="predicted_at")
    source: Literal["ml_predictions_table"]


class MlAnalyzed(BaseModel):
    success: bool
    total_analyzed: int = Field(description="logs found with a prediction")
    processing_time_ms: float = Field(description="measured")
    timestamp: datetime
    results: list[MlResult]


# --- /api/v1 --------------------------------------------------------------------------------
class Status(Freshness):
    state: Literal["ready", "not_initialized"]
    message: str | None = None
    active_model_version: str | None = None
    latest_prediction_at: datetime | None = None
    latest_log_at: datetime | None = None
    total_predictions: int = 0
    anomaly_count: int = 0
    anomaly_rate: float = Field(default=0.0, description="percentage")
    high_severity_count: int = Field(default=0, description="severity high or critical")
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
    severity: Severity
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
    high_severity: int = Field(description="predictions of a high severity (the anomalies)")
    by_severity: list[SeverityStats] = Field(description="every severity, worst first")


class HourStats(BaseModel):
    hour: datetime
    predictions: int
    anomalies: int
    level_disagreements: int
    mean_anomaly_score: float | None
    avg_response_time_ms: float | None = Field(
        description="of the hour's lines with the source's response_time_ms; null: none"
    )
    p95_response_time_ms: float | None = Field(description="95th percentile of the same")


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


# --- /api/v1 monitoring: drift, model health, alerts --------------------------------------------
class DriftFeature(BaseModel):
    feature: str = Field(description="predicted_level or an input of the anomaly detector")
    psi: float | None = Field(description="population stability index; null without rows")
    status: Literal["stable", "moderate", "shift", "unknown"] = Field(
        description="stable below 0.1, moderate up to the threshold, shift above it"
    )
    above_threshold: bool = Field(description="psi > threshold: ml_alerts raises a drift alert")
    baseline_rows: int
    current_rows: int


class Drift(BaseModel):
    model_version: str | None
    threshold: float | None = Field(description="alert threshold on PSI (dbt var alert_drift_psi)")
    stable_below: float
    training_start: datetime | None
    training_end: datetime | None
    current_start: datetime | None
    current_end: datetime | None
    features: list[DriftFeature] = Field(description="largest PSI first")


class HealthDay(BaseModel):
    day: datetime
    predictions: int
    known_level_predictions: int
    agreements: int
    agreement_rate: float | None = Field(description="0..1; null without logged levels")
    under_logged: int = Field(description="predicted more severe than logged")
    over_logged: int = Field(description="predicted less severe than logged")
    logged_low_reads_high: int = Field(description="logged DEBUG/INFO, read as ERROR/FATAL")
    confusion: dict[str, int] = Field(description='{"LOGGED->PREDICTED": lines}')


class ModelHealth(BaseModel):
    model_version: str | None
    service: str | None
    days: list[HealthDay] = Field(description="oldest first")


class AlertDelivery(BaseModel):
    state: Literal["delivered", "pending"]
    attempts: int = Field(description="webhook POSTs so far (0: never tried)")
    last_attempt_at: datetime | None
    http_status: int | None
    last_error: str | None
    delivered_at: datetime | None


class Alert(AlertRow):
    delivery: AlertDelivery


class AlertKinds(BaseModel):
    kinds: list[AlertKind] = Field(description="var alert_kinds of dbt_project.yml, in its order")


class Alerts(BaseModel):
    total: int = Field(description="every alert stored")
    delivered: int
    pending: int
    notifier_has_run: bool = Field(
        description="false: the notifier has recorded no attempt in ml_alert_deliveries yet"
        " (or it is not readable), so every alert counts as pending"
    )
    alerts: list[Alert] = Field(description="newest first (detected_at, then window_start)")


class UnlabelledTemplate(BaseModel):
    template_hash: str = Field(description="md5 of the line's log template")
    service: str = Field(description="'' for lines without a service")
    flagged: int = Field(description="lines of it the version flagged as anomalous")
    lines: int = Field(description="lines of it the version scored")
    example_log_entry_id: int | None
    example_message: str | None = Field(description="the newest line of it (500 characters)")


class UnlabelledTemplates(BaseModel):
    model_version: str | None
    templates: list[UnlabelledTemplate] = Field(
        description="flagged most often first; label one with `python -m model_export label"
        " --log-entry-id <example_log_entry_id> --anomalous|--normal`"
    )
