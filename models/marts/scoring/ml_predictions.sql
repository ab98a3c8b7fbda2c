{#-
  One row per (log, model version): the predictions of the active model version and, in
  shadow, of the challenger (ml_scoring_versions() in macros/model_versions.sql reads both
  roles from the registry), computed in the database by each version's compiled SQL
  (macros/generated/vN/). Each row names the log source it came from (log_source), the one its
  version was trained on: a version scores no other. Each version reads only the logs it has
  not scored, by id: everything above its own watermark, plus a bounded range below it (var
  late_id_window) re-checked with an anti-join for ids committed out of order. A version that
  has scored nothing yet starts where its source's predictions end, so a newly activated
  version or challenger scores new logs from then on, and the first version of a source scores
  it from its first row; var rescore_from reaches further back for the active version. Before
  scoring, the run applies the retention (var retention, macros/retention.sql), in a hook
  outside the model's transaction, which dbt runs before the others. Never rebuilt
  by --full-refresh: predictions of earlier versions are history that no run could recompute.
-#}
{#-
  parallel_tuple_cost: the planner costs a lateral function call (how the compiled models
  evaluate the template and the trees once per row) as if it ran once per query, so it sees
  the per-row scoring work as nearly free and, at the default 0.1, picks a serial plan; at
  0.01 the row-local part runs in parallel workers (docs/internals/compiler.md, "Speed").
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        meta={'citus_distribution_column': 'log_entry_id'},
        pre_hook=[
            {"sql": "{{ apply_retention() }}", "transaction": false},
            "{{ add_column_if_missing(this, 'log_source', 'text', log_source_literal()) }}",
            "{{ citus_propagate_set_local() }}",
            "set local jit = off",
            "set local work_mem = '{{ var('scoring_work_mem') }}'",
            "set local parallel_tuple_cost = 0.01",
            "{{ serialize_runs('ml_predictions') }}",
            "{{ ml_scoring_bounds_set_local() }}",
        ],
        post_hook=[
            "{{ analyze_after_bulk_insert(this) }}",
            {
                "sql": "{{ create_index_if_missing(this, 'ml_predictions_version_log_uidx',
                        ['model_version', 'log_entry_id'], unique=true) }}",
                "transaction": false,
            },
            {
                "sql": "{{ create_index_if_missing(this, 'ml_predictions_logged_at_idx',
                        ['logged_at']) }}",
                "transaction": false,
            },
            {
                "sql": "{{ create_index_if_missing(this, 'ml_predictions_version_logged_at_idx',
                        ['model_version', 'logged_at']) }}",
                "transaction": false,
            },
            {
                "sql": "{{ create_index_if_missing(this, 'ml_predictions_predicted_at_idx',
                        ['predicted_at']) }}",
                "transaction": false,
            },
        ],
    )
}}

{#-
  The active version and the challenger (macros/model_versions.sql). The challenger starts on
  the run after the table exists (where it ends). While dbt parses, every compiled version is
  rendered, so that dbt records the seeds each one refs.
-#}
{%- set scorers = ml_scoring_versions() -%}
{%- set citus = citus_enabled() -%}
{%- set history = ml_detector_history() if execute and is_incremental() else none -%}
{%- if execute and not is_incremental() -%}
{%- set scorers = scorers[:1] -%}
{%- endif %}

with
{% for scorer in scorers %}
{% if is_incremental() and not citus -%}
{{ scorer.role }}_bounds as (

    {{ ml_scoring_lower_id_query(scorer) }}

),

{% endif -%}

-- Not materialized: the compiled models read the batch several times, and a materialized
-- CTE (the default for one read more than once) is a CTE scan, which keeps every read of it
-- out of parallel workers; inlined, each read is a plain (parallel) scan of the same rows.
{{ scorer.role }}_batch as not materialized (

    select logs.*
    from {{ ref('stg_log_entries') }} as logs
    {% if is_incremental() -%}
    where
        logs.log_entry_id > {{ ml_scoring_lower_id(scorer, citus) }}
        and not exists (
            select 1
            from {{ this }} as scored
            where
                scored.model_version = '{{ scorer.version }}'
                and scored.log_entry_id = logs.log_entry_id
                -- the same bound on this side keeps the anti-join to an index range
                and scored.log_entry_id > {{ ml_scoring_lower_id(scorer, citus) }}
        )
    {%- endif %}

),

-- The compiled SQL reads its input as `batch` (a CTE of this scope).
{{ scorer.role }}_scores as (

    with batch as not materialized (select * from {{ scorer.role }}_batch)

    select * from ({{ ml_score(scorer, 'batch', history) }}) as scored

),

{{ scorer.role }}_predictions as (

    select
        batch.log_entry_id::bigint as log_entry_id,
        '{{ scorer.version }}'::text as model_version,
        scores.predicted_level,
        scores.level_confidence,
        batch.level as logged_level,
        coalesce(batch.level <> scores.predicted_level, false) as level_disagrees,
        scores.is_anomaly,
        scores.anomaly_score,
        scores.anomaly_confidence,
        {{ severity('scores.is_anomaly', 'scores.predicted_level') }} as severity,
        {{ explanation('scores', 'scores') }} as explanation,
        scores.template_hash,
        scores.template_lines,
        scores.service_lines,
        batch.logged_at,
        batch.service,
        batch.host,
        batch.source_type,
        batch.log_id,
        left(batch.message, 500) as message,
        -- after the lock (a statement of its own), so runs that commit later stamp later
        statement_timestamp() as predicted_at,
        '{{ scorer.log_source }}'::text as log_source
    from {{ scorer.role }}_batch as batch
    inner join {{ scorer.role }}_scores as scores on batch.log_entry_id = scores.log_entry_id

),
{% endfor %}
final as (

    {%- for scorer in scorers %}
    select * from {{ scorer.role }}_predictions
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

)

select * from final
