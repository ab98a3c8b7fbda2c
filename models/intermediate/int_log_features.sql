{#-
  The anomaly detector's inputs for every log line, as the active model version computes them
  (template_frequency comes from its training set); a view, computed only when read.
-#}
with

logs as (

    select * from {{ ref('stg_log_entries') }}

),

features as (

    {{ log_features('logs', ml_template_frequency_seed(ml_model_version())) }}

)

select * from features
