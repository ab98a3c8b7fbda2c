"""The docs site keeps its promises: it builds in strict mode and offline, the reference pages
are what their sources (the Makefile, dbt_project.yml) give today, every repository path the
docs name exists, the README stays short and the docs tell no history."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dbt_project.database import PROJECT_ROOT
from dev.docs import paths, reference

DOCS = PROJECT_ROOT / "docs"


def _build(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


# ---- the site ------------------------------------------------------------------------------------


def test_the_site_builds_strictly_and_needs_nothing_from_the_network(tmp_path: Path) -> None:
    done = _build(PROJECT_ROOT, tmp_path / "site")
    assert done.returncode == 0, done.stdout + done.stderr
    pages = list((tmp_path / "site").rglob("*.html"))
    assert len(pages) >= 20
    remote = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)=["'](?:https?:)?//""")
    fetched = sorted(str(p.relative_to(tmp_path)) for p in pages if remote.search(p.read_text()))
    assert fetched == []
    assert not any("fonts.googleapis" in p.read_text() for p in pages)


@pytest.mark.slow
def test_a_dead_link_fails_the_build(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(DOCS, project / "docs")
    shutil.copyfile(PROJECT_ROOT / "mkdocs.yml", project / "mkdocs.yml")
    with (project / "docs" / "index.md").open("a") as page:
        page.write("\nSee [the lost page](concepts/lost.md).\n")
    done = _build(project, tmp_path / "site")
    assert done.returncode != 0
    assert "concepts/lost.md" in done.stdout + done.stderr


# ---- generated reference pages -------------------------------------------------------------------


def test_the_reference_pages_are_what_their_sources_give() -> None:
    assert reference.stale() == [], "run make docs-site and commit the pages"


MAKEFILE = """\
# What the file is about.
# More of it.

# The interpreter.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Demo rows.
ROWS ?= 10
SEED ?= 1

LOOSE ?= x

help:  ## list the targets
label: setup  ## label as LABEL=anomalous|normal
hidden:
\t@echo no help text, not listed
"""


def test_make_targets_and_variables_come_from_the_makefile() -> None:
    assert reference.make_targets(MAKEFILE) == [
        ("help", "list the targets"),
        ("label", "label as LABEL=anomalous|normal"),
    ]
    variables = {v.name: (v.default, v.comment) for v in reference.make_variables(MAKEFILE)}
    assert variables == {
        "PYTHON": ("python3", "The interpreter."),
        "VENV": (".venv", "The interpreter."),
        "ROWS": ("10", "Demo rows."),
        "SEED": ("1", "Demo rows."),
        "LOOSE": ("x", ""),
    }


DBT_PROJECT = """\
name: demo
vars:
  # A note about the vars that follow.

  # Cut messages here.
  max_chars: 10
  # --- alerts (models/marts/x.sql) ---
  # Spikes need these.
  min_lines: 20
  min_events: 5
  # Drift above this.
  psi: 0.25

models:
  demo: {}
"""


def test_dbt_vars_come_with_their_comments_and_sections() -> None:
    sections = reference.dbt_vars(DBT_PROJECT)
    assert [s.title for s in sections] == ["Source and staging", "alerts"]
    first, alerts = sections
    assert first.notes == ["A note about the vars that follow."]
    assert [(e.comment, e.names) for e in first.entries] == [
        ("Cut messages here.", [("max_chars", "10")])
    ]
    assert alerts.notes == ["models/marts/x.sql"]
    assert [(e.comment, e.names) for e in alerts.entries] == [
        ("Spikes need these.", [("min_lines", "20"), ("min_events", "5")]),
        ("Drift above this.", [("psi", "0.25")]),
    ]


SETTINGS = """
class Settings(BaseSettings):
    # --- the database ---
    # Any PostgreSQL.
    database_url: str | None = None

    # --- the API ---
    # Where it listens.
    api_port: int = Field(8000, ge=1)
"""


def test_a_changed_source_makes_its_page_stale(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text(MAKEFILE)
    (tmp_path / "dbt_project.yml").write_text(DBT_PROJECT)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "a.sql").write_text("select {{ var('since', none) }} as s\n")
    (tmp_path / "dbt_project").mkdir()
    (tmp_path / "dbt_project" / "settings.py").write_text(SETTINGS)
    assert sorted(reference.write(tmp_path)) == sorted(reference.PAGES)
    assert reference.stale(tmp_path) == []
    page = (tmp_path / "docs" / "reference" / "dbt-vars.md").read_text()
    assert "| `since` | `none` | `models/a.sql` |" in page
    assert "| `min_lines`<br>`min_events` | `20`<br>`5` | Spikes need these. |" in page
    targets = (tmp_path / "docs" / "reference" / "make-targets.md").read_text()
    assert "| `make label` | label as LABEL=anomalous\\|normal |" in targets
    environment = (tmp_path / "docs" / "reference" / "environment.md").read_text()
    assert "## The database" in environment
    assert "| `DATABASE_URL` | `unset` | Any PostgreSQL. |" in environment
    assert "| `API_PORT` | `8000` | Where it listens. |" in environment
    (tmp_path / "Makefile").write_text(MAKEFILE.replace("list the targets", "list them"))
    assert reference.stale(tmp_path) == ["docs/reference/make-targets.md"]
    (tmp_path / "dbt_project" / "settings.py").write_text(SETTINGS.replace("Any", "Some"))
    assert "docs/reference/environment.md" in reference.stale(tmp_path)


# ---- paths ---------------------------------------------------------------------------------------


def test_every_path_the_docs_name_exists_and_every_docs_page_the_code_names() -> None:
    assert [str(m) for m in paths.check()] == []
    assert [str(m) for m in paths.doc_references()] == []


PAGE = """\
# A page

Fine: `models/a.sql`, `a.sql`, `model_export/x.py`, `model_export.x.f`, `model_export.x`,
`macros/generated/vN/ml_score_vN.sql`, `target/run_results.json`, `models/<name>.sql`,
`/api/v1/status`, `../shared/data`, `python -m model_export export`, `tests/python/{unit,e2e}/`.

Missing: `models/b.sql`, `gone.py`, `model_export.x.g`, `model_export.y`, `x/a.sql`,
`python -m bench.nothing`.

```sh
python -m pytest models/c.sql    # in a code block too
```

```sql
-- models/new.sql: a file the reader writes
select * from models/d.sql
```
"""


D = "docs"  # written apart, so that the repository's own check does not read these paths


def test_the_path_check_names_what_does_not_exist(tmp_path: Path) -> None:
    for name, text in {
        "models/a.sql": "select 1\n",
        "model_export/x.py": "def f():\n    pass\n",
        "macros/generated/v1/ml_score_v1.sql": "\n",
        "bench/__init__.py": "\n",
        ".gitignore": "target/\n",
        f"{D}/page.md": PAGE,
        "README.md": f"[fine]({D}/page.md) [lost]({D}/lost.md)\n",
        "alerts/notifier.py": f"# rules: {D}/page.md; delivery: {D}/gone.md\n",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    found = sorted((m.page, m.path) for m in paths.check(tmp_path))
    page = f"{D}/page.md"
    assert found == [
        ("README.md", f"{D}/lost.md"),
        (page, "bench.nothing"),
        (page, "gone.py"),
        (page, "model_export.x.g"),
        (page, "model_export.y"),
        (page, "models/b.sql"),
        (page, "models/c.sql"),
        (page, "models/d.sql"),
        (page, "x/a.sql"),
    ]
    assert [(m.page, m.path) for m in paths.doc_references(tmp_path)] == [
        ("alerts/notifier.py", f"{D}/gone.md")
    ]


# ---- the README and history ----------------------------------------------------------------------


def test_the_readme_is_short_and_links_into_the_site() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    for command in ("make demo", "make pipeline", "make test"):
        assert command in readme
    linked = set(re.findall(r"\]\((docs/[\w/.-]+\.md)\)", readme))
    assert {"docs/getting-started.md", "docs/architecture.md", "docs/reliability.md"} <= linked


def test_the_docs_tell_no_history() -> None:
    """History belongs in commit messages: no issue numbers ("until #13", "before #12")."""
    told = [
        f"{page.relative_to(PROJECT_ROOT)}: {match}"
        for page in paths.pages(PROJECT_ROOT)
        for match in re.findall(r"[^\n]{0,30}(?<![&\w])#\d+\b", page.read_text(encoding="utf-8"))
    ]
    assert told == []
