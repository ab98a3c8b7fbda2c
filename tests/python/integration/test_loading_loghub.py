"""Every loghub system loads with the documented mapping (docs/reference/log-formats.md)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from dev.db import fetch_all
from dev.pipeline import create_source, load_sources
from ingest import loghub
from ingest.source_table import LEVELS

SYSTEMS = sorted(loghub.SYSTEMS)


@pytest.fixture(scope="module")
def loaded(module_db: str, loghub_dir: Path) -> str:
    """All systems loaded in one command, as `load loghub <dir>/*` does."""
    create_source(module_db)
    sources = [loghub.LoghubCsv(p) for s in SYSTEMS for p in loghub.find_csvs(loghub_dir / s)]
    report = load_sources(module_db, sources)
    assert report.rows_read == 2000 * len(SYSTEMS)
    return module_db


@pytest.mark.parametrize("system", SYSTEMS)
def test_every_line_loads_with_a_canonical_or_null_level(loaded: str, system: str) -> None:
    rejected = fetch_all(
        loaded,
        "select count(*) from ml.log_load_rejects where source like %s",
        (f"%/{system}_2k.log_structured.csv",),
    )[0][0]
    rows = fetch_all(
        loaded,
        "select level::text, count(*) from log_entries where service = %s group by 1",
        (system,),
    )
    assert sum(n for _, n in rows) == 2000 - rejected
    assert rejected == 0  # the samples are clean: every line has a timestamp and a message
    levels = {level for level, _ in rows}
    assert levels <= set(LEVELS) | {None}


def test_level_counts_follow_the_documented_mapping(loaded: str, loghub_dir: Path) -> None:
    rows = fetch_all(
        loaded,
        "select service, coalesce(level::text, 'NULL'), count(*) from log_entries group by 1, 2",
    )
    counts = {(s, lvl): n for s, lvl, n in rows}
    # Straight from the CSVs: BGL's WARNING/SEVERE, Android's V+D, Apache's notice.
    assert counts[("BGL", "WARN")] == 8
    assert counts[("BGL", "ERROR")] == 41 + 7  # ERROR + SEVERE
    assert counts[("Android", "DEBUG")] == 650 + 257  # D + V
    assert counts[("Apache", "INFO")] == 1405  # notice
    assert counts[("Windows", "INFO")] == 2000  # "Info"
    # Formats without a level stay NULL, never a guess.
    for system in ("HealthApp", "HPC", "Linux", "Mac"):
        assert counts[(system, "NULL")] == 2000
    # Derived from the program's own markers.
    with (loghub_dir / "OpenSSH" / "OpenSSH_2k.log_structured.csv").open() as f:
        errors = sum(row["Content"].startswith("error:") for row in csv.DictReader(f))
    assert counts[("OpenSSH", "ERROR")] == errors > 0


def test_bgl_labels_become_anomalies(loaded: str) -> None:
    rows = fetch_all(
        loaded,
        "select is_anomaly, count(*), count(distinct anomaly_type) from log_entries "
        "where service = 'BGL' group by 1 order by 1",
    )
    assert rows == [(False, 1857, 0), (True, 143, 12)]
    unlabelled = fetch_all(
        loaded, "select count(*) from log_entries where service <> 'BGL' and is_anomaly is not null"
    )
    assert unlabelled == [(0,)]


def test_hosts_categories_and_ids(loaded: str) -> None:
    rows = fetch_all(
        loaded,
        "select log_id, host, category, structured_data->>'EventId' from log_entries "
        "where log_id in ('BGL-1', 'Linux-1', 'OpenSSH-2')",
    )
    assert sorted(rows) == [
        ("BGL-1", "R02-M1-N0-C:J12-U11", "KERNEL", "E77"),
        ("Linux-1", "combo", "sshd(pam_unix)", "E16"),
        ("OpenSSH-2", "LabSZ", None, "E13"),
    ]


def test_timestamps_parse_per_system(loaded: str) -> None:
    rows = fetch_all(
        loaded,
        "select log_id, \"timestamp\" at time zone 'UTC' from log_entries "
        "where log_id in ('HDFS-1', 'Android-1', 'HPC-1', 'HealthApp-1') order by 1",
    )
    assert [(i, t.isoformat()) for i, t in rows] == [
        ("Android-1", "2000-03-17T16:13:38.811000"),  # no year in the format: placeholder
        ("HDFS-1", "2008-11-09T20:36:15"),
        ("HPC-1", "2004-02-26T14:12:22"),  # epoch seconds 1077804742
        ("HealthApp-1", "2017-12-23T22:15:29.606000"),
    ]


def test_reloading_skips_and_counts_duplicates(loaded: str, loghub_dir: Path) -> None:
    path = loghub_dir / "Spark" / "Spark_2k.log_structured.csv"
    report = load_sources(loaded, [loghub.LoghubCsv(path)], "again")
    assert (report.rows_loaded, report.rejects) == (0, Counter(duplicate_log_id=2000))
    assert fetch_all(loaded, "select count(*) from log_entries where service = 'Spark'") == [
        (2000,)
    ]
    recorded = fetch_all(
        loaded,
        "select reason, count(*) from ml.log_load_rejects where load_id = %s group by 1",
        (report.load_id,),
    )
    assert recorded == [("duplicate_log_id", 2000)]
