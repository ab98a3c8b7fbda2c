"""The layout keeps its promises: each package imports only what its job needs (one direction,
README "Architecture"), no module imports itself back through others, and only the settings
module reads a setting from the environment."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from dbt_project.database import PROJECT_ROOT
from dbt_project.settings import Settings

PACKAGES = ("dbt_project", "ingest", "model_export", "alerts", "api")
# package -> the other project packages it may import
ALLOWED = {
    "dbt_project": set(),
    "ingest": {"dbt_project"},
    "model_export": {"dbt_project", "ingest"},
    "alerts": {"dbt_project"},
    "api": {"dbt_project"},  # the settings, and the embedded database by default
}
# model_export is one package per job; job -> the other jobs it may import. Training knows
# nothing of what happens to a model afterwards; the compiler reads the Pipeline steps it
# compiles (COMPILER_READS), nothing else; lifecycle compiles and verifies versions;
# evaluation trains and scores. The modules at model_export's top (cli, export, demo_model,
# progress) tie the jobs together.
JOBS = {
    "training": set(),
    "compiler": {"training"},
    "lifecycle": {"training", "compiler"},
    "evaluation": {"training"},
}
SHARED = {"model_export.progress"}
COMPILER_READS = {
    "model_export.training.features",
    "model_export.training.tokenizer",
    "model_export.training.anomaly_detectors",
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """The project modules a file imports (a `from package import module` names the module)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            if name in modules:
                yield name


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: set(_imports(path, modules)) - {name} for name, path in modules.items()}


def test_packages_import_only_what_their_job_needs() -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if (package := module.split(".")[0]) != (other := target.split(".")[0])
        and other not in ALLOWED[package]
    )
    assert wrong == []


def _job(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "model_export" and len(parts) > 1 and parts[1] in JOBS else None


def test_model_export_jobs_import_only_the_jobs_they_build_on() -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items()
        if (job := _job(module)) in JOBS
        for target in targets
        if target.startswith("model_export.")
        and target not in SHARED
        and (other := _job(target)) != job
        and other not in JOBS[job]
    )
    assert wrong == []


def test_the_compiler_reads_only_the_steps_it_compiles() -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items()
        if module.startswith("model_export.compiler")
        for target in targets
        if target.startswith("model_export.")
        and not target.startswith("model_export.compiler")
        and target not in COMPILER_READS
    )
    assert wrong == []


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def _is_environ(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and _is_os(node.value)


def _is_os(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "os"


def _environment_reads(path: Path) -> Iterator[str]:
    """The variable names a file reads straight from the environment: os.environ[NAME],
    os.environ.get/pop/setdefault(NAME), os.getenv(NAME), NAME in os.environ."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        key: ast.expr | None = None
        if isinstance(node, ast.Subscript) and _is_environ(node.value):
            key = node.slice
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            method = node.func
            if (method.attr in ("get", "pop", "setdefault") and _is_environ(method.value)) or (
                method.attr == "getenv" and _is_os(method.value)
            ):
                key = node.args[0]
        elif isinstance(node, ast.Compare) and any(_is_environ(c) for c in node.comparators):
            key = node.left
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            yield key.value


def test_only_the_settings_module_reads_settings_from_the_environment() -> None:
    settings = {name.upper() for name in Settings.model_fields}
    wrong = sorted(
        f"{module} reads {name}"
        for module, path in _modules().items()
        if module != "dbt_project.settings"
        for name in _environment_reads(path)
        if name in settings
    )
    assert wrong == []
