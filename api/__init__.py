"""Read-only HTTP API and dashboard over the tables that dbt builds in the output schema
(LOGML_SCHEMA, default `ml`).

Framework: FastAPI (on Starlette). The API is a handful of GET endpoints whose parameters must
all be validated before any SQL runs and whose contract must be published as OpenAPI (the
schemathesis test reads it). FastAPI derives both from the typed signatures, so the validation,
the docs and the code cannot drift apart; plain Starlette would need all three written by hand.
Database access is psycopg 3's async pool: one event loop, no thread per request, prepared
statements reused across requests.
"""
