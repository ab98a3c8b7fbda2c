"""The layout keeps its promises: each package imports only what its job needs (one direction,
README "Architecture"), no module imports itself back through others, and the product never
imports the development code (dev/, bench/, tests/) nor does dev/ or bench/ import the tests."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from dbt_project.database import PROJECT_ROOT

PACKAGES = ("dbt_project", "ingest", "model_export", "alerts", "api")
# package -> the other project packages it may import
ALLOWED = {
    "dbt_project": set(),
    "ingest": {"dbt_project"},
    "model_export": {"dbt_project", "ingest"},
    "alerts": {"dbt_project"},
    "api": {"dbt_project"},  # only to find the embedded database by default
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


# folder -> top-level names its modules may not import
NOT_IMPORTED = {
    **{package: {"dev", "bench", "tests"} for package in PACKAGES},
    "dev": {"bench", "tests"},
    "bench": {"tests"},
}


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_product_and_benchmarks_never_import_the_tests() -> None:
    wrong = sorted(
        f"{path.relative_to(PROJECT_ROOT)} imports {name}"
        for folder, forbidden in NOT_IMPORTED.items()
        for path in (PROJECT_ROOT / folder).rglob("*.py")
        for name in _top_level_imports(path) & forbidden
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
