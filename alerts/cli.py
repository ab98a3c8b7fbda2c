"""`python -m alerts notify [--dry-run] [--limit N] [--timeout S]`: send each new alert of
ml_alerts once to the webhook in LOGML_ALERT_WEBHOOK_URL."""

from __future__ import annotations

import argparse

from alerts import notifier


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alerts", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    notify = commands.add_parser(
        "notify", help=f"send new alerts of {notifier.ALERTS} to ${notifier.WEBHOOK_ENV}, once"
    )
    notifier.add_arguments(notify)
    return notifier.run_command(parser.parse_args(argv))
