{#-
  Helpers of the incident models (models/marts/incidents/; docs/concepts/incidents.md): the
  time bucket, which lines are trouble, and the tail probabilities of a count under its
  baseline, in plain SQL (ln and exp only: no extension, any PostgreSQL, pushed down on Citus).
-#}

{#- var incident_bucket_minutes as an interval; it must divide a day, so that the same bucket of
    every day (and week) starts at the same time of day. -#}
{% macro incident_bucket_interval() -%}
{%- set minutes = var('incident_bucket_minutes') | int -%}
{%- if minutes < 1 or 1440 % minutes != 0 -%}
{{ exceptions.raise_compiler_error(
    "var incident_bucket_minutes must divide a day (1440 minutes): e.g. 10, 15, 30, 60, 120;"
    ~ " got " ~ var('incident_bucket_minutes')
) }}
{%- endif -%}
interval '{{ minutes }} minutes'
{%- endmacro %}

{#- The start of the bucket a timestamptz falls in (buckets counted from 2000-01-01 00:00 UTC). -#}
{% macro incident_bucket(timestamp) -%}
date_bin({{ incident_bucket_interval() }}, {{ timestamp }}, '2000-01-01 00:00:00+00'::timestamptz)
{%- endmacro %}

{#- The first bucket a run judges: the first one it changed (`first_changed_bucket`), but none
    more than var incident_lookback_hours before the newest line (`newest_logged_at`): older
    buckets keep the judgement they had. -#}
{% macro incident_judge_start(first_changed_bucket, newest_logged_at) -%}
greatest(
    {{ first_changed_bucket }},
    {{ incident_bucket(
        newest_logged_at ~ " - interval '" ~ var('incident_lookback_hours') ~ " hours'"
    ) }}
)
{%- endmacro %}

{#- Whether a bucket row (of ml_template_buckets or ml_service_buckets) lies in an incident's span
    (a row with its model_version, service, first_bucket and last_bucket): the join condition
    of an incident and its buckets. -#}
{% macro incident_span_holds(incident, bucket) -%}
{{ incident }}.model_version = {{ bucket }}.model_version
and {{ incident }}.service = {{ bucket }}.service
and {{ incident }}.first_bucket <= {{ bucket }}.bucket_start
and {{ incident }}.last_bucket >= {{ bucket }}.bucket_start
{%- endmacro %}

{#- Whether a line is trouble: logged WARN, ERROR or FATAL (read as such by the level classifier
    when the log has no level). Only trouble can open an incident. -#}
{% macro incident_trouble(logged_level, predicted_level) -%}
coalesce({{ logged_level }}, {{ predicted_level }}) in ('WARN', 'ERROR', 'FATAL')
{%- endmacro %}

{#- Whether a trouble line is an error (ERROR or FATAL): an incident with a bucket of them is
    high severity. -#}
{% macro incident_error(logged_level, predicted_level) -%}
coalesce({{ logged_level }}, {{ predicted_level }}) in ('ERROR', 'FATAL')
{%- endmacro %}

{#-
  ln Gamma(x + 1) = ln x! for a real x >= 0: Stirling's series at x + 2 (>= 2, where its first
  terms are exact to 1e-6), shifted down by ln(x + 1) + ln(x + 2).
-#}
{% macro incident_log_factorial(x) -%}
(
    ({{ x }} + 2) * ln({{ x }} + 2) - ({{ x }} + 2) + 0.5 * ln(2 * pi() * ({{ x }} + 2))
    + 1 / (12 * ({{ x }} + 2)) - 1 / (360 * power({{ x }} + 2, 3))
    + 1 / (1260 * power({{ x }} + 2, 5))
    - ln({{ x }} + 1) - ln({{ x }} + 2)
)
{%- endmacro %}

{#-
  ln P(X >= n) for X ~ Poisson(mu), n and mu real (a quasi-Poisson count divided by its
  dispersion). Above the mean: ln of the probability of exactly n, times the tail's sum
  1 + mu/(n+1) + mu^2/((n+1)(n+2)) + ..., bounded by the geometric series 1 / (1 - mu/(n+1)):
  never smaller than the exact tail, and within 2x of it for n >= 2 mu (every count an incident
  can be made of: var incident_min_ratio >= 2). At or below the mean: 0 (probability 1).
-#}
{% macro incident_log_upper_tail(n, mu) -%}
case
    when {{ n }} <= {{ mu }} then 0::float8
    else
        -{{ mu }} + {{ n }} * ln(greatest({{ mu }}, 1e-300)) - {{ incident_log_factorial(n) }}
        - ln(1 - {{ mu }} / ({{ n }} + 1))
end
{%- endmacro %}

{#-
  ln P(X <= n) for X ~ Poisson(mu): below the mean, the probability of exactly n times the sum
  1 + n/mu + n(n-1)/mu^2 + ..., bounded by 1 / (1 - n/mu) (exact for n = 0: e^-mu). At or above
  the mean: 0.
-#}
{% macro incident_log_lower_tail(n, mu) -%}
case
    when {{ n }} >= {{ mu }} then 0::float8
    else
        -{{ mu }} + {{ n }} * ln({{ mu }}) - {{ incident_log_factorial(n) }}
        - ln(1 - {{ n }} / {{ mu }})
end
{%- endmacro %}

{#- A natural-log probability as a probability (0 below e^-700, where float8 stops). -#}
{% macro incident_probability(log_p) -%}
case when {{ log_p }} < -700 then 0::float8 else exp({{ log_p }}) end
{%- endmacro %}

{#- var incident_tail_probability as a natural log, the bound the log tails above are held to. -#}
{% macro incident_log_alpha() -%}
ln({{ var('incident_tail_probability') }}::float8)
{%- endmacro %}

{#- The service a prediction row counts under: '(none)' for lines without one (as ml_alerts). -#}
{% macro incident_service(service) -%}
coalesce({{ service }}, '(none)')
{%- endmacro %}
