"""The layout keeps its promises: each package imports only what its job needs (one direction,
docs/architecture.md), no module imports itself back through others, one module alone
(model_export/lifecycle/versions.py) builds or parses a model version's name, only the settings
module reads a setting from the environment, and the product never imports the development code
(dev/, bench/, tests/) nor does dev/ or bench/ import the tests."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbt_project.database import PROJECT_ROOT
from dbt_project.settings import Settings

PACKAGES = ("dbt_project", "ingest", "model_export", "alerts", "api")
# package -> the other project packages it may import
ALLOWED = {
    "dbt_project": set(),
    "ingest": {"dbt_project"},
    "model_export": {"dbt_project", "ingest"},
    "alerts": {"dbt_project"},
    # dbt_project: the settings, the vocabularies and the embedded database by default;
    # alerts: the alert row
    "api": {"dbt_project", "alerts"},
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
    "model_export.training.templates",
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


# --- the model version's name: model_export.lifecycle.versions alone builds or parses it -----

VERSIONS_MODULE = Path("model_export/lifecycle/versions.py")
# Read by the check: the project's Python (tests and benchmarks too) and the SQL and workflow
# files that could order or name versions. This file holds the forbidden forms as test data.
VERSION_CHECKED_PYTHON = (*PACKAGES, "bench", "tests/python")
VERSION_CHECKED_TEXT = ("macros", "models", "analyses", "tests/dbt", ".github/workflows")
VERSION_CHECK_EXEMPT = {VERSIONS_MODULE, Path("tests/python/unit/test_layout.py")}
# Expressions that hold a version name, by what the project calls them.
_VERSION_NAME = re.compile(r"^(v|versions?|\w*_versions?|version_\w+)$")
_NOT_A_MODEL_VERSION = re.compile(r"sklearn|python|dbt|api|schema|http|__version__")
# SQL or a regular expression that takes a version name apart or orders it as one:
# substr(model_version, 2), model_version ~ '^v[0-9]+$', 'v' || n, r"v(\d+)", ...
_PARSING_TEXT = re.compile(
    r"(substr|substring|ltrim|right|split_part|replace|regexp_\w+)\s*\(\s*\w*\.?model_version"
    r"|model_version\s*(~|similar to|like)"
    r"|'_?v'\s*\|\||\|\|\s*'_?v'"
    r"|(^|[^A-Za-z0-9])v\(?(\[[0-9]|\\d)",
    re.IGNORECASE,
)
_PREFIX_METHODS = {
    "lstrip", "rstrip", "strip", "removeprefix", "removesuffix", "split", "rsplit",
    "partition", "rpartition", "startswith", "endswith",
}  # fmt: skip


def _is_version_name(node: ast.AST, one: bool = False) -> bool:
    """Whether the expression is named like a version name (`one`: not a list of them)."""
    name = (
        node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute)
        else None
    )  # fmt: skip
    return (
        name is not None
        and _VERSION_NAME.match(name) is not None
        and not (one and name.endswith("versions"))
        and not _NOT_A_MODEL_VERSION.search(name)
    )


def _text(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _ends_in_v(text: str | None) -> bool:
    """Text that a number would complete into a version name: v, _v, ml_score_v."""
    return text is not None and re.search(r"(^|[^A-Za-z0-9])v$", text) is not None


def _builds_from(parts: list[ast.expr]) -> Iterator[str]:
    """An f-string that glues a version name to other name characters (ml_score_{version},
    {version}_x, artifacts/{version}) or puts a number after a lone v (v{n})."""
    for i, part in enumerate(parts):
        if not isinstance(part, ast.FormattedValue):
            continue
        before = _text(parts[i - 1]) if i > 0 else None
        after = _text(parts[i + 1]) if i + 1 < len(parts) else None
        if _ends_in_v(before):
            yield "builds vN in an f-string"
        if before and before.endswith("ml_score_"):
            yield "builds a scoring macro's name in an f-string"
        if _is_version_name(part.value) and (
            (before and re.search(r"[\w/]$", before)) or (after and re.match(r"\w", after))
        ):
            yield "builds a name from a version in an f-string"


def _from_second(node: ast.AST) -> bool:
    """x[1:]: a name without its first character."""
    if not (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice)):
        return False
    start = node.slice.lower
    return isinstance(start, ast.Constant) and start.value == 1 and node.slice.upper is None


def _number_of(call: ast.Call) -> bool:
    """int(x[1:]) or x[1:].isdigit(): the number after a one-letter prefix."""
    if isinstance(call.func, ast.Name) and call.func.id == "int":
        return any(_from_second(a) for a in call.args)
    numeric = ("isdigit", "isdecimal", "isnumeric")
    return (
        isinstance(call.func, ast.Attribute)
        and call.func.attr in numeric
        and _from_second(call.func.value)
    )


def version_string_handling(source: str) -> list[str]:
    """What a piece of Python does with a version name that only versions.py may do: each
    finding as 'line N: what'."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.JoinedStr):
            found += [(line, what) for what in _builds_from(list(node.values))]
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            sides = (node.left, node.right)
            if _ends_in_v(_text(node.left)) or (
                any(_is_version_name(s) for s in sides) and any(_text(s) for s in sides)
            ):
                found.append((line, "builds a version name by concatenation"))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            if any(_is_version_name(s) for s in (node.left, node.right)):
                found.append((line, "builds a version's path"))
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Slice)
            and _is_version_name(node.value, one=True)
        ):
            found.append((line, "takes a version name apart by slicing"))
        elif isinstance(node, ast.Call):
            if _number_of(node):
                found.append((line, "takes [1:] of a name as a number (the N of vN)"))
            argument = _text(node.args[0]) if node.args else None
            method = node.func.attr if isinstance(node.func, ast.Attribute) else None
            if method in _PREFIX_METHODS and argument in {"v", "_", "_v", "V"}:
                found.append((line, f"takes a name apart: .{method}({argument!r})"))
        if (text := _text(node)) is not None and _PARSING_TEXT.search(text):
            found.append((line, "SQL or a pattern that parses or orders version names"))
    return [f"line {line}: {what}" for line, what in sorted(set(found))]


