"""`python -m alerts notify`: send every alert of ml_alerts that has not been delivered
to the webhook in LOGML_ALERT_WEBHOOK_URL (Slack-compatible JSON), once.

Delivery (docs/concepts/alerts.md): one notifier at a time (a session advisory lock; a second
one waits for the first, then finds nothing left to send). Each 2xx answer is recorded right away in
ml_alert_deliveries, one commit per alert; that table is not a dbt model (the schema
migrations create it, macros/schema_migrations.sql), so a full refresh of ml_alerts (same
deterministic alert_key values) never re-sends anything.
A non-2xx answer, a timeout or a network error leaves the alert pending for the next run (the
attempt is counted); the others are still tried and the command exits 1 at the end. The one
unavoidable window: a crash after the webhook accepted an alert but before the commit sends it
again next run, so a receiver that must never see a duplicate deduplicates on alert_key.
Secrets in an alert's text (a quoted log line may hold a password or a token) are redacted
before anything is sent or printed (`_redacted`, docs/concepts/redaction.md).
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from alerts.alert import COLUMNS, AlertRow, AlertRowError
from dbt_project.database import job_connection, one, output_name, output_table
from dbt_project.errors import LogmlError, NotReadyError
from dbt_project.redaction import redact, redact_json
from dbt_project.settings import load_settings
from dbt_project.vocabulary import VOCABULARY

WEBHOOK_ENV = "LOGML_ALERT_WEBHOOK_URL"
ALERTS = "ml_alerts"
DELIVERIES = "ml_alert_deliveries"

# delivered_at stays NULL while the alert is pending; a failed attempt only counts.
RECORD_ATTEMPT = """
insert into {deliveries} as d
    (alert_key, alert_kind, attempts, first_attempt_at, last_attempt_at, http_status,
     last_error, delivered_at)
values (%(key)s, %(kind)s, 1, now(), now(), %(status)s, %(error)s,
        case when %(delivered)s then now() end)
on conflict (alert_key) do update set
    attempts = d.attempts + 1,
    last_attempt_at = excluded.last_attempt_at,
    http_status = excluded.http_status,
    last_error = excluded.last_error,
    delivered_at = excluded.delivered_at
