"""Every repository path the docs name exists. mkdocs checks the links between pages; this checks
what it cannot see: paths in code (`model_export/lifecycle/registry.py`, `docs/...`, a bare
`registry.py`), dotted module names (`model_export.training.features`, `bench.api_latency`) and
the README's relative links. And the other way round: every `docs/...` page that the code, the
dbt project or the Makefile names (a comment, an error message) exists.

What counts as a path (README.md and docs/**/*.md):
- a token whose first segment is a top-level entry of the repository (`models/...`, `.ci/run`),
  in inline code or in a code block: it must be a file or folder of the repository, or a place
  git ignores (build outputs such as `target/` or `.pgdata/`);
- an inline code span that is one token with a file extension: with a `/` it is read from the
  root (`interpreters/postgresql.py` fails: write `model_export/compiler/interpreters/...`),
  without one it must be the name of some file of the repository (`registry.py`);
- a code block whose first line is a comment naming a file (`-- models/x.sql: ...`) is a file
  the reader writes: that first line is not checked;
- `vN` stands for any version and is checked as the shipped `v1`; `<name>` and `*` are globs
  that must match something; tokens with `...`, `{`, `://` or a leading `../` (outside the
  repository) are not paths.

    python -m dev.docs.paths    print every missing path with its page and line; exit 1 if any
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXTENSIONS = (
    ".py",
    ".sql",
    ".yml",
    ".yaml",
    ".md",
    ".sh",
    ".csv",
    ".json",
    ".jsonl",
    ".html",
    ".toml",
    ".lock",
    ".joblib",
    ".txt",
    ".js",
    ".css",
    ".cfg",
)
PACKAGES = ("dbt_project", "ingest", "model_export", "alerts", "api", "bench")
SHIPPED_VERSION = "v1"

_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_WRITES_A_FILE = re.compile(r"^\s*(?:#|--) [\w./-]+\.\w+:")
_TOKEN = re.compile(r"[\w./*<>@+-]+")
_MODULE = re.compile(rf"^(?:{'|'.join(PACKAGES)})(?:\.\w+)+$")
_DOC_REFERENCE = re.compile(r"(?<![\w/.])docs/[\w./-]*\.(?:md|html)\b")
_CODE_SUFFIXES = (".py", ".sql", ".yml", ".yaml", ".sh", ".toml", ".md", ".cfg", "")


@dataclass(frozen=True)
class Missing:
    page: str
    line: int
    path: str
    why: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: `{self.path}` {self.why}"


class Repository:
    """The files of the working tree that git would commit, and what git ignores."""

    def __init__(self, root: Path) -> None:
        self.root = root
        listed = _git(root, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
        self.files = {f for f in listed.split("\0") if f and (root / f).exists()}
        self.folders = {
            str(Path(f).parents[i]) for f in self.files for i in range(len(Path(f).parts) - 1)
        }
        self.top = {f.split("/")[0] for f in self.files}
        self.names = {Path(f).name for f in self.files}
        self._ignored: dict[str, bool] = {}

    def has(self, path: str) -> bool:
        path = path.rstrip("/")
        return path in self.files or path in self.folders

    def matches(self, pattern: str) -> bool:
        pattern = pattern.rstrip("/")
        return any(fnmatch(p, pattern) for p in (*self.files, *self.folders))

    def ignored(self, path: str) -> bool:
        if path not in self._ignored:
            done = subprocess.run(
                ["git", "check-ignore", "-q", "--no-index", path], cwd=self.root, check=False
            )
            self._ignored[path] = done.returncode == 0
        return self._ignored[path]


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"git {args[0]} failed in {root} (a git checkout is needed): {done.stderr}"
        )
    return done.stdout


def pages(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def _spans(text: str) -> Iterator[tuple[int, str, bool]]:
    """(line number, text, whole inline code span?) of every piece of code on a page."""
    fenced = opened = False
    for number, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            fenced = opened = not fenced
            continue
        if opened and _WRITES_A_FILE.match(line):
            opened = False
            continue
        opened = False
        if fenced or line.startswith("    "):
            yield number, line, False
            continue
        for span in _INLINE.findall(line):
            yield number, span.strip(), True


def _links(text: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), 1):
        for target in _LINK.findall(line):
            if "://" not in target and not target.startswith(("#", "mailto:")):
                yield number, target.split("#", 1)[0]


def _not_a_path(token: str) -> bool:
    return (
        "..." in token
        or "{" in token
        or "://" in token
        or token.startswith(("../", "/", "-"))
        or token.startswith("@")
    )


def _concrete(token: str) -> str:
    """vN -> the shipped version; <placeholder> -> a glob."""
    token = re.sub(r"(?<![A-Za-z])vN(?![A-Za-z])", SHIPPED_VERSION, token)
    token = token.replace("_vN", f"_{SHIPPED_VERSION}")
    return re.sub(r"<[^>]*>", "*", token)


def _exists(repo: Repository, token: str) -> bool:
    path = _concrete(token.rstrip(".,:;)"))
    if "*" in path or "?" in path:
        return repo.matches(path) or repo.ignored(path.split("*")[0].rstrip("/") or ".")
    return repo.has(path) or repo.ignored(path)


def _module_problem(root: Path, dotted: str) -> str | None:
    """None when the dotted name is a module of the project, or a module and a name it defines."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        base = root.joinpath(*parts[:cut])
        source = base.with_suffix(".py")
        if not source.is_file() and (base / "__init__.py").is_file():
            source = base / "__init__.py"
        if not source.is_file():
            continue
        rest = parts[cut:]
        if not rest:
            return None
        defined = re.compile(
            rf"^(?:(?:async )?def |class ){rest[0]}\b|^{rest[0]}\s*[:=]|import .*\b{rest[0]}\b",
            re.M,
        )
        if defined.search(source.read_text(encoding="utf-8")):
            return None
        return f"is not defined in {source.relative_to(root)}"
    return "is not a module of the project"


