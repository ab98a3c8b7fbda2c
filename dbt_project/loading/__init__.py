"""Log loaders (placeholder until the loader lands)."""


def register_commands(commands) -> None:
    pass


def run_command(args) -> int:
    raise SystemExit(f"unknown command {args.command}")