"""

KINDS = {kind.name: kind for kind in VOCABULARY.alert_kinds}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be sent; send and record nothing"
    )
    parser.add_argument("--limit", type=_positive_int, help="send at most N alerts, oldest first")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per webhook request (default 10)"
    )


def run_command(args: argparse.Namespace) -> int:
    """An expected failure (a bad setting, no table, the database down) is a message on
    stderr and exit code 2, not a traceback."""
    try:
        secret = load_settings().logml_alert_webhook_url
        with job_connection() as conn:
            if args.dry_run or secret is None:
                return _report_pending(conn, args.dry_run, args.limit)
            return _deliver(conn, secret.get_secret_value().strip(), args.limit, args.timeout)
    except (LogmlError, AlertRowError, psycopg.Error) as error:
        print(f"notify failed: {str(error).strip()}", file=sys.stderr)
        return 2


def slack_payload(alert: AlertRow) -> dict[str, Any]:
    """Slack incoming-webhook JSON: `text` (the notification line, also what plain receivers
    read) and Block Kit blocks; alert_key in the context block lets a receiver deduplicate."""
    urgent = alert.severity == VOCABULARY.alert_severities[0]
    icon = ":red_circle:" if urgent else ":large_orange_circle:"
    title = KINDS[alert.alert_kind].title
    text = f"{icon} {_escape(alert.message)}"
    window = f"{_utc(alert.window_start)} to {_utc(alert.window_end)}"
    fields = [
        ("Kind", alert.alert_kind),
        ("Severity", alert.severity),
        ("Service", alert.service or "(all)"),
        ("Model version", alert.model_version),
        ("Window (UTC)", window),
    ]
    if alert.threshold is not None:
        fields.append(("Observed / threshold", f"{_number(alert, alert.observed)} / "
                                               f"{_number(alert, alert.threshold)}"))  # fmt: skip
    else:
        fields.append(("Observed / baseline", f"{_number(alert, alert.observed)} / "
                                              f"{_number(alert, alert.baseline)}"))  # fmt: skip
    fields += _incident_fields(alert.details or {})
    return {
        "text": text[:3000],
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f"logml: {title}"[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{name}*\n{_escape(value)}"[:2000]}
                    for name, value in fields
                ],
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"alert_key {alert.alert_key} | detected "
                        f"{_utc(alert.detected_at)} UTC",
                    }
                ],
            },
        ],
    }


def _incident_fields(details: dict[str, Any]) -> list[tuple[str, str]]:
    """An incident alert's incident, its top template's example line and its hosts (ml_incidents
    via the alert's details); nothing for other kinds."""
    if "incident_id" not in details:
        return []
    fields = [("Incident", f"{details['incident_id']} ({details.get('state')})")]
    templates = details.get("templates") or []
    if templates:
        top = templates[0]
        example = (top.get("example") or {}).get("message") or ""
        fields.append(("Top template", f"{top['lines']} lines: {example[:300]}"))
    hosts = [f"{h['value']} ({100 * h['share']:.0f}%)" for h in details.get("hosts") or []]
    if hosts:
        fields.append(("Hosts", ", ".join(hosts)))
    return fields


def _report_pending(conn: psycopg.Connection, dry_run: bool, limit: int | None) -> int:
    """Without a webhook (or with --dry-run): say what is pending; send and record nothing."""
    with conn.cursor() as cur:
        _require_alerts(cur)
        pending = _redacted(conn, _pending(cur, limit))
        total = _pending_count(cur)
    if dry_run:
        for alert in pending:
            print(f"would send {alert.alert_key}: {alert.message}")
    reason = "dry run" if dry_run else f"{WEBHOOK_ENV} is not set"
    print(f"notify: {total} alert(s) pending; {reason}, nothing sent or recorded")
    return 0


def _deliver(conn: psycopg.Connection, webhook: str, limit: int | None, timeout: float) -> int:
    # The connection autocommits: the lock is the session's (released when the command's
    # connection closes) and every attempt is recorded in its own commit.
    with conn.cursor() as cur:
        _require_alerts(cur)
        cur.execute("select pg_try_advisory_lock(hashtext('logml.notifier'))")
        if not one(cur)[0]:
            print("notify: another notifier is running; waiting for it to finish", flush=True)
            cur.execute("select pg_advisory_lock(hashtext('logml.notifier'))")
        pending = _redacted(conn, _pending(cur, limit))
        sent = failed = 0
        for alert in pending:
            status, error = _post(webhook, slack_payload(alert), timeout)
            delivered = error is None
            cur.execute(
                sql.SQL(RECORD_ATTEMPT).format(deliveries=output_table(DELIVERIES)),
                {
                    "key": alert.alert_key,
                    "kind": alert.alert_kind,
                    "status": status,
                    "error": error,
                    "delivered": delivered,
                },
            )
            if delivered:
                sent += 1
                print(f"sent {alert.alert_key} ({alert.alert_kind}, HTTP {status})")
            else:
                failed += 1
                print(f"not sent {alert.alert_key} ({alert.alert_kind}): {error}", file=sys.stderr)
        left = _pending_count(cur)
    print(f"notify: {sent} sent, {failed} failed, {left} pending for the next run")
    return 1 if failed else 0


def _post(url: str, payload: dict[str, Any], timeout: float) -> tuple[int | None, str | None]:
    """(HTTP status or None, error or None): a 2xx answer is the only success."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read()
            return response.status, None
    except urllib.error.HTTPError as error:
        return error.code, f"HTTP {error.code} {error.reason}"
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)  # refused, DNS, timeout, not HTTP at all
        return None, f"no answer ({reason or type(error).__name__})"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST would be re-sent as a GET without its body: count it as a failure."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _pending(cur: psycopg.Cursor[Any], limit: int | None) -> list[AlertRow]:
    cur.execute(
        _undelivered(
            f"select {', '.join(COLUMNS)} from {{alerts}} as alerts {{undelivered}} "
            "order by detected_at, window_start, alert_key limit %s"
        ),
        (limit,),
    )
    return [AlertRow.from_row(row) for row in cur.fetchall()]


def _redacted(conn: psycopg.Connection, alerts: list[AlertRow]) -> list[AlertRow]:
    """The alerts with their free text (the message, which may quote a log line, the service
    name, and the details, which hold an incident's example lines) through the database's
    redaction rules: what is sent or printed."""
    texts = redact(conn, [text for alert in alerts for text in (alert.message, alert.service)])
    details = redact_json(conn, [alert.details for alert in alerts])
    return [
        alert.model_copy(update={"message": message, "service": service, "details": detail})
        for alert, message, service, detail in zip(
            alerts, texts[::2], texts[1::2], details, strict=True
        )
    ]


def _pending_count(cur: psycopg.Cursor[Any]) -> int:
    cur.execute(_undelivered("select count(*) from {alerts} as alerts {undelivered}"))
    return int(one(cur)[0])


def _undelivered(statement: str) -> sql.Composed:
    """`statement` over the alerts no delivery has recorded as delivered."""
    return sql.SQL(statement).format(  # type: ignore[arg-type]
        alerts=output_table(ALERTS),
        undelivered=sql.SQL(
            "where not exists (select 1 from {} as d "
            "where d.alert_key = alerts.alert_key and d.delivered_at is not null)"
        ).format(output_table(DELIVERIES)),
    )


def _require_alerts(cur: psycopg.Cursor[Any]) -> None:
    cur.execute("select to_regclass(%s) is not null", (output_table(ALERTS).as_string(),))
    if not one(cur)[0]:
        raise NotReadyError(
            f"{output_name(ALERTS)} does not exist yet: run `make run` (dbt build) first"
        )


def _number(alert: AlertRow, value: float | None) -> str:
    """`value` in the unit of the alert's `observed` (var alert_kinds)."""
    if value is None:
        return "-"
    unit = KINDS[alert.alert_kind].observed
    if unit == "share":
        return f"{100 * value:.1f}%"
    if unit == "lines":  # counts, and what a baseline expected of them (to a tenth)
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{value:.3f}"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _escape(text: str) -> str:
    """Slack mrkdwn control characters (log lines may contain them)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number
