"""Seeds hold every value exactly as written, whatever it reads like: text that a CSV reader
could take for a null, a boolean, a number or an empty cell, or that holds quotes, commas,
backslashes, line breaks or non-ASCII letters. Checked through the real `dbt seed` and through
verify's loader; a text model whose vocabulary holds such terms scores the same in SQL as its
joblib Pipeline (1e-9) on seeds loaded both ways; and `verify` is exact for a version trained
on one loghub system whose vocabulary holds `null`, scoring every other system through dbt."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jinja2
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from dbt_project.database import connect
from dev.pipeline import LOGHUB, cli, dbt, export, model_export, project_copy
from model_export.compiler import ir
from model_export.compiler.interpreters.postgresql import seed_relation
from model_export.compiler.pipeline import Compiled, compile_pipeline
from model_export.compiler.project_files import rendered_files, write_files
from model_export.lifecycle.verify import load_seeds, text_reference, verify_macro
from model_export.training.data import ensure_staging, read_stg

# Cells readers turn into NULL, booleans or numbers, or split, unquote or unescape.
TRICKY = [
    *("null", "NULL", "Null", " null ", "none", "None", "na", "NA", "n/a", "N/A", "nan", "NaN"),
    *("-nan", "nil", "#N/A", "<NA>", ".", "", " ", "  padded  ", "\t"),
    *("true", "false", "True", "FALSE", "yes", "no", "y", "n", "on", "off"),
    *("0", "1", "-1", "1.0", "1e5", "1E-5", "0x1f", "007", "inf", "-Infinity", "2026-01-01"),
    *('"', "'", '""', "a,b", ",", "a;b", "\\", "\\N", "back\\slash", "line\nbreak", "cr\rlf\r\n"),
    *("hex:", "hex:6e756c6c", "HEX:00", "café", "naïve", "日本語", "straße", "emoji 😀"),
]
# Terms a text model can learn (the default analyzer keeps runs of >= 2 word characters).
TERMS = [
    *("null", "NULL", "Null", "none", "None", "na", "NA", "nan", "NaN", "nil"),
    *("true", "false", "True", "FALSE", "yes", "no", "on", "off"),
    *("00", "10", "1e5", "1E5", "0x1f", "007", "inf", "Infinity"),
    *("café", "naïve", "日本語", "straße", "hex"),
]


def _read(url: str, seed: ir.Seed, schema: str) -> list[str]:
    relation = jinja2.Template(seed_relation(seed)).render(ref=lambda name: f"{schema}.{name}")
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"select term from {relation} as s order by feature_index")
        return [row[0] for row in cur.fetchall()]


def test_every_text_cell_loads_as_written(module_db: str, dbt_project_copy: Path) -> None:
    rows = tuple((value, index) for index, value in enumerate(TRICKY))
    seed = ir.Seed(
        "ml_tricky_vtest", (("term", ir.DType.TEXT), ("feature_index", ir.DType.INT)), rows
    )
    assert seed.escaped_columns() == ("term",)
    write_files(dbt_project_copy, rendered_files([Compiled("ml_none", "select 1", [seed])]))
    dbt(dbt_project_copy, module_db, "seed", "--select", seed.name)
    assert _read(module_db, seed, "ml") == TRICKY
    with connect(module_db) as conn:
        load_seeds(conn, dbt_project_copy, "ml_tricky")
    assert _read(module_db, seed, "ml_tricky") == TRICKY


@pytest.fixture(scope="module")
def tricky_logs(
    module_db: str, dbt_project_copy: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """Log lines made of the tricky terms, some seen in training, loaded by the loader."""
    path = tmp_path_factory.mktemp("tricky") / "tricky.jsonl"
    levels = ("INFO", "WARN", "ERROR")
    with path.open("w", encoding="utf-8") as out:
        for i in range(300):
            words = [TERMS[(i * k + k) % len(TERMS)] for k in (1, 3, 7)]
            level = levels[i % 3]
            line = {
                "timestamp": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z",
                "level": level,
                "service": "tricky",
                "message": f"{' '.join(words)} {level.lower()}{i % 5} ok",
            }
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    cli(module_db, "ingest", "create-source")
    cli(module_db, "ingest", "jsonl", str(path))
    with connect(module_db) as conn:
        ensure_staging(conn, dbt_project_copy)
    return module_db


@pytest.mark.slow
def test_text_model_with_tricky_vocabulary_is_exact(
    tricky_logs: str, dbt_project_copy: Path
) -> None:
    url, project = tricky_logs, dbt_project_copy
    with connect(url) as conn:
        frame = read_stg(conn, where="service = 'tricky'")
    train = frame.iloc[:200]
    model = Pipeline(
        [
            ("tfidf", TfidfVectorizer(lowercase=False, norm=None)),
            ("classifier", LogisticRegression(C=10.0, max_iter=2000)),
        ]
    ).fit(train["message"].tolist(), train["level"].to_numpy())
    vocabulary = set(model[0].vocabulary_)
    assert set(TERMS) <= vocabulary, set(TERMS) - vocabulary
    compiled = compile_pipeline(model, "ml_tricky_text")
    write_files(project, rendered_files([compiled]))
    (seed,) = compiled.seeds
    assert "term" in seed.escaped_columns()
    dbt(project, url, "seed", "--select", seed.name)
    with connect(url) as conn:
        load_seeds(conn, project)
        scored = {
            schema: verify_macro(
                conn, project, "ml_tricky_text", model, text_reference, "service = 'tricky'", schema
            )
            for schema in ("ml", "ml_verify")  # as dbt loaded it, as verify loads it
        }
    for schema, results in scored.items():
        assert results
        for result in results:
            assert result.rows == len(frame)
            assert result.exact, f"{schema}: {result.line()}"


@pytest.mark.slow
def test_verify_is_exact_for_a_version_trained_on_one_system(
    make_database: Callable[[str], str], tmp_path: Path
) -> None:
    """Android's lines hold the word `null`: trained on Android alone, the version's
    vocabulary seed has that term; every loghub system is then scored by dbt."""
    url, project = make_database("one_system"), project_copy(tmp_path / "project")
    cli(url, "ingest", "create-source")
    cli(url, "ingest", "loghub", str(LOGHUB / "Android"))
    export(url, project)
    vocabulary = project / "seeds" / "generated" / "v1" / "ml_level_classifier_vocabulary_v1.csv"
    terms = [line.split(",", 1)[0] for line in vocabulary.read_text().splitlines()]
    assert ir.seed_text("null") in terms
    others = sorted(p for p in LOGHUB.iterdir() if p.is_dir() and p.name != "Android")
    cli(url, "ingest", "loghub", *[str(p) for p in others])
    dbt(project, url, "build")
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) - count(term) from ml.ml_level_classifier_vocabulary_v1")
        assert cur.fetchone()[0] == 0
        cur.execute("select count(*) from ml.ml_predictions")
        assert cur.fetchone()[0] == 2000 * (len(others) + 1)
    for options in (("--rows", "0"), ("--rows", "0", "--from-predictions")):
        out = model_export(url, project, "verify", *options)
        assert out.splitlines()[-1] == "EXACT", out
