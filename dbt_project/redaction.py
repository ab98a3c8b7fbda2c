"""The redaction rules, read from the vars of dbt_project.yml (redaction_rules,
extra_redaction_rules, redaction_placeholders; docs/concepts/redaction.md) and checked, and
`redact`: texts through the database's logml_redact.

The rules run in one place only, the SQL function that the schema migrations make from them
(macros/redaction.sql): the API calls it inside its queries, and Python code that sends text
out (the notifier) calls it through `redact`, so a text is redacted the same way wherever it
goes. This module only checks what a user wrote, so that a mistake is named before any SQL
runs."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from dbt_project.errors import InputError
from dbt_project.settings import load_settings
from dbt_project.vocabulary import PROJECT_FILE, project_vars

RULE_VARS = ("redaction_rules", "extra_redaction_rules")
PLACEHOLDER_VAR = "redaction_placeholders"
# A rule's name goes into the marker [REDACTED:name] and into SQL text.
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_FIELDS = {"name": str, "secret": str, "keep": str, "ignore_case": bool, "about": str}


class RedactionRulesError(InputError):
    """A redaction rule or placeholder in dbt_project.yml that cannot work (the message names
    it)."""


def load_redaction(path: Path = PROJECT_FILE) -> dict[str, Any]:
    """{"rules": [...], "placeholders": {...}} as macros/redaction.sql takes them: the rules of
    both vars in order, each checked."""
    variables = project_vars(path)
    placeholders = variables.get(PLACEHOLDER_VAR) or {}
    if not isinstance(placeholders, dict) or not all(
        isinstance(name, str) and _NAME.fullmatch(name) and isinstance(body, str)
        for name, body in placeholders.items()
    ):
        raise RedactionRulesError(
            f"{path}: vars.{PLACEHOLDER_VAR} must map lowercase names to pattern text"
        )
    rules: list[dict[str, Any]] = []
    for var in RULE_VARS:
        found = variables.get(var) or []
        if not isinstance(found, list):
            raise RedactionRulesError(f"{path}: vars.{var} must be a list of rules")
        for position, rule in enumerate(found):
            rules.append(_checked(f"{path}: vars.{var}[{position}]", rule, placeholders))
    names = [rule["name"] for rule in rules]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise RedactionRulesError(f"{path}: redaction rule names must differ: {repeated}")
    return {"rules": rules, "placeholders": placeholders}


def _checked(where: str, rule: object, placeholders: dict[str, str]) -> dict[str, Any]:
    if not isinstance(rule, dict):
        raise RedactionRulesError(f"{where} must be a mapping with a name and a secret")
    unknown = sorted(set(rule) - set(_FIELDS))
    if unknown:
        raise RedactionRulesError(f"{where}: unknown keys {unknown}; a rule has {list(_FIELDS)}")
    wrong = [key for key, value in rule.items() if not isinstance(value, _FIELDS[key])]
    if wrong:
        raise RedactionRulesError(f"{where}: {', '.join(wrong)} of the wrong type")
    name = rule.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RedactionRulesError(f"{where}: name must be lowercase letters, digits and _")
    if not rule.get("secret"):
        raise RedactionRulesError(f"{where} ({name}): needs a secret pattern")
    for key in ("keep", "secret"):
        missing = set(_PLACEHOLDER.findall(rule.get(key, ""))) - set(placeholders)
        if missing:
            raise RedactionRulesError(
                f"{where} ({name}): {key} uses "
                f"{', '.join('{' + each + '}' for each in sorted(missing))},"
                f" which vars.{PLACEHOLDER_VAR} does not define"
            )
    return dict(rule)


def redact(conn: psycopg.Connection, texts: Sequence[str | None]) -> list[str | None]:
    """Each of `texts` through logml_redact of the output schema, in order (one round trip);
    None stays None."""
    return _through(conn, "logml_redact", "text", list(texts))


def redact_json(
    conn: psycopg.Connection, documents: Sequence[dict[str, Any] | None]
) -> list[dict[str, Any] | None]:
    """Each of `documents` through logml_redact_json (every string inside it redacted), in
    order (one round trip); None stays None."""
    texts = [None if document is None else json.dumps(document) for document in documents]
    return _through(conn, "logml_redact_json", "jsonb", texts)


def _through(conn: psycopg.Connection, function: str, kind: str, values: list[Any]) -> list[Any]:
    query = sql.SQL(
        "select {}(item.value) from unnest(%s::{}[]) with ordinality as item (value, n)"
        " order by item.n"
    ).format(sql.Identifier(load_settings().logml_schema, function), sql.SQL(kind))
    return [row[0] for row in conn.execute(query, (values,)).fetchall()]
