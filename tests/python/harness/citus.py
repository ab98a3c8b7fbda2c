"""A Citus cluster of a test's own (dev/citus/cluster.sh: a coordinator and two workers on
127.0.0.1, data in a temporary folder, ports apart from `make citus-up`'s), and reading what
Citus does with a statement."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from psycopg import sql

from dbt_project.database import PROJECT_ROOT, connect

CLUSTER = PROJECT_ROOT / "dev" / "citus" / "cluster.sh"
# `make citus-up` uses 9700-9702; the embedded servers listen on unix sockets only
TEST_PORT = 9740


def _pgbin() -> Path:
    import pgserver  # the virtualenv's PostgreSQL, where cluster.sh builds Citus

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def cluster(data: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`cluster.sh <args>` for the cluster whose data is in `data`."""
    env = {
        **os.environ,
        "CITUS_PGBIN": str(_pgbin()),
        "CITUS_DATA": str(data),
        "CITUS_PORT": str(TEST_PORT),
    }
    done = subprocess.run(
        [str(CLUSTER), *args], env=env, capture_output=True, text=True, timeout=1800, check=False
    )
    assert not check or done.returncode == 0, f"cluster.sh {args}:\n{done.stdout}{done.stderr}"
    return done


@contextmanager
def citus_cluster(data: Path) -> Iterator[str]:
    """Build Citus if needed, start a cluster in `data`, yield the coordinator's URL; destroy
    it afterwards. Where Citus cannot be built here the test is skipped with the reason (never
    passed)."""
    built = cluster(data, "build", check=False)
    if built.returncode != 0:
        pytest.skip(f"Citus cannot be built on this machine: {built.stderr.strip()[-500:]}")
    try:
        url = cluster(data, "up").stdout.strip().splitlines()[-1]
        yield url
    finally:
        cluster(data, "destroy", check=False)


def explain(url: str, statement: str, settings: dict[str, str]) -> str:
    """EXPLAIN (costs off) of `statement` in a transaction with these SET LOCALs (sent to the
    workers too, as the model's hooks do), rolled back."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("begin")
        cur.execute("set local citus.propagate_set_commands = local")
        for name, value in settings.items():
            # SET takes no bound parameters: the value goes in as a quoted literal
            cur.execute(sql.SQL(f"set local {name} = {{}}").format(sql.Literal(value)))
        cur.execute(f"explain (costs off) {statement}")
        plan = "\n".join(row[0] for row in cur.fetchall())
        cur.execute("rollback")
    return plan


def task_count(plan: str) -> list[int]:
    """The Task Count of every distributed step of a plan."""
    return [int(n) for n in re.findall(r"Task Count: (\d+)", plan)]
