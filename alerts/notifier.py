"""`python -m alerts notify`: send every alert of ml.ml_alerts that has not been delivered
to the webhook in LOGML_ALERT_WEBHOOK_URL (Slack-compatible JSON), once.

Delivery (docs/concepts/alerts.md): one notifier at a time (a session advisory lock; a second
one waits for the first, then finds nothing left to send). Each 2xx answer is recorded right away in
ml.ml_alert_deliveries, one commit per alert; that table belongs to the notifier, not to dbt,
so a full refresh of ml_alerts (same deterministic alert_key values) never re-sends anything.
A non-2xx answer, a timeout or a network error leaves the alert pending for the next run (the
attempt is counted); the others are still tried and the command exits 1 at the end. The one
unavoidable window: a crash after the webhook accepted an alert but before the commit sends it
again next run, so a receiver that must never see a duplicate deduplicates on alert_key.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

import psycopg2

from alerts.alert import COLUMNS, AlertRow, AlertRowError
from dbt_project.database import connect, database_url
from dbt_project.vocabulary import VOCABULARY

WEBHOOK_ENV = "LOGML_ALERT_WEBHOOK_URL"
ALERTS = "ml.ml_alerts"
DELIVERIES = "ml.ml_alert_deliveries"

CREATE_DELIVERIES = f"""
create table if not exists {DELIVERIES} (
    alert_key text primary key,
    alert_kind text not null,
    attempts integer not null,
    first_attempt_at timestamptz not null,
    last_attempt_at timestamptz not null,
    http_status integer,
    last_error text,
    delivered_at timestamptz
)"""

# The API shows each alert's delivery (GET /api/v1/alerts): its read-only role may read it.
GRANT_READER = f"""
do $$
begin
    if exists (select from pg_roles where rolname = 'logml_reader') then
        perform pg_advisory_xact_lock(hashtext('logml.grants'));  -- as dbt's grants do
        grant select on {DELIVERIES} to logml_reader;
    end if;
end $$"""

# delivered_at stays NULL while the alert is pending; a failed attempt only counts.
RECORD_ATTEMPT = f"""
insert into {DELIVERIES} as d
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


class NotifyError(Exception):
    """An expected failure (no table, bad URL, database down): a message, not a traceback."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be sent; send and record nothing"
    )
    parser.add_argument("--limit", type=_positive_int, help="send at most N alerts, oldest first")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per webhook request (default 10)"
    )


def run_command(args: argparse.Namespace) -> int:
    webhook = os.environ.get(WEBHOOK_ENV, "").strip()
    try:
        if args.dry_run or not webhook:
            return _report_pending(args.dry_run, args.limit)
        return _deliver(_checked(webhook), args.limit, args.timeout)
    except (NotifyError, AlertRowError, psycopg2.Error) as error:
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


def _report_pending(dry_run: bool, limit: int | None) -> int:
    """Without a webhook (or with --dry-run): say what is pending; send and record nothing."""
    with connect(database_url()) as conn, conn.cursor() as cur:
        _require_alerts(cur)
        has_deliveries = _exists(cur, DELIVERIES)
        pending = _pending(cur, limit, has_deliveries=has_deliveries)
        total = _pending_count(cur, has_deliveries=has_deliveries)
    if dry_run:
        for alert in pending:
            print(f"would send {alert.alert_key}: {alert.message}")
    reason = "dry run" if dry_run else f"{WEBHOOK_ENV} is not set"
    print(f"notify: {total} alert(s) pending; {reason}, nothing sent or recorded")
    return 0


def _deliver(webhook: str, limit: int | None, timeout: float) -> int:
    # Autocommit: the lock is the session's and every attempt is recorded in its own commit.
    with connect(database_url(), autocommit=True) as conn, conn.cursor() as cur:
        _require_alerts(cur)
        cur.execute("select pg_try_advisory_lock(hashtext('logml.notifier'))")
        if not cur.fetchone()[0]:
            print("notify: another notifier is running; waiting for it to finish", flush=True)
            cur.execute("select pg_advisory_lock(hashtext('logml.notifier'))")
        cur.execute(CREATE_DELIVERIES)
        cur.execute(GRANT_READER)
        pending = _pending(cur, limit, has_deliveries=True)
        sent = failed = 0
        for alert in pending:
            status, error = _post(webhook, slack_payload(alert), timeout)
            delivered = error is None
            cur.execute(
                RECORD_ATTEMPT,
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
        left = _pending_count(cur, has_deliveries=True)
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


def _pending(cur: Any, limit: int | None, *, has_deliveries: bool) -> list[AlertRow]:
    cur.execute(
        f"select {', '.join(COLUMNS)} from {ALERTS} as alerts {_undelivered(has_deliveries)} "
        "order by detected_at, window_start, alert_key limit %s",
        (limit,),
    )
    return [AlertRow.from_row(row) for row in cur.fetchall()]


def _pending_count(cur: Any, *, has_deliveries: bool) -> int:
    cur.execute(f"select count(*) from {ALERTS} as alerts {_undelivered(has_deliveries)}")
    return int(cur.fetchone()[0])


def _undelivered(has_deliveries: bool) -> str:
    if not has_deliveries:
        return ""
    return (
        f"where not exists (select 1 from {DELIVERIES} as d "
        "where d.alert_key = alerts.alert_key and d.delivered_at is not null)"
    )


def _require_alerts(cur: Any) -> None:
    if not _exists(cur, ALERTS):
        raise NotifyError(f"{ALERTS} does not exist yet: run `make run` (dbt build) first")


def _exists(cur: Any, relation: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", (relation,))
    return bool(cur.fetchone()[0])


def _checked(webhook: str) -> str:
    # Never echo the URL: a Slack webhook URL is a secret.
    if urllib.parse.urlsplit(webhook).scheme not in ("http", "https"):
        raise NotifyError(f"{WEBHOOK_ENV} must be an http:// or https:// URL")
    return webhook


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
