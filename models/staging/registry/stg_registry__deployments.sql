{#- One row per role change (export, activate, rollback, promote, challenger, clear-challenger). -#}
with

source as (

    select * from {{ source('registry', 'ml_model_deployments') }}

),

renamed as (

    select
        deployed_at,
        action,
        model_version,
        previous_version
    from source

)

select * from renamed
