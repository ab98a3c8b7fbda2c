"""`make citus-up` names the system packages a Citus build lacks, with the command that installs
them, before it unpacks anything (dev/citus/cluster.sh check_build_tools)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dbt_project.database import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "dev" / "citus" / "cluster.sh"
# the headers are looked up with the compiler the build needs anyway
pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="no gcc on this machine")


def _build(tmp_path: Path, extra_header: str) -> subprocess.CompletedProcess[str]:
    """cluster.sh build against a PostgreSQL without Citus, its header list extended by one
    pair (a header no machine has -> a package name), and a build script that must not run."""
    script = SCRIPT.read_text(encoding="utf-8")
    assert "krb5.h:libkrb5-dev)" in script
    copy = tmp_path / "dev" / "citus" / "cluster.sh"
    copy.parent.mkdir(parents=True)
    copy.write_text(script.replace("krb5.h:libkrb5-dev)", f"krb5.h:libkrb5-dev {extra_header})"))
    pgbin = tmp_path / "pg" / "bin"
    pgbin.mkdir(parents=True)
    (pgbin / "pg_config").write_text("#!/bin/sh\n")
    (pgbin / "pg_config").chmod(0o755)
    source = tmp_path / "citus-source"
    source.mkdir()
    (source / "build-citus.sh").write_text("echo BUILD STARTED\n")
    env = {**os.environ, "CITUS_PGBIN": str(pgbin), "CITUS_SOURCE": str(source)}
    return subprocess.run(
        ["bash", str(copy), "build"], capture_output=True, text=True, env=env, timeout=60
    )


def test_a_missing_package_is_named_with_its_install_command(tmp_path: Path) -> None:
    done = _build(tmp_path, "logml/no_such_header.h:libno-such-dev")
    assert done.returncode == 1
    assert "BUILD STARTED" not in done.stdout + done.stderr
    install = done.stderr.split("apt-get install -y ", 1)
    assert len(install) == 2 and "libno-such-dev" in install[1]


def test_present_headers_are_not_named(tmp_path: Path) -> None:
    # stdio.h is on every machine with a compiler: only the missing pair may be listed
    done = _build(tmp_path, "stdio.h:libc-present-dev logml/no_such_header.h:libno-such-dev")
    assert "libc-present-dev" not in done.stderr and "libno-such-dev" in done.stderr
