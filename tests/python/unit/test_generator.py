"""The built-in log generator, without a database: deterministic for a seed and a window end."""

from __future__ import annotations

from datetime import UTC, datetime

from ingest.generator import GeneratorSpec, generate_copy_chunks

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _text(spec: GeneratorSpec) -> str:
    return "".join(text for _, text in generate_copy_chunks(spec))


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    spec = GeneratorSpec(rows=12_000, seed=7, end=END)
    first = _text(spec)
    assert first == _text(GeneratorSpec(rows=12_000, seed=7, end=END))
    other = _text(GeneratorSpec(rows=12_000, seed=8, end=END))
    assert other != first
    assert first.count("\n") == other.count("\n") == 12_000