def _has_extension(token: str) -> bool:
    return any(token.endswith(ext) for ext in EXTENSIONS)


def _problem(repo: Repository, token: str, single: bool) -> str | None:
    """Why a token of a page is a path that does not exist (None: fine, or not a path)."""
    if "/" in token and token.split("/")[0] in repo.top:
        return None if _exists(repo, token) else "does not exist"
    if single and _has_extension(token):
        if "/" in token:
            return None if _exists(repo, token) else "does not exist (paths start at the root)"
        name = _concrete(token)
        known = name in repo.names or repo.matches("*/" + name)
        return None if known else "is the name of no file in the repository"
    if _MODULE.match(token) and not _has_extension(token):
        return _module_problem(repo.root, token)
    return None


def check(root: Path = ROOT) -> list[Missing]:
    repo = Repository(root)
    missing: dict[tuple[str, int, str], Missing] = {}
    for page in pages(root):
        text = page.read_text(encoding="utf-8")
        name = str(page.relative_to(root))
        for line, code, whole in _spans(text):
            single = whole and " " not in code
            for token in [code] if single else _TOKEN.findall(code):
                token = token.rstrip(".,:;")
                if token and not _not_a_path(token):
                    why = _problem(repo, token, single)
                    if why is not None:
                        missing[name, line, token] = Missing(name, line, token, why)
        if page.name == "README.md":
            for line, target in _links(text):
                if target and not (page.parent / target).exists():
                    missing[name, line, target] = Missing(
                        name, line, target, "(a link) does not exist"
                    )
    return list(missing.values())


def doc_references(root: Path = ROOT) -> list[Missing]:
    """`docs/...` pages named outside the docs (code, dbt project, Makefile) that do not exist."""
    repo = Repository(root)
    documented = {str(page.relative_to(root)) for page in pages(root)}
    missing = []
    for name in sorted(repo.files - documented):
        path = root / name
        if path.suffix not in _CODE_SUFFIXES or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # a binary file (joblib artifacts)
        for number, line in enumerate(text.splitlines(), 1):
            for page in _DOC_REFERENCE.findall(line):
                if page not in repo.files:
                    missing.append(Missing(name, number, page, "(a docs page) does not exist"))
    return missing


def main() -> int:
    missing = check() + doc_references()
    for problem in missing:
        print(problem)
    if missing:
        print(f"{len(missing)} paths in the docs do not exist: fix the page or the path")
        return 1
    print("every path the docs name exists")
    return 0


if __name__ == "__main__":
    sys.exit(main())
