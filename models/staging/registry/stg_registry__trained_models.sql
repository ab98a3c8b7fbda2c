{#- One row per trained model (a version's level classifier or anomaly detector), as registered. -#}
with

source as (

    select * from {{ source('registry', 'ml_model_registry') }}

),

renamed as (

    select
        model_version,
        model_name,
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
