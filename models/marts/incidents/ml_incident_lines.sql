{#-
  The line-level answer of the incidents (docs/concepts/incidents.md, "Which lines belong to an
  incident"): a line belongs to an incident when its (model version, service, template, bucket)
  is an unusual bucket of ml_template_buckets inside the incident's span (first to last bucket).
  Every line of that template in that bucket belongs to it, also the few that would have come
  anyway; a drop or a silence has no lines. A view: always the incidents as they stand, read
  through the (model_version, logged_at) index of ml_predictions, one bucket at a time.
-#}
{{ config(materialized='view') }}

{%- set bucket = incident_bucket_interval() %}

with

incidents as (

    select * from {{ ref('ml_incidents') }}

),

template_buckets as (

    select * from {{ ref('ml_template_buckets') }}

),

predictions as (

    select * from {{ ref('ml_predictions') }}

),

incident_buckets as (

    select
        incidents.incident_id,
        template_buckets.model_version,
        template_buckets.service,
        template_buckets.template_hash,
        template_buckets.bucket_start
    from incidents
    inner join template_buckets
        on {{ incident_span_holds('incidents', 'template_buckets') }}
    where template_buckets.is_unusual

)

select
    predictions.log_entry_id,
    incident_buckets.model_version,
    incident_buckets.incident_id,
    incident_buckets.service,
    incident_buckets.template_hash,
    incident_buckets.bucket_start,
    predictions.logged_at
from incident_buckets
inner join predictions
    on
        incident_buckets.model_version = predictions.model_version
        and incident_buckets.bucket_start <= predictions.logged_at
        and predictions.logged_at < incident_buckets.bucket_start + {{ bucket }}
        and incident_buckets.template_hash = predictions.template_hash
        and incident_buckets.service = {{ incident_service('predictions.service') }}
