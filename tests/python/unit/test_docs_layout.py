"""The tree, the architecture page (docs/architecture.md) and `dbt ls` tell one story: every
top-level folder and package of the repository, and every job package of model_export, is on
the page's tree, and everything the tree names exists; the page's DAG table lists exactly the
dbt models, each with its folder, its materialization and the models and sources it reads, and
the DAG section names no model that does not exist."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dbt_project.database import PROJECT_ROOT
from dev.docs.paths import Repository

PAGE = PROJECT_ROOT / "docs" / "architecture.md"
_BRANCHES = "│├└─ \u00a0"
# ref()/source() anywhere in a Jinja expression, also as a macro's argument
_REF = re.compile(r"""(?<![\w.])ref\(\s*['"](\w+)['"]\s*\)""")
_SOURCE = re.compile(r"""(?<![\w.])source\(\s*['"](\w+)['"]\s*,\s*['"](\w+)['"]\s*\)""")
_MODEL_LIKE = re.compile(r"\b(?:stg|int|ml)_\w+")


def _section(title: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def _first_code_block(text: str) -> list[str]:
    return re.search(r"```\w*\n(.*?)```", text, re.S)[1].splitlines()  # type: ignore[index]


def tree() -> list[str]:
    """The paths the tree names, from the root: `├── staging/logs/` under `models/` reads
    models/staging/logs/ (a name may hold several levels)."""
    paths: list[str] = []
    parents: list[str] = []
    for line in _first_code_block(_section("The tree"))[1:]:  # the first line is the root
        name = line.lstrip(_BRANCHES).split()[0]
        depth = (len(line) - len(line.lstrip(_BRANCHES))) // 4
        parents = parents[: depth - 1]
        path = "".join(parents) + name
        paths.append(path)
        if name.endswith("/"):
            parents.append(name)
    return paths


def models() -> dict[str, Path]:
    return {p.stem: p for p in sorted((PROJECT_ROOT / "models").rglob("*.sql"))}


def reads(path: Path) -> set[str]:
    """The models and sources (`source.table`) a model's SQL reads."""
    text = path.read_text(encoding="utf-8")
    return set(_REF.findall(text)) | {f"{s}.{t}" for s, t in _SOURCE.findall(text)}


def sources() -> set[str]:
    """`source.table` of every source table declared under models/."""
    import yaml

    found = set()
    for path in (PROJECT_ROOT / "models").rglob("*.yml"):
        for source in yaml.safe_load(path.read_text(encoding="utf-8")).get("sources", []):
            found |= {f"{source['name']}.{table['name']}" for table in source["tables"]}
    return found


def dag_table() -> dict[str, tuple[str, str, set[str]]]:
    """model -> (folder, materialized, what it reads), from the DAG section's table."""
    rows = {}
    for line in _section("The dbt DAG").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            model, folder, materialized, read = cells
            rows[model.strip("`")] = (
                folder.strip("`"),
                materialized,
                set(re.findall(r"`([\w.]+)`", read)),
            )
    return rows


def test_every_top_level_folder_and_package_is_on_the_tree() -> None:
    repo = Repository(PROJECT_ROOT)
    folders = {f.split("/")[0] for f in repo.files if "/" in f}
    on_page = {path.split("/")[0] for path in tree()}
    assert sorted(folders - on_page) == []


def test_every_model_export_job_package_is_on_the_tree() -> None:
    jobs = {
        f"{p.parent.relative_to(PROJECT_ROOT)}/"
        for p in (PROJECT_ROOT / "model_export").glob("*/__init__.py")
    }
    assert len(jobs) >= 4
    assert sorted(jobs - set(tree())) == []


def test_everything_the_tree_names_exists() -> None:
    named = tree()
    assert "models/marts/scoring/" in named and "model_export/compiler/assemblers/" in named
    missing = [p for p in named if not (PROJECT_ROOT / p).exists()]
    assert missing == []
    wrong_kind = [p for p in named if p.endswith("/") != (PROJECT_ROOT / p).is_dir()]
    assert wrong_kind == []


def test_the_dag_table_lists_every_model_with_its_folder_and_what_it_reads() -> None:
    table = dag_table()
    assert sorted(table) == sorted(models())
    for name, path in models().items():
        folder, _, read = table[name]
        assert folder == f"{path.parent.relative_to(PROJECT_ROOT)}/", name
        assert read == reads(path), name


def test_the_dag_section_names_only_models_and_sources() -> None:
    known = set(models()) | {s.split(".")[1] for s in sources()}
    section = _section("The dbt DAG")
    unknown = {
        name
        for name in _MODEL_LIKE.findall(section)
        if name not in known and not name.endswith("_vN")  # a per-version seed or macro
    }
    assert sorted(unknown) == []
    assert {f"`{s}`" for s in sources()} <= set(re.findall(r"`[\w.]+`", section))


def _dbt_ls(tmp_path: Path) -> list[dict]:
    """`dbt ls` of the repository's project; it parses the project without a database."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copyfile(PROJECT_ROOT / "profiles.example.yml", profiles / "profiles.yml")
    env = {
        **os.environ,
        "LOGML_PGHOST": "localhost",
        "LOGML_PGUSER": "nobody",
        "LOGML_PGDATABASE": "nothing",
        "DBT_PROFILES_DIR": str(profiles),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    dbt = shutil.which("dbt", path=os.path.dirname(sys.executable)) or "dbt"
    done = subprocess.run(
        [dbt, "ls", "--resource-type", "model", "--output", "json", "--quiet",
         "--output-keys", "name", "original_file_path", "depends_on", "config",
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_dbt_ls_tells_the_same_story(tmp_path: Path) -> None:
    table = dag_table()
    listed = _dbt_ls(tmp_path)
    assert sorted(node["name"] for node in listed) == sorted(table)
    for node in listed:
        folder, materialized, read = table[node["name"]]
        assert node["original_file_path"].startswith(folder), node["name"]
        assert node["config"]["materialized"] == materialized, node["name"]
        parents = {
            ".".join(n.split(".")[2:])
            for n in node["depends_on"]["nodes"]
            if n.startswith(("model.", "source."))
        }
        assert parents == read, node["name"]
