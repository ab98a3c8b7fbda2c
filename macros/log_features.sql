{#
  The anomaly detector's dense input features, one row per row of `batch` (a relation or CTE
  with the stg_log_entries columns); `frequency_seed` names the template-frequency seed of the
  model version (e.g. 'ml_template_frequency_v1'). With with_template=true the line's template
  is a column too (`template`), so a scorer can tokenize it without computing it again.
  model_export.features.LogFeatures computes the same values in Python; tests compare both. Row-local: the only join is with a seed lookup table.
  - message_length, token_count, digit_ratio (ASCII digits / characters, 0 for '')
  - template_frequency: training frequency of the line's template (md5 of log_template),
    0 when never seen (or not among the seeded most frequent templates)
  - level_ordinal: DEBUG 0 .. FATAL 4, -1 unknown; http_status, response_time_ms: -1 when NULL,
    clamped to +-1e30 and tiny values to 0 so the trees' float4 cast can never fail.
#}
{#-
  The template is computed once per row in a lateral unnest (a function scan, never
  flattened into the outer query, so the regexes are not re-run for every reference); the
  other features are cheap expressions. Consumers that read features many times (trees)
  evaluate them once the same way.
-#}
{#- frequency_seed is none before the first export (dbt still parses the project) -#}
{% macro log_features(batch, frequency_seed, with_template=false) %}
{%- set no_seed = '(select null::text as template_hash, null::float8 as frequency)' -%}
{%- set frequencies = ref(frequency_seed) if frequency_seed is not none else no_seed %}
    select
        lf_b.log_entry_id,
        {{ 'lf_t.template,' if with_template }}
        length(lf_b.message)::float8 as message_length,
        case
            when lf_t.template = '' then 0::float8
            else (length(lf_t.template) - length(replace(lf_t.template, ' ', '')) + 1)::float8
        end as token_count,
        case
            when lf_b.message = '' then 0::float8
            -- an ASCII digit is one byte: bytes removed = digits
            else (octet_length(lf_b.message) - octet_length({{ log_features_without_digits('lf_b.message') }}))::float8
                / length(lf_b.message)::float8
        end as digit_ratio,
        coalesce(lf_f.frequency, 0::float8) as template_frequency,
        -- searched CASE: Citus folds a simple CASE's WHEN tests to NULL (macros/normalize_level.sql)
        case
            when lf_b.level = 'DEBUG' then 0::float8
            when lf_b.level = 'INFO' then 1::float8
            when lf_b.level = 'WARN' then 2::float8
            when lf_b.level = 'ERROR' then 3::float8
            when lf_b.level = 'FATAL' then 4::float8
            else -1::float8
        end as level_ordinal,
        {{ log_features_clamped('lf_b.http_status::float8') }} as http_status,
        {{ log_features_clamped('lf_b.response_time_ms::float8') }} as response_time_ms
    from {{ batch }} as lf_b
    cross join lateral unnest(array[{{ log_template('lf_b.message') }}]) as lf_t (template)
    -- A lateral aggregate, not a LEFT JOIN: always one row (NULL frequency when the template
    -- is unknown). Citus does not push down a UNION ALL of two versions' scores when an outer
    -- join sits above the batch's anti-join. "default": the template is collate "C", and the
    -- seed's index on template_hash (default collation) serves only that collation.
    cross join lateral (
        select max(lf_s.frequency) as frequency
        from {{ frequencies }} as lf_s
        where lf_s.template_hash = md5(lf_t.template) collate "default"
    ) as lf_f
{% endmacro %}

{#-
  The text without its ASCII digits: ten replace() calls, each a plain substring scan, cost
  less than half of one regexp_replace(text, '[0-9]+', '', 'g') (PostgreSQL's regex engine is
  the scoring's largest cost).
-#}
{% macro log_features_without_digits(text) -%}
    replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
        {{ text }}, '0', ''), '1', ''), '2', ''), '3', ''), '4', ''), '5', ''), '6', ''),
        '7', ''), '8', ''), '9', '')
{%- endmacro %}

{% macro log_features_clamped(value) %}
    case
        when {{ value }} is null or {{ value }} = 'NaN'::float8 then -1::float8
        when abs({{ value }}) < 1e-30::float8 then 0::float8
        else least(greatest({{ value }}, -1e30::float8), 1e30::float8)
    end
{% endmacro %}

{#-
  The log-aware tokenizer (model_export.tokenizer.log_template): ASCII-lowercase (collation
  "C" makes lower() ASCII only, whatever the database collation), mask every token with a
  digit to NUM, join the tokens ([a-zA-Z0-9] runs) with single spaces.
-#}
{% macro log_template(message) -%}
    btrim(regexp_replace(
        regexp_replace(lower(({{ message }}) collate "C"), '[a-z0-9]*[0-9][a-z0-9]*', 'NUM', 'g'),
        '[^a-zA-Z0-9]+', ' ', 'g'
    ))
{%- endmacro %}
