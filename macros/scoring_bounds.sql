{#
  Where an incremental run of ml_predictions starts, per scoring version: the lower id bound
  of the logs it reads (models/marts/scoring/ml_predictions.sql explains the rule).
  - Plain PostgreSQL: the query is a CTE of the scoring statement (`<role>_bounds`).
  - Citus (macros/citus.sql): Citus pushes an INSERT ... SELECT down to the workers only when
    its SELECT needs no recursive planning, and an uncorrelated subquery over ml_predictions
    does (it repartitions instead). So a pre-hook runs the same query after serialize_runs'
    lock, in the model's transaction, and hands the bound to the statement as a SET LOCAL
    setting (executed from a DO block: its value comes from a query). SET LOCAL, not
    set_config(): with citus.propagate_set_commands = local Citus sends it to the workers'
    connections as well, so the bound is right whichever plan Citus picks; and
    current_setting() without missing_ok: a missing bound is an error, never "no rows".
#}
{% macro ml_scoring_lower_id_query(scorer) %}
    select
        least(
            case
                -- a version that has scored nothing starts where its source's predictions
                -- end: from the first row of a source no version has scored yet (a
                -- bring-your-own model's table records no source: from its first row)
                {%- if scorer.get('log_source') %}
                when progress.version_watermark is null
                    then coalesce(
                            (
                                select max(same_source.log_entry_id)
                                from {{ this }} as same_source
                                where same_source.log_source = '{{ scorer.log_source }}'
                            ),
                            '-9223372036854775808'::bigint
                        )
                {%- else %}
                when progress.version_watermark is null then '-9223372036854775808'::bigint
                {%- endif %}
                -- re-check below the watermark, but never below the version's first id:
                -- older logs belong to the previous version unless rescore_from says so
                else greatest(
                        progress.version_watermark - {{ var('late_id_window') }},
                        progress.version_first_id - 1
                    )
            end,
            {% if var('rescore_from') and scorer.role == 'active' -%}
            (
                select min(windowed.log_entry_id) - 1
                from {{ ref('stg_log_entries') }} as windowed
                where windowed.logged_at >= '{{ var("rescore_from") }}'::timestamptz
            )
            {%- else -%}
            null
            {%- endif %}
        ) as lower_id
    from (
        select
            (
                select min(scored.log_entry_id)
                from {{ this }} as scored
                where scored.model_version = '{{ scorer.version }}'
            ) as version_first_id,
            (
                select max(scored.log_entry_id)
                from {{ this }} as scored
                where scored.model_version = '{{ scorer.version }}'
            ) as version_watermark
    ) as progress
{% endmacro %}

{#- The bound in the scoring statement: the CTE's value, or the setting of the hook below. -#}
{% macro ml_scoring_lower_id(scorer, citus) -%}
    {%- if citus -%}
    current_setting('logml.scoring_lower_id_{{ scorer.role }}')::bigint
    {%- else -%}
    (select bounds.lower_id from {{ scorer.role }}_bounds as bounds)
    {%- endif -%}
{%- endmacro %}

{#- ml_predictions' pre-hook on Citus (renders nothing otherwise): SET LOCAL each bound. -#}
{% macro ml_scoring_bounds_set_local() %}
    {%- if is_incremental() and citus_enabled() -%}
    do $ml_scoring_bounds$
    begin
    {%- for scorer in ml_scoring_versions() %}
        execute format(
            'set local logml.scoring_lower_id_{{ scorer.role }} = %L',
            ({{ ml_scoring_lower_id_query(scorer) }})::text
        );
    {%- endfor %}
    end
    $ml_scoring_bounds$
    {%- endif -%}
{% endmacro %}
