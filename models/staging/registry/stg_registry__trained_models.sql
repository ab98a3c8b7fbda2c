{#-
  One row per registered model, as registered: a default version's level classifier or anomaly
  detector (model_kind 'default'), or a bring-your-own model's version (model_kind 'byo').
-#}
with

source as (

    select * from {{ source('registry', 'ml_model_registry') }}

),

renamed as (

    select
        model_version,
        model_name,
        model_kind,
        trained_at,
        training_rows,
        window_start,
        window_end,
        sklearn_version,
        metrics,
        artifact_path,
        is_active,
        is_challenger,
        log_source
    from source

)

select * from renamed