def _version_checked_files() -> Iterator[tuple[Path, str]]:
    for folder in VERSION_CHECKED_PYTHON:
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            yield path.relative_to(PROJECT_ROOT), "python"
    for folder in VERSION_CHECKED_TEXT:
        for path in sorted((PROJECT_ROOT / folder).rglob("*")):
            generated = "generated" in path.relative_to(PROJECT_ROOT).parts
            if path.is_file() and path.suffix in {".sql", ".yml", ".yaml"} and not generated:
                yield path.relative_to(PROJECT_ROOT), "text"
    yield Path("Makefile"), "text"


def test_only_the_versions_module_builds_or_parses_version_names() -> None:
    wrong = []
    for path, kind in _version_checked_files():
        if path in VERSION_CHECK_EXEMPT:
            continue
        text = (PROJECT_ROOT / path).read_text(encoding="utf-8")
        if kind == "python":
            wrong += [f"{path} {finding}" for finding in version_string_handling(text)]
        else:
            wrong += [
                f"{path} line {text.count(chr(10), 0, m.start()) + 1}: {m.group(0)!r}"
                for m in _PARSING_TEXT.finditer(text)
            ]
    assert wrong == []


# What the check must catch: the forms versions were built and parsed with elsewhere before
# versions.py owned them (export.py, project_files.py, registry.py, scorer.py, the workflow).
FORBIDDEN = {
    'f"v{int(version[1:]) + 1}"': "builds vN in an f-string",
    "int(version[1:])": "takes [1:]",
    "p.name[1:].isdigit()": "takes [1:]",
    "model_version[2:]": "by slicing",
    'seed_suffix.lstrip("_")': "takes a name apart",
    'name.removeprefix("v")': "takes a name apart",
    'f"ml_score_{version}"': "builds a name from a version",
    'f"_{version}"': "builds a name from a version",
    'f"{v}_seed"': "builds a name from a version",
    'f"ml_score_{tag}"': "a scoring macro's name",
    '"ml_score_" + version': "concatenation",
    '"v" + str(n)': "concatenation",
    "artifacts_dir / version": "a version's path",
    '"select max(substr(model_version, 2)::int) from r"': "parses or orders",
    "\"select 1 where model_version ~ '^v[0-9]+$'\"": "parses or orders",
    "\"select 'v' || n\"": "parses or orders",
    're.compile(r"v(\\d+)")': "parses or orders",
}


@pytest.mark.parametrize("code", FORBIDDEN)
def test_the_version_check_catches_each_forbidden_form(code: str) -> None:
    findings = version_string_handling(code)
    assert any(FORBIDDEN[code] in finding for finding in findings), findings


def test_the_version_check_leaves_messages_and_other_names_alone() -> None:
    allowed = (
        'f"{version} is active (was {previous})"',
        'f"ml_predictions {version}"',
        'f"{name}_vocabulary"',
        'sklearn.__version__ + ""',
        "scorer_macro(version)",
        "steps[1:]",
        "versions[0]",
        "versions[:-1]",
        'v["model_version"]',
        '"select model_version from r where model_version = %s"',
    )
    assert [version_string_handling(code) for code in allowed] == [[] for _ in allowed]


def test_the_versions_module_is_what_the_check_would_catch() -> None:
    """The one exempt module does build and parse version names (the check is not looking
    past what it should find)."""
    source = (PROJECT_ROOT / VERSIONS_MODULE).read_text(encoding="utf-8")
    assert len(version_string_handling(source)) >= 3


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
