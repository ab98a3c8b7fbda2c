{#
  on-run-end: the read-only role the API connects through. `logml_reader` (NOLOGIN) may use
  the output schema and SELECT the output tables, the model registry and the digests of the
  API's tokens (to check a presented token), nothing else. When the var
  create_api_login is true (the default, meant for the embedded and development databases) a
  LOGIN role `logml_api` that is a member of it is created too; production sets it false and
  grants logml_reader to a role of its own. Tables not built yet are skipped, so a partial
  `dbt build -s ...` still succeeds; the next full build grants them. A dbt user without
  CREATEROLE gets a warning instead of a failed build: create the role once by hand.
#}
{% macro grant_reader_role() %}
    {%- set ready = execute and adapter.check_schema_exists(target.database, target.schema) -%}
    {%- if not ready -%}{{ return('') }}{%- endif -%}
    {#- the tables of the schema migrations (macros/schema_migrations.sql) are in the list:
        they may have been created before this role was -#}
    {%- set tables = [
        'ml_predictions', 'ml_stats_hourly', 'ml_stats_windows', 'ml_status',
        'ml_status_by_version', 'ml_model_health', 'ml_drift', 'ml_model_registry', 'ml_alerts',
        'ml_model_comparison', 'ml_model_versions', 'ml_log_freshness', 'ml_alert_deliveries',
        'ml_detector_template_history', 'ml_detector_service_history', 'ml_template_labels',
        'ml_api_tokens', 'ml_response_times_hourly'
    ] -%}
    {%- set existing = [] -%}
    {%- for table in tables -%}
        {%- if adapter.get_relation(target.database, target.schema, table) is not none -%}
            {%- do existing.append(table) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set statements -%}
        {#- grants of overlapping runs would collide ("tuple concurrently updated") -#}
        select pg_advisory_xact_lock(hashtext('logml.grants'));
        do $$
        begin
            {{ create_role_if_missing('logml_reader', 'nologin') }}
            {% if var('create_api_login') -%}
            {{ create_role_if_missing('logml_api', 'login in role logml_reader') }}
            {{ reader_search_path('logml_api') }}
            {%- endif %}
            if exists (select from pg_roles where rolname = 'logml_reader') then
                grant usage on schema {{ target.schema }} to logml_reader;
                {% for table in existing -%}
                grant select on {{ target.schema }}.{{ table }} to logml_reader;
                {% endfor %}
                {%- if citus_enabled() %}
                {#- Citus runs the shard queries under a view as the caller, not as the view's
                    owner: the API's views (ml_log_freshness, ml_model_versions, ml_status) need
                    the caller to read what they read (docs/internals/scale.md) -#}
                grant select on {{ citus_log_source() }} to logml_reader;
                if to_regclass('{{ target.schema }}.ml_model_deployments') is not null then
                    grant select on {{ target.schema }}.ml_model_deployments to logml_reader;
                end if;
                {%- endif %}
            end if;
        end $$;
    {%- endset -%}
    {% do run_query(statements) %}
    {{ return('') }}
{% endmacro %}

{#- A statement inside the DO block above: create the role unless it exists or may not. -#}
{% macro create_role_if_missing(name, options) %}
    if not exists (select from pg_roles where rolname = '{{ name }}') then
        begin
            create role {{ name }} {{ options }};
        exception
            when duplicate_object or unique_violation then null;
            when insufficient_privilege then
                raise warning 'logml: no CREATEROLE privilege, create role {{ name }} by hand';
        end;
    end if;
{% endmacro %}

{#
  post-hook of the marts: a table rebuilt by dbt is a new relation without the reader's grant.
  Granting inside the model's own transaction makes the swap and the grant commit together,
  so the API never sees a table it may not read (on-run-end alone would leave that gap for
  the whole build). Does nothing until grant_reader_role has created the role.
#}
{% macro grant_reader_select(relation) %}
    do $$
    begin
        if exists (select from pg_roles where rolname = 'logml_reader') then
            perform pg_advisory_xact_lock(hashtext('logml.grants'));
            grant select on {{ relation }} to logml_reader;
        end if;
    end $$
{% endmacro %}

{#
  Plain SQL as users type it (`select count(*) from ml_predictions`) works for the login role:
  the output schema comes first on its search path in this database. A role that a user grants
  logml_reader to instead sets it once: alter role ROLE set search_path = ml, public (with the
  output schema, LOGML_SCHEMA, in place of ml).
#}
{% macro reader_search_path(name) %}
    if exists (select from pg_roles where rolname = '{{ name }}') then
        begin
            alter role {{ name }} in database {{ adapter.quote(target.database) }}
                set search_path = {{ target.schema }}, public;
        exception
            when insufficient_privilege then
                raise warning 'logml: cannot set the search_path of {{ name }}';
        end;
    end if;
{% endmacro %}
