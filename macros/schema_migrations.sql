{#
  The tables in the output schema that are not dbt models, because people and commands write
  them and no dbt run may rebuild them: the model registry and its deployment history
  (model_export), the template labels (users), the alert deliveries (the notifier) and the
  loader's bookkeeping (ingest). This file is their one owner. Every dbt invocation applies the
  migrations (on-run-start: logml_migrate), and so does every command that touches the
  database, before anything else (dbt_project/migrations.py renders this same macro with
  jinja2), so either may be the first to meet a new or an upgraded database.

  logml_schema_migrations(schema, source_schema, source, redaction) is one SQL script: under an
  advisory lock it applies, in order, each migration not yet recorded in
  <schema>.logml_schema_migrations and records it (id, name, applied_at); the highest recorded
  id is the schema version. A
  migration is never edited once released: a change is a new migration at the end of the list.
  Each one is plain PL/pgSQL (it runs inside one DO block) and needs nothing of dbt's context.
  Then, every time, it (re)creates the redaction functions (macros/redaction.sql) from
  `redaction`, the rules and placeholders of the vars of dbt_project.yml: a repeatable step,
  since the rules may change between runs.
#}
{% macro logml_schema_migrations(schema, source_schema, source, redaction) %}
{%- set migrations = [
    (1, 'tables of people and commands', logml_migration_1(schema)),
    (2, 'loader bookkeeping in the output schema', logml_migration_2(schema, source_schema)),
    (3, 'shipped model versions told apart', logml_migration_3(schema)),
    (4, 'API tokens', logml_migration_4(schema)),
    (5, 'bring-your-own models beside the default pair', logml_migration_5(schema)),
    (6, 'the log source of each model version', logml_migration_6(schema, source)),
] -%}
select pg_advisory_xact_lock(hashtext('logml.schema_migrations'));
do $migrations$
begin
    if to_regnamespace('{{ schema }}') is null then
        create schema {{ schema }};
    end if;
    if to_regclass('{{ schema }}.logml_schema_migrations') is null then
        create table {{ schema }}.logml_schema_migrations (
            id integer primary key,
            name text not null,
            applied_at timestamptz not null default now()
        );
    end if;
{%- for id, name, body in migrations %}
    if not exists (select from {{ schema }}.logml_schema_migrations where id = {{ id }}) then
        {{- body | indent(8) }}
        insert into {{ schema }}.logml_schema_migrations (id, name) values ({{ id }}, '{{ name }}');
    end if;
{%- endfor %}
end
$migrations$;
{{ logml_redaction_functions(schema, redaction.rules, redaction.placeholders) }}
{% endmacro %}

{#- on-run-start: the migrations of dbt's output schema, for the configured log source. -#}
{% macro logml_migrate() %}
    {%- set configured = log_source() -%}
    {{ logml_schema_migrations(
        target.schema,
        configured.schema,
        configured.identity,
        {
            'rules': var('redaction_rules') + var('extra_redaction_rules'),
            'placeholders': var('redaction_placeholders'),
        },
    ) }}
{% endmacro %}

{#- 1: the tables as the release before migrations left them (each created only if missing,
    so a database built by it upgrades in place; its registries may predate is_challenger). -#}
{% macro logml_migration_1(schema) %}
-- the model registry: one row per (model_version, model_name), never overwritten
create table if not exists {{ schema }}.ml_model_registry (
    model_version text not null,
    model_name text not null,
    trained_at timestamptz not null,
    training_rows bigint not null,
    window_start timestamptz,
    window_end timestamptz,
    sklearn_version text not null,
    metrics jsonb not null,
    artifact_path text not null,
    is_active boolean not null,
    primary key (model_version, model_name)
);
alter table {{ schema }}.ml_model_registry
    add column if not exists is_challenger boolean not null default false;
-- every role change, append-only (rollback reads it)
create table if not exists {{ schema }}.ml_model_deployments (
    deployed_at timestamptz not null default clock_timestamp(),
    action text not null,
    model_version text,
    previous_version text
);
-- one label per log template, filled by users for the next export
create table if not exists {{ schema }}.ml_template_labels (
    template_hash text primary key,
    is_anomaly boolean not null,
    example_message text not null,
    note text,
    labelled_at timestamptz not null default now()
);
comment on table {{ schema }}.ml_template_labels is
    'One label per log template (md5 of log_template, as ml_predictions.template_hash),'
    ' used by the next model export: python -m model_export label, or plain SQL';
-- each alert the notifier tried to send; delivered_at stays NULL while it is pending
create table if not exists {{ schema }}.ml_alert_deliveries (
    alert_key text primary key,
    alert_kind text not null,
    attempts integer not null,
    first_attempt_at timestamptz not null,
    last_attempt_at timestamptz not null,
    http_status integer,
    last_error text,
    delivered_at timestamptz
);
-- the API reads these (the role exists once a dbt run made it; that run grants them too)
if exists (select from pg_roles where rolname = 'logml_reader') then
    perform pg_advisory_xact_lock(hashtext('logml.grants'));  -- as dbt's grants do
    grant select on {{ schema }}.ml_model_registry, {{ schema }}.ml_template_labels,
        {{ schema }}.ml_alert_deliveries to logml_reader;
end if;
-- on a Citus coordinator the registry is a pair of reference tables (a copy on every node),
-- like the other lookup tables the marts join (docs/internals/scale.md)
if exists (select from pg_extension where extname = 'citus') then
    perform create_reference_table(t.name)
    from unnest(array[
        '{{ schema }}.ml_model_registry', '{{ schema }}.ml_model_deployments'
    ]) as t (name)
    where not exists (select from pg_dist_partition where logicalrelid = t.name::regclass);
end if;
{% endmacro %}

{#- 2: the loader's record of each load and of each rejected line, which the release before
    kept beside the source table, moves (with its rows) into the output schema. -#}
{% macro logml_migration_2(schema, source_schema) %}
if to_regclass('{{ schema }}.log_loads') is null
    and to_regclass('{{ source_schema }}.log_loads') is not null then
    alter table {{ source_schema }}.log_loads set schema {{ schema }};
end if;
if to_regclass('{{ schema }}.log_load_rejects') is null
    and to_regclass('{{ source_schema }}.log_load_rejects') is not null then
    alter table {{ source_schema }}.log_load_rejects set schema {{ schema }};
end if;
create table if not exists {{ schema }}.log_loads (
    load_id uuid primary key,
    command text not null,
    sources text[] not null,
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    rows_read bigint,
    rows_loaded bigint,
    rows_rejected bigint,
    unknown_levels bigint,
    reject_counts jsonb
);
create table if not exists {{ schema }}.log_load_rejects (
    load_id uuid not null,
    source text not null,
    line_number bigint,
    reason text not null,
    detail text,
    excerpt text,
    loaded_at timestamptz not null default now()
);
{% endmacro %}

{#- 3: a version registered from the model card it came with (trained elsewhere, at its
    trained_at) is told apart from one trained here. -#}
{% macro logml_migration_3(schema) %}
alter table {{ schema }}.ml_model_registry
    add column if not exists shipped boolean not null default false;
{% endmacro %}

{#- 4: the API's tokens (python -m api tokens create|list|revoke), stored as SHA-256 digests:
    a token is 256 random bits, so a digest cannot be turned back into it and a fast hash is
    enough (a slow one protects guessable passwords). The API's role reads the digests to
    check a presented token; a name is unique among the tokens not revoked. -#}
{% macro logml_migration_4(schema) %}
create table if not exists {{ schema }}.ml_api_tokens (
    token_id bigint generated always as identity primary key,
    name text not null,
    token_sha256 text not null unique,
    created_at timestamptz not null default now(),
    created_by text not null default current_user,
    expires_at timestamptz,
    revoked_at timestamptz
);
create unique index if not exists ml_api_tokens_name_uidx
    on {{ schema }}.ml_api_tokens (name) where revoked_at is null;
comment on table {{ schema }}.ml_api_tokens is
    'Tokens of the API (python -m api tokens): SHA-256 digests, never the tokens themselves';
if exists (select from pg_roles where rolname = 'logml_reader') then
    perform pg_advisory_xact_lock(hashtext('logml.grants'));
    grant select on {{ schema }}.ml_api_tokens to logml_reader;
end if;
{% endmacro %}

{#- 5: a version is either one of the default pair's (model_kind 'default': the level
    classifier and the anomaly detector that score ml_predictions) or a bring-your-own model's
    (model_kind 'byo', model_name the model's name), each kind and model with roles of its own;
    a bring-your-own model does not say how many rows it was trained on. -#}
{% macro logml_migration_5(schema) %}
alter table {{ schema }}.ml_model_registry
    add column if not exists model_kind text not null default 'default';
alter table {{ schema }}.ml_model_registry
    add constraint ml_model_registry_model_kind_check check (model_kind in ('default', 'byo'));
alter table {{ schema }}.ml_model_registry alter column training_rows drop not null;
{% endmacro %}

{#- 6: each version records the log source it was trained on and scores (schema.table.id
    column: macros/log_source.sql). The versions of a database built before it were trained on
    the one source that database was configured with, which is the source configured when it
    upgrades (docs/your-table.md: upgrade first, switch after). -#}
{% macro logml_migration_6(schema, source) %}
alter table {{ schema }}.ml_model_registry add column if not exists log_source text;
update {{ schema }}.ml_model_registry
set log_source = '{{ source | replace("'", "''") }}'
where log_source is null;
{% endmacro %}
