{#
  The anomaly detector's dense input features, one row per row of `batch` (a relation or CTE
  with the stg_log_entries columns); `frequency_seed` names the template-frequency seed of the
  model version (e.g. 'ml_template_frequency_v1'). With with_template=true the line's template
  is a column too (`template`), so a scorer can tokenize it without computing it again.
  model_export.training.features.LogFeatures computes the same values in Python; tests compare both. Row-local: the only join is with a seed lookup table.
  - message_length, token_count, digit_ratio (ASCII digits / characters, 0 for '')
  - template_frequency: training frequency of the line's template (md5 of log_template, or,
    with `templates`, of the learned template: macros/templates.sql), 0 when never seen (or
    not among the seeded most frequent templates)
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
{#-
  templates: a model version's learned-template seeds and template version ({'masks': seed,
  'known': seed, 'version': 3}; no version: 2); none: the template is log_template (version
  1). It decides template_hash and template_frequency; `template` stays log_template (the level
  classifier's tokens).
-#}
{% macro log_features(
    batch, frequency_seed, with_template=false, history_version=none, history=none,
    labels_seed=none, trained_seed=none, templates=none
) %}
{%- if history_version is not none -%}
{{ log_features_history(
    batch, frequency_seed, history_version, history, labels_seed, trained_seed, templates
) }}
{%- else -%}
{{ log_features_rows(batch, frequency_seed, with_template, false, templates) }}
{%- endif -%}
{% endmacro %}

{#-
  With history_version (a model version): the template, its md5 (template_hash), the
  service_key ('' for a NULL service), logged_at, and the line's history as that version
  counts it (model_export.training.anomaly_detectors.with_history):
  - template_lines: lines of the same (service, template_hash),
  - service_lines: lines of the same service,
  each the lines of the version's training history (trained_seed, if the version has one: by
  md5 of the service, so no seed cell needs escaping; per service under template_hash 'all') plus
  the lines it scored after its training window, in the state tables `history`
  ({'templates': relation, 'services': relation}: ml_detector_template_history and
  ml_detector_service_history, which dbt updates after each scoring run). The lines of the
  batch do not count each other: every lookup is by equality, so this stays row-local (Citus
  pushes it down, the state tables being reference tables there). Without `history` (none:
  verify, the benchmark) only the training history counts.
  template_label: the label of the line's template in labels_seed (a model version's seed of
  template labels: template_hash, label 1 or 0), -1 for a template without one (and always
  without labels_seed).
  Aggregates rather than outer joins: always one row, and Citus does not push down a UNION
  ALL of two versions' scores when an outer join sits above the batch's anti-join. The
  lookups are keyed by the template alone (its counts for every service, as arrays; the line
  takes its service's entry), so PostgreSQL memoizes them per distinct template inside the
  parallel scan; keyed by (template, service) they were a lookup per row and the planner gave
  up parallelism (measured: 1M lines 39 s serial). Per-service counts are read once. The
  template_hash is compared in the default collation (the template is collate "C", and an
  index serves only its own collation); the indexes lead with template_hash.
-#}
{% macro log_features_history(
    batch, frequency_seed, history_version, history, labels_seed, trained_seed, templates=none
) %}
{%- set no_templates = '(select null::text as model_version, null::text as service,'
    ~ ' null::text as template_hash, null::bigint as lines_after_training where false)' -%}
{%- set no_services = '(select null::text as model_version, null::text as service,'
    ~ ' null::bigint as lines_after_training where false)' -%}
{%- set template_counts = history.templates if history is not none else no_templates -%}
{%- set services = history.services if history is not none else no_services -%}
{%- set no_labels = '(select null::text as template_hash, null::float8 as label where false)' -%}
{%- set labels = ref(labels_seed) if labels_seed is not none else no_labels -%}
{%- set no_trained = '(select null::text as service_hash, null::text as template_hash,'
    ~ ' null::float8 as lines where false)' -%}
{%- set trained = ref(trained_seed) if trained_seed is not none else no_trained %}
    select
        lf_r.log_entry_id,
        lf_r.template,
        lf_r.message_length,
        lf_r.token_count,
        lf_r.digit_ratio,
        lf_r.template_frequency,
        lf_r.level_ordinal,
        lf_r.http_status,
        lf_r.response_time_ms,
        lf_r.template_hash,
        lf_r.service_key,
        lf_r.logged_at,
        coalesce(lf_tt.lines[array_position(lf_tt.services, lf_r.service_hash)], 0)::bigint
        + coalesce(lf_ts.lines[array_position(lf_ts.services, lf_r.service_key)], 0)
            as template_lines,
        lf_st.lines + lf_ss.lines as service_lines,
        lf_lb.label as template_label
    from ({{ log_features_rows(batch, frequency_seed, true, true, templates) }}) as lf_r
    -- per template (memoized: one lookup per distinct template), its counts per service
    cross join lateral (
        select array_agg(lf_tt.service_hash) as services, array_agg(lf_tt.lines) as lines
        from {{ trained }} as lf_tt
        where lf_tt.template_hash = lf_r.template_hash collate "default"
    ) as lf_tt
    cross join lateral (
        select array_agg(lf_ts.service) as services, array_agg(lf_ts.lines_after_training) as lines
        from {{ template_counts }} as lf_ts
        where
            lf_ts.model_version = '{{ history_version }}'
            and lf_ts.template_hash = lf_r.template_hash collate "default"
    ) as lf_ts
    -- per service (memoized per distinct service)
    cross join lateral (
        select coalesce(max(lf_st.lines), 0)::bigint as lines
        from {{ trained }} as lf_st
        where lf_st.template_hash = 'all' and lf_st.service_hash = lf_r.service_hash
    ) as lf_st
    cross join lateral (
        select coalesce(max(lf_ss.lines_after_training), 0)::bigint as lines
        from {{ services }} as lf_ss
        where lf_ss.model_version = '{{ history_version }}' and lf_ss.service = lf_r.service_key
    ) as lf_ss
    cross join lateral (
        select coalesce(max(lf_lb.label), -1::float8) as label
        from {{ labels }} as lf_lb
        where lf_lb.template_hash = lf_r.template_hash collate "default"
    ) as lf_lb
{% endmacro %}

{% macro log_features_rows(batch, frequency_seed, with_template, with_history, templates=none) %}
{%- set service_arrays = ", array[coalesce(lf_b.service, '')],"
    ~ " array[md5(coalesce(lf_b.service, ''))]" if with_history else '' -%}
{%- set shape_array = ", array[" ~ template_shape('lf_b.message') ~ "]" if templates else '' -%}
{%- set template_hash = 'md5(lf_e.learned_template)' if templates else 'md5(lf_t.template)' -%}
{%- set row_columns = 'template' ~ (', shape' if templates else '')
    ~ (', service_key, service_hash' if with_history else '') -%}
{%- set no_seed = '(select null::text as template_hash, null::float8 as frequency)' -%}
{%- set frequencies = ref(frequency_seed) if frequency_seed is not none else no_seed %}
    select
        lf_b.log_entry_id,
        {{ 'lf_t.template,' if with_template }}
        {{ template_hash ~ " as template_hash, lf_t.service_key, lf_t.service_hash,"
            ~ " lf_b.logged_at," if with_history }}
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
    -- with the history, the service as function-scan columns too: lookups keyed by them are
    -- memoized per distinct service
    cross join lateral unnest(
        array[{{ log_template('lf_b.message') }}]{{ shape_array }}{{ service_arrays }}
    ) as lf_t ({{ row_columns }})  -- noqa: LT02
{%- if templates %}
    -- the learned template: once per distinct shape (memoized; offset 0 keeps it one subquery)
    cross join lateral ({{ learned_template('lf_t.shape', templates) }} offset 0) as lf_e
{%- endif %}
    -- A lateral aggregate, not a LEFT JOIN: always one row (NULL frequency when the template
    -- is unknown). Citus does not push down a UNION ALL of two versions' scores when an outer
    -- join sits above the batch's anti-join. "default": the template is collate "C", and the
    -- seed's index on template_hash (default collation) serves only that collation.
    cross join lateral (
        select max(lf_s.frequency) as frequency
        from {{ frequencies }} as lf_s
        where lf_s.template_hash = {{ template_hash }} collate "default"
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
  The log-aware tokenizer (model_export.training.tokenizer.log_template): ASCII-lowercase (collation
  "C" makes lower() ASCII only, whatever the database collation), mask every token with a
  digit to NUM, join the tokens ([a-zA-Z0-9] runs) with single spaces.
-#}
{% macro log_template(message) -%}
    btrim(regexp_replace(
        regexp_replace(lower(({{ message }}) collate "C"), '[a-z0-9]*[0-9][a-z0-9]*', 'NUM', 'g'),
        '[^a-zA-Z0-9]+', ' ', 'g'
    ))
{%- endmacro %}
