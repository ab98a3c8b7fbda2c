{#
  Which model versions score, described once. ml_scoring_versions() returns a list of dicts,
  the active version first, then the challenger if there is one:
      {'role': 'active' or 'challenger', 'version': 'v3',
       'log_source': the source it was trained on and scores (macros/log_source.sql),
       'scorer': the macro ml_score_v3 (call it through ml_score below),
       'frequency_seed': 'ml_template_frequency_v3' (the seed of its template frequencies),
       'templates': its learned-template seeds, none for template version 1}
  Versions are plain names; SQL quotes them where it renders them ('{{ entry.version }}').
  The compiled versions come from macros/generated/ml_versions.sql (written by model_export);
  the roles from the registry (ml_model_roles_sql, macros/model_roles.sql; model_export export /
  activate / rollback / promote / challenger change them; nothing here retrains), read when a
  model runs, so the next run after a role change scores with the new roles.
  While dbt parses (execute is false) the registry is not read: every compiled version is
  listed, the newest as 'active' and the others as 'compiled', so that a model rendering each
  entry's scorer makes dbt record every seed the versions ref.
  A version scores only the log source it was trained on: an active version trained on
  another source than the configured one stops the run here (nothing is scored, never the
  wrong table); a challenger trained on another source is left out, and the log says so.
#}
{% macro ml_scoring_versions() %}
    {%- set compiled = ml_compiled_versions() -%}
    {%- if not execute -%}
        {%- set listed = [] -%}
        {%- for entry in compiled | reverse -%}
            {%- do listed.append(ml_version_entry('active' if loop.first else 'compiled', entry)) -%}
        {%- endfor -%}
        {{ return(listed) }}
    {%- endif -%}
    {%- set by_version = {} -%}
    {%- for entry in compiled -%}{%- do by_version.update({entry.version: entry}) -%}{%- endfor -%}
    {%- set registry = source('registry', 'ml_model_registry') -%}
    {%- if adapter.get_relation(registry.database, registry.schema, registry.identifier) is none -%}
        {{ exceptions.raise_compiler_error(
            "no model registry (" ~ registry ~ "): train and export a model first: make export-model"
        ) }}
    {%- endif -%}
    {%- set found = run_query(ml_model_roles_sql(registry)) -%}
    {%- set active, challenger = found.rows[0][0], found.rows[0][1] -%}
    {%- set trained_on = {} -%}
    {%- for row in run_query(
        "select model_version, max(log_source) from " ~ registry ~ " where is_active or is_challenger"
        ~ " group by model_version"
    ).rows -%}
        {%- do trained_on.update({row[0]: row[1]}) -%}
    {%- endfor -%}
    {%- set configured = log_source().identity -%}
    {%- if active is none -%}
        {{ exceptions.raise_compiler_error(
            "no active model version in " ~ registry ~ ": make export-model, or make activate VERSION=vN"
        ) }}
    {%- endif -%}
    {%- if active not in by_version -%}
        {{ exceptions.raise_compiler_error(
            "model version " ~ active ~ " is active in " ~ registry ~ " but its compiled SQL is not in"
            ~ " macros/generated/ (compiled here: " ~ by_version.keys() | sort | join(', ')
            ~ "). Merge its generated files, or make activate VERSION=<one of those>"
        ) }}
    {%- endif -%}
    {%- if trained_on[active] != configured -%}
        {{ exceptions.raise_compiler_error(
            "the active model version " ~ active ~ " was trained on the log source "
            ~ trained_on[active] ~ ", but the source configured now is " ~ configured
            ~ " (dbt_project.yml log_source): a version scores only the source it was trained on,"
            ~ " so nothing is scored. To switch to " ~ configured ~ ", train a version on it:"
            ~ " make export-model. To go back, record " ~ trained_on[active]
            ~ " again with make use-table (docs/your-table.md#switching-sources)"
        ) }}
    {%- endif -%}
    {%- set scoring = [ml_version_entry('active', by_version[active], configured)] -%}
    {%- if challenger is not none and challenger not in by_version -%}
        {#- shadow scoring must never stop production scoring: skip it, say so -#}
        {{ log("challenger " ~ challenger ~ " has no compiled SQL in macros/generated/: not scored", info=true) }}
    {%- elif challenger is not none and trained_on[challenger] != configured -%}
        {{ log("challenger " ~ challenger ~ " was trained on " ~ trained_on[challenger] ~ ", not on "
               ~ configured ~ ": not scored", info=true) }}
    {%- elif challenger is not none -%}
        {%- do scoring.append(ml_version_entry('challenger', by_version[challenger], configured)) -%}
    {%- endif -%}
    {{ return(scoring) }}
{% endmacro %}

{% macro ml_version_entry(role, compiled, log_source=none) %}
    {{ return({
        'role': role,
        'version': compiled.version,
        'log_source': log_source,
        'scorer': compiled.scorer,
        'frequency_seed': compiled.frequency_seed,
        'templates': compiled.get('templates'),
    }) }}
{% endmacro %}

{#-
  The active version's entry as this run scores it: what its alerts watch (the API reads the
  roles live instead: ml_status). Its version is none only while dbt parses a project that has
  no compiled version yet.
-#}
{% macro ml_active_version() %}
    {%- set scoring = ml_scoring_versions() -%}
    {{ return(scoring[0] if scoring else ml_version_entry(
        'active', {'version': none, 'scorer': none, 'frequency_seed': none}
    )) }}
{% endmacro %}

{#-
  The compiled versions as rows (model_version, release_order): 1 for the oldest, in the order
  model_export lists them (macros/generated/ml_versions.sql), so SQL can order versions without
  taking their names apart.
-#}
{% macro ml_listed_versions() %}
    select listed.model_version, listed.release_order
    from unnest(array[
        {%- for entry in ml_compiled_versions() -%}
            '{{ entry.version }}'{{ ', ' if not loop.last }}
        {%- endfor -%}
    ]::text[]) with ordinality as listed (model_version, release_order)
{% endmacro %}

{#-
  The SQL of one version's compiled models over the relation or CTE `batch` (one row per log:
  predicted level, probabilities, anomaly decision and score, explanations). A macro of its
  own so that unit tests can replace every version's models with a stand-in.
-#}
{% macro ml_score(entry, batch, history=none) %}
    {{ return(entry.scorer(batch, history)) }}
{% endmacro %}

{#-
  The anomaly detector's state tables as they stand (models ml_detector_template_history and
  ml_detector_service_history, which dbt builds after ml_predictions: read here by name, not
  ref, as ref would make a cycle), or none before their first build: the compiled models then
  count the history within the batch alone (macros/log_features.sql, log_features_history).
-#}
{% macro ml_detector_history() %}
    {#- unit tests give `this` as a string, and their stand-in scorers read no history -#}
    {%- if this is none or this is string -%}{{ return(none) }}{%- endif -%}
    {%- set found = {} -%}
    {%- for kind in ['template', 'service'] -%}
        {%- set relation = adapter.get_relation(
            database=this.database, schema=this.schema, identifier='ml_detector_' ~ kind ~ '_history'
        ) -%}
        {%- if relation is none -%}{{ return(none) }}{%- endif -%}
        {%- do found.update({kind ~ 's': relation}) -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}
