"""Reading log files without a database: the loghub samples are all there, and each system's
raw .log parses to the same rows as its structured CSV."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest import loghub
from ingest.textfiles import TextLog, line_parser

SYSTEMS = sorted(loghub.SYSTEMS)


def test_the_samples_hold_every_system(loghub_dir: Path) -> None:
    on_disk = {p.name for p in loghub_dir.iterdir() if p.is_dir()}
    assert on_disk == set(SYSTEMS)


@pytest.mark.parametrize("system", SYSTEMS)
def test_raw_logs_parse_like_the_structured_csv(loghub_dir: Path, system: str) -> None:
    """`load file --format loghub-raw:<System>` reads the raw .log to the same rows."""
    raw = list(
        TextLog(loghub_dir / system / f"{system}_2k.log", line_parser(f"loghub-raw:{system}", None))
    )
    structured = list(loghub.LoghubCsv(loghub_dir / system / f"{system}_2k.log_structured.csv"))
    assert len(raw) == len(structured) == 2000

    def key(entry):  # type: ignore[no-untyped-def]
        return (entry.timestamp, entry.level, entry.message.strip(), entry.host, entry.category)

    assert [key(e) for _, e, _ in raw] == [key(e) for _, e, _ in structured]
