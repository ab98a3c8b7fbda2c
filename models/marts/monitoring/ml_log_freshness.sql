{#-
  Is scoring behind? A view, so the answer is live between scheduled runs: the newest log of
  the source (by id: when it arrived, if the source has created_at), the newest log the
  active model version scored, and how many logs are newer than that one. Behind means such
  logs exist; it is never judged from the wall clock (logs may be historical, as the demo's
  are). Each read is an index probe: the newest id of the logs (primary key) and of the
  version's predictions (unique index on model_version, log_entry_id), and a count of the
  ids above it that stops at 10,000, so a far-behind pipeline costs the reader no more.
  Logs committed out of id order below the newest scored one (re-checked by the next run,
  var late_id_window) are not counted.
-#}
{{ config(materialized='view') }}

with

-- Not materialized: read twice, and a materialized CTE would copy the whole log table
-- instead of letting each read use the primary key. stg_log_arrivals, not stg_log_entries:
-- it is ephemeral and CTE-free, so this view reads the source table and its ORDER BY ...
-- LIMIT 1 reaches the key (stg_log_entries has CTEs, and is a view dbt rebuilds).
logs as not materialized (

    select * from {{ ref('stg_log_arrivals') }}

),

-- The active version as the registry says now (a role change shows at once, not after the
-- next dbt run); the staging model is ephemeral, so this reads the registry table itself.
roles as (

    {{ ml_model_roles_sql(ref('stg_registry__trained_models')) }}

),

predictions as (

    select * from {{ ref('ml_predictions') }}
    where model_version = (select roles.active_version from roles)

),

newest_log as (

    select
        log_entry_id,
        logged_at,
        created_at
    from logs
    order by log_entry_id desc
    limit 1

),

newest_scored as (

    select
        log_entry_id,
        logged_at
    from predictions
    order by log_entry_id desc
    limit 1

),

unscored as (

    select count(*)::bigint as unscored_logs
    from (
        -- any 10,000 of them: only how many is read
        select 1 as found
        from logs
        where
            logs.log_entry_id
            > coalesce((select newest_scored.log_entry_id from newest_scored), -1)
        limit 10000  -- noqa: AM09
    ) as newer

),

final as (

    select
        newest_log.log_entry_id::bigint as newest_log_id,
        newest_log.logged_at as newest_log_at,
        newest_log.created_at as newest_log_arrived_at,
        newest_scored.log_entry_id::bigint as newest_scored_log_id,
        newest_scored.logged_at as newest_scored_log_at,
        unscored.unscored_logs,
        unscored.unscored_logs >= 10000 as unscored_logs_capped,
        unscored.unscored_logs > 0 as scoring_behind
    from unscored
    left join newest_log on true
    left join newest_scored on true

)

select * from final
