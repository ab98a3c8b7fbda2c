{#- The users' template labels as normal / anomalous (ml_template_labels.is_anomaly). -#}
with

source as (

    select * from {{ source('labels', 'ml_template_labels') }}

),

renamed as (

    select
        template_hash,
        case when is_anomaly then 'anomalous' else 'normal' end as label,
        labelled_at
    from source

)

select * from renamed
