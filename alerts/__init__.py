"""alerts: delivering what dbt's ml_alerts model detects (a Slack-compatible webhook, each
alert once). Detection is SQL (models/marts/monitoring/ml_alerts.sql); this package only sends."""
