"""The redaction rules (vars of dbt_project.yml, macros/redaction.sql) as the database runs them,
on hostile inputs: every rule on an example of its secret, exactly (the secret goes, its key
and the rest of the line stay); secrets split across lines, header names in odd letter case,
Unicode spaces and full-width signs, very long lines, SQL that looks like an injection; no
change to ordinary lines, and on the real loghub samples only fields named `token`; the same
result when applied twice; a rule added in extra_redaction_rules works; a broken rule is
named before anything runs. This module tests the functions only, not that every endpoint and
the notifier call them."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml  # type: ignore[import-untyped]

from dbt_project.database import connect
from dbt_project.macros import render_macro
from dbt_project.migrations import REDACTION, migrate
from dbt_project.redaction import RedactionRulesError, load_redaction, redact
from dbt_project.vocabulary import PROJECT_FILE
from dev.pipeline import LOGHUB

GITHUB = "ghp_" + "A1b2C3d4E5" * 4  # 40 characters after the prefix
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq98\nProc-Type: 4,ENCRYPTED\n"
    "q1w2e3r4t5y6\n-----END RSA PRIVATE KEY-----"
)

# (input, exactly what must come out): one example of each shipped rule, then the hostile forms.
CASES = [
    (f"key {PEM} loaded", "key [REDACTED:private_key] loaded"),
    (
        "connect postgresql://app:s3cr%3Ft@db.internal:5432/app ok",
        "connect postgresql://app:[REDACTED:url_password]@db.internal:5432/app ok",
    ),
    (
        "GET /x Authorization: Bearer abc.def-ghi_jkl 200",
        "GET /x Authorization: Bearer [REDACTED:authorization_header] 200",
    ),
    (
        'headers {"Cookie": "session=abc123; theme=dark", "Accept": "*/*"}',
        'headers {"Cookie": [REDACTED:cookie], "Accept": "*/*"}',
    ),
    (
        "curl -H 'X: Bearer f00ba7f00ba7' https://api",
        "curl -H 'X: Bearer [REDACTED:bearer_token]' https://api",
    ),
    (f"jwt={JWT[:5]} sent {JWT} back", f"jwt={JWT[:5]} sent [REDACTED:jwt] back"),
    ("key AKIAIOSFODNN7EXAMPLE used", "key [REDACTED:aws_access_key_id] used"),
    (f"push with {GITHUB} done", "push with [REDACTED:github_token] done"),
    ("glpat-abcdefghij0123456789 ok", "[REDACTED:gitlab_token] ok"),
    (
        "posting to https://hooks.slack.com/services/T000/B000/XXXX and xoxb-1234567890-abcdef",
        "posting to [REDACTED:slack_token] and [REDACTED:slack_token]",
    ),
    ("charge with sk_live_4eC39HqLyjWDarjtT1zdp7dc", "charge with [REDACTED:stripe_key]"),
    ("maps AIzaSyA-1234567890abcdefghijklmnopqrstu", "maps [REDACTED:google_api_key]"),
    ("llm sk-proj-" + "x1" * 20 + " called", "llm [REDACTED:ai_api_key] called"),
    ("publish npm_" + "a" * 36 + " done", "publish [REDACTED:package_token] done"),
    ("client logml_" + "Ab3-_" * 8 + "xyz", "client [REDACTED:logml_api_token]"),
    (
        "login user=bob password=hunter2 from 10.0.0.1",
        "login user=bob password=[REDACTED:secret_field] from 10.0.0.1",
    ),
    # quoted values keep their spaces inside the secret; escaped JSON inside a JSON string
    (
        '{"password": "correct horse battery", "user": "x"}',
        '{"password": [REDACTED:secret_field], "user": "x"}',
    ),
    (
        '{\\"db_password\\":\\"hunter2\\",\\"u\\":1}',
        '{\\"db_password\\":[REDACTED:secret_field],\\"u\\":1}',
    ),
    ("Password=Sup3r;Host=db;", "Password=[REDACTED:secret_field];Host=db;"),
    ("conf {:api_key => 'k-123'}", "conf {:api_key => [REDACTED:secret_field]}"),
    # header names in odd letter case
    ("AUTHORIZATION: bEaReR abc.def", "AUTHORIZATION: bEaReR [REDACTED:authorization_header]"),
    ("x-API-KEY: 12345abcde", "x-API-KEY: [REDACTED:secret_field]"),
    (
        "proxy-authorization: BASIC dXNlcjpwYXNz",
        "proxy-authorization: BASIC [REDACTED:authorization_header]",
    ),
    ("Set-COOKIE: sid=1; HttpOnly", "Set-COOKIE: [REDACTED:cookie]"),
    # split across lines: a key at a line's end, a header folded, a key block
    ("password=\r\n    hunter2 next", "password=\r\n    [REDACTED:secret_field] next"),
    (
        "Authorization:\n   Bearer abcdefgh12345",
        "Authorization:\n   Bearer [REDACTED:authorization_header]",
    ),
    # a JWT whose signature wrapped onto the next line: the header and payload still go
    (
        f"{JWT.rsplit('.', 1)[0]}\n.{JWT.rsplit('.', 1)[1]}",
        f"[REDACTED:jwt]\n.{JWT.rsplit('.', 1)[1]}",
    ),
    # a key block cut short (by the 500-character message of ml_predictions): to the end
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdj", "[REDACTED:private_key]"),
    # Unicode: no-break and ideographic spaces, a zero-width space, full-width signs, accents
    (
        "Authorization:\u00a0Bearer\u3000abcdefgh99",
        "Authorization:\u00a0Bearer\u3000[REDACTED:authorization_header]",
    ),
    ("password=\u200bhunter2", "password=\u200b[REDACTED:secret_field]"),
    ("password\uff1ahunter2 next", "password\uff1a[REDACTED:secret_field] next"),
    ("secret\uff1d\u00fcber-geheim!", "secret\uff1d[REDACTED:secret_field]"),
    ("password=p\u00e4ssw\u00f6rd\u2603 ok", "password=[REDACTED:secret_field] ok"),
    # a key spelled with a Cyrillic letter is no key, but a secret of a known form still goes
    (f"p\u0430ssword={GITHUB}", "p\u0430ssword=[REDACTED:github_token]"),
    # text that looks like SQL is text
    (
        "'; drop table ml.ml_predictions; -- password='x' or 1=1 --",
        "'; drop table ml.ml_predictions; -- password=[REDACTED:secret_field] or 1=1 --",
    ),
    (
        "$$; select pg_sleep(10); $$ \\1 [REDACTED:x] %s",
        "$$; select pg_sleep(10); $$ \\1 [REDACTED:x] %s",
    ),
]

# Ordinary lines, including the words the rules look for used as words: unchanged.
ORDINARY = [
    "GET /api/v1/items 200 in 12ms",
    "token count is 5, tokens: 7, max_tokens=5",
    "secretary=Alice, the bearer of bad news, basic information",
    "The passwd file was rotated; author=jane",
    "commit 3f9a1c2d4e5f60718293a4b5c6d7e8f901234567 by 550e8400-e29b-41d4-a716-446655440000",
    "http://localhost:3000/@fs/src/main.ts and mailto:ops@example.com",
    "session ended after 30s; sessions=12",
    "",
]


@pytest.fixture(scope="module")
def conn(module_db: str) -> Iterator[psycopg.Connection]:
    with connect(module_db) as connection:
        migrate(connection)  # makes the functions from the shipped rules
        yield connection


def test_every_shipped_rule_has_an_example_here() -> None:
    named = {name for _, out in CASES for name in _markers(out)}
    shipped = {rule["name"] for rule in load_redaction()["rules"]}
    assert shipped <= named, f"rules without an example in CASES: {sorted(shipped - named)}"


def _markers(text: str) -> list[str]:
    return [part.split("]", 1)[0] for part in text.split("[REDACTED:")[1:]]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[1][:40] for c in CASES])
def test_the_secret_goes_and_the_rest_stays(
    conn: psycopg.Connection, text: str, expected: str
) -> None:
    assert redact(conn, [text]) == [expected]


def test_redacting_twice_changes_nothing_more(conn: psycopg.Connection) -> None:
    once = redact(conn, [text for text, _ in CASES])
    assert redact(conn, once) == once


def test_ordinary_lines_and_null_are_unchanged(conn: psycopg.Connection) -> None:
    assert redact(conn, [*ORDINARY, None]) == [*ORDINARY, None]


def test_the_real_loghub_lines_only_lose_fields_named_token(conn: psycopg.Connection) -> None:
    """The false positives on real logs, measured: the rules' keywords are Datadog's kind of
    trade-off (a field named `token` is redacted whatever it holds)."""
    lines = [
        line.rstrip("\n")
        for path in sorted(LOGHUB.glob("*/*.log"))
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
    ]
    assert len(lines) >= 20_000
    changed = [
        (before, after)
        for before, after in zip(lines, redact(conn, lines), strict=True)
        if before != after
    ]
    assert all(_markers(after) and set(_markers(after)) == {"secret_field"} for _, after in changed)
    assert all("token" in before.lower() for before, _ in changed)
    print(f"\n[redaction] loghub: {len(changed)} of {len(lines)} lines changed, all `token` fields")
    assert len(changed) <= 10


def test_very_long_lines_stay_linear(conn: psycopg.Connection) -> None:
    huge = "x" * 1_000_000 + " password=hunter2"
    many_keys = "password=" * 100_000
    near_misses = ("ghp_" + "a" * 20 + " ") * 40_000
    started = time.perf_counter()
    out = redact(conn, [huge, many_keys, near_misses])
    elapsed = time.perf_counter() - started
    assert out[0] == "x" * 1_000_000 + " password=[REDACTED:secret_field]"
    assert "hunter2" not in out[0] and out[2] == near_misses
    assert elapsed < 10, f"{elapsed:.1f} s for 3 MB of text"


def test_a_rule_in_extra_redaction_rules_joins_the_shipped_ones(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    variables = yaml.safe_load(PROJECT_FILE.read_text(encoding="utf-8"))
    variables["vars"]["extra_redaction_rules"] = [
        {"name": "employee_id", "about": "ours", "secret": "EMP-[0-9]{6}"},
        {"name": "pin", "keep": "pin{assign}", "secret": "[0-9]{4}", "ignore_case": True},
    ]
    project = tmp_path / "dbt_project.yml"
    project.write_text(yaml.safe_dump(variables), encoding="utf-8")
    rules = load_redaction(project)
    conn.execute("create schema if not exists extra_rules")
    conn.execute(
        render_macro(
            [REDACTION],
            "logml_redaction_functions",
            "extra_rules",
            rules["rules"],
            rules["placeholders"],
        )  # fmt: skip
    )
    found = conn.execute(
        "select extra_rules.logml_redact(%s)", ("EMP-123456 set PIN: 1234, password=x",)
    ).fetchone()
    assert found == (
        "[REDACTED:employee_id] set PIN: [REDACTED:pin], password=[REDACTED:secret_field]",
    )


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"name": "x", "secret": "{valeu}"}, "{valeu}"),
        ({"name": "X-1", "secret": "a"}, "name must be"),
        ({"name": "x"}, "needs a secret"),
        ({"name": "x", "secret": "a", "ignorecase": True}, "unknown keys ['ignorecase']"),
        ({"name": "private_key", "secret": "a"}, "must differ: ['private_key']"),
    ],
)
def test_a_broken_rule_is_named_before_anything_runs(
    tmp_path: Path, rule: dict[str, object], message: str
) -> None:
    variables = yaml.safe_load(PROJECT_FILE.read_text(encoding="utf-8"))
    variables["vars"]["extra_redaction_rules"] = [rule]
    project = tmp_path / "dbt_project.yml"
    project.write_text(yaml.safe_dump(variables), encoding="utf-8")
    with pytest.raises(RedactionRulesError, match=re.escape(message)):
        load_redaction(project)


def test_a_pattern_the_database_cannot_compile_fails_by_the_rules_name(
    conn: psycopg.Connection,
) -> None:
    broken = [{"name": "unbalanced", "secret": "abc("}]
    conn.execute("create schema if not exists extra_rules")
    with pytest.raises(psycopg.errors.RaiseException, match="redaction rule unbalanced"):
        conn.execute(
            render_macro([REDACTION], "logml_redaction_functions", "extra_rules", broken, {})
        )
