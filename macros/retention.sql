{#
  Retention: what logml keeps about logs (var retention; docs/your-table.md#retention).
  - `source` (the default): what the source keeps. Logs are pruned oldest first, so the
    predictions of the configured source below its oldest id are the ones of logs it no longer
    has. Predictions of other sources (before a switch) are kept: their source is not read.
    An empty source removes nothing (a table being reloaded is not a table pruned to nothing).
  - a number of days: the predictions of logs older than that many days before the newest
    scored log, whatever their source.
  - `forever`: nothing is removed.
  ml_predictions' first pre-hook applies it, in a transaction of its own that holds the run's
  lock and commits before the scoring begins: the removed predictions are first subtracted
  from the detector's history (what each version counted of them, by service and template; a
  template or service left with no line is removed, so the history counts what ml_predictions
  holds and the new lines of this run are judged against it), then deleted. Its own
  transaction because on Citus a multi-shard delete may modify the shards of a worker over
  several connections, and a later statement of the same transaction that joins such shards
  with the reference tables in one task (the scoring) is refused. ml_stats_hourly follows on
  its own run (retention_stats_*). Each read is an index range: (model_version, log_entry_id)
  for the source's rule, logged_at for days.
#}
{% macro retention_rule() %}
    {%- set rule = var('retention') -%}
    {%- if rule not in ['source', 'forever'] and not (rule is number and rule > 0) -%}
        {{ exceptions.raise_compiler_error(
            "var retention is " ~ rule ~ ": it must be source, forever or a number of days"
        ) }}
    {%- endif -%}
    {{ return(rule) }}
{% endmacro %}

{#- The predictions (alias `p`) the rule removes. -#}
{% macro retention_condition(predictions, rule) %}
    {%- if rule == 'source' -%}
        {%- set configured = log_source() -%}
        p.model_version in (
            select registered.model_version
            from {{ source('registry', 'ml_model_registry') }} as registered
            where registered.log_source = {{ log_source_literal() }}
        )
        and p.log_entry_id < (
            select min(logs.{{ adapter.quote(configured.columns.id) }})
            from {{ source('logs', 'log_entries') }} as logs
        )
    {%- else -%}
        p.logged_at < (select max(newest.logged_at) from {{ predictions }} as newest)
            - interval '{{ rule }} days'
    {%- endif -%}
{% endmacro %}

{% macro apply_retention() %}
    {%- set rule = retention_rule() -%}
    {%- if not is_incremental() or rule == 'forever' -%}{{ return('') }}{%- endif -%}
    {%- set history = ml_detector_history() -%}
    do $retention$
    begin
        perform {{ run_lock('ml_predictions') }};
        create temp table logml_retired on commit drop as
        select
            {{ detector_history_counts('p', 'trained.window_end') }}
        from {{ this }} as p
        left join (
            select
                registered.model_version,
                max(registered.window_end) as window_end
            from {{ source('registry', 'ml_model_registry') }} as registered
            group by registered.model_version
        ) as trained on p.model_version = trained.model_version
        where {{ retention_condition(this, rule) }}
        group by 1, 2, 3;
        {#- Only when something is retired (most runs retire nothing, and write nothing here).
            The history is subtracted by INSERT ... ON CONFLICT from the temp table: on Citus
            the history tables are reference tables, and an UPDATE joined with a coordinator
            temp table is refused. -#}
        if exists (select from logml_retired) then
            {%- if history is not none %}
            insert into {{ history.templates }} as h
                (model_version, service, template_hash, lines, lines_after_training, flagged)
            select model_version, service, template_hash, -lines, -lines_after_training, -flagged
            from logml_retired
            where template_hash is not null
            on conflict (model_version, service, template_hash) do update set
                lines = h.lines + excluded.lines,
                lines_after_training = h.lines_after_training + excluded.lines_after_training,
                flagged = h.flagged + excluded.flagged;
            delete from {{ history.templates }} where lines <= 0;
            insert into {{ history.services }} as h
                (model_version, service, lines, lines_after_training)
            select model_version, service, -sum(lines), -sum(lines_after_training)
            from logml_retired
            where template_hash is not null
            group by 1, 2
            on conflict (model_version, service) do update set
                lines = h.lines + excluded.lines,
                lines_after_training = h.lines_after_training + excluded.lines_after_training;
            delete from {{ history.services }} where lines <= 0;
            {%- endif %}
            delete from {{ this }} as p where {{ retention_condition(this, rule) }};
        end if;
    end
    $retention$;
    {#- Its own transaction, then a new one for the scoring (dbt's and psycopg2's view: one
        transaction, open). A bare COMMIT would leave psycopg2 believing a transaction is
        open, and the SET LOCALs and the lock of the scoring would then run outside any. -#}
    commit;
    begin
{% endmacro %}

{#-
  ml_stats_hourly under retention: the oldest hour each version still has predictions in is
  counted again on every run (it may have lost some of its lines), and hours before it are
  removed (post-hook), so the stats sum up exactly what ml_predictions holds. One index probe
  per registered version (model_version, logged_at), one hour of predictions each.
-#}
{% macro retention_oldest_hours(predictions) %}
    {#- grouped (one row per version already) so that the hour stays a column of this subquery:
        flattened into retention_stats_cleanup's DELETE, date_trunc (stable) over a column is
        refused by Citus -#}
    select
        oldest.model_version,
        date_trunc('hour', min(oldest.logged_at)) as hour
    from ({{ retention_oldest_lines(predictions) }}) as oldest
    group by oldest.model_version
{% endmacro %}

{#- Each registered version's oldest line in `predictions` (logged_at; null when it has none). -#}
{% macro retention_oldest_lines(predictions) %}
    {%- if citus_enabled() %}
    {#- Citus refuses the correlated probe below beside the registry (a reference table); one
        aggregate instead, which each worker computes over its shards (a version without
        predictions has no row: nothing of it is removed) -#}
    select
        oldest.model_version,
        min(oldest.logged_at) as logged_at
    from {{ predictions }} as oldest
    group by oldest.model_version
    {%- else %}
    select
        versions.model_version,
        (
            select min(oldest.logged_at)
            from {{ predictions }} as oldest
            where oldest.model_version = versions.model_version
        ) as logged_at
    from (
        select distinct registered.model_version
        from {{ source('registry', 'ml_model_registry') }} as registered
    ) as versions
    -- computed once per version: pulled up into a caller's DELETE ... USING, the probe would
    -- run once per row of the table it deletes from (every run, even when nothing goes)
    offset 0
    {%- endif %}
{% endmacro %}

{% macro retention_stats_cleanup(stats) %}
    {%- if not is_incremental() or retention_rule() == 'forever' -%}{{ return('') }}{%- endif -%}
    delete from {{ stats }} as stats
    using ({{ retention_oldest_hours(ref('ml_predictions')) }}) as oldest
    where
        stats.model_version = oldest.model_version
        and stats.hour < coalesce(oldest.hour, 'infinity'::timestamptz)
{% endmacro %}

{#-
  The incident models under retention (docs/concepts/incidents.md#retention): a bucket of
  ml_service_buckets or ml_template_buckets goes once none of its lines is left in
  ml_predictions (it starts before the bucket of the version's oldest line); the bucket that
  lost only some of its lines keeps the count it had (counted again, it would read as a drop).
  An incident of ml_incidents goes with its last bucket, once resolved in an earlier run
  (ml_alerts has then said so): `resolved_only`. `bucket_column` is the bucket a row is kept
  by.
-#}
{% macro retention_incidents_cleanup(table, bucket_column, resolved_only=false) %}
    {%- if not is_incremental() or retention_rule() == 'forever' -%}{{ return('') }}{%- endif -%}
    delete from {{ table }} as kept
    using ({{ retention_oldest_lines(ref('ml_predictions')) }}) as oldest
    where
        kept.model_version = oldest.model_version
        and kept.{{ bucket_column }}
        < coalesce({{ incident_bucket('oldest.logged_at') }}, 'infinity'::timestamptz)
        {%- if resolved_only %}
        -- rows this run wrote carry its now() as updated_at
        and kept.state = 'resolved' and kept.updated_at < now()
        {%- endif %}
{% endmacro %}
