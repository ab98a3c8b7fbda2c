{#-
  Learned log templates (template versions 2 and 3; model_export.training.templates.
  LearnedTemplates is the Python reference, docs/internals/templates.md the design).

  template_shape(message): the line's whitespace-separated words (ASCII whitespace), each word
  holding an ASCII digit written <*>, joined by single spaces. The digit-word pattern has no
  alternation, so PostgreSQL's longest match and Python's greedy one agree.
-#}
{% macro template_shape(message) -%}
    btrim(regexp_replace(
        regexp_replace({{ message }}, '[^ \t\n\r\f\v]*[0-9][^ \t\n\r\f\v]*', '<*>', 'g'),
        '[ \t\n\r\f\v]+', ' ', 'g'
    ), ' ')
{%- endmacro %}

{#-
  template_unit_values(shape): version 3's shape from version 2's: a value keeps its units
  (templates.UNIT_VALUE_PATTERN, the same text, ignoring ASCII case). Each alternative matches a
  whole word, so PostgreSQL's longest match and Python's first match agree on it too.
-#}
{% macro template_unit_values(shape) -%}
    regexp_replace(
        {{ shape }},
        '(^| )<\*>(?: (?:<\*> )?\(?(?:(?:[kmgtp]i?)?b|bytes?|[mun]?s|secs?|seconds?|mins?|minutes?|hrs?|hours?|h|days?|\x25)[])},;:.]*(?= |$))+',
        '\1<*>', 'gi'
    )
{%- endmacro %}

{#-
  learned_template(shape, templates): one row, one column `learned_template`: the template of
  a line whose version-2 shape text is `shape` (a column of the outer row), as the model
  version whose seeds and template version `templates` names ({'masks': seed, 'known': seed,
  'version': 3}; no version: 2) assigns it: the shape read as the version reads it (version 3:
  template_unit_values, here rather than per line, so once per distinct shape), then the first
  wildcard mask of its word count (mask_rank order: most specific first) whose masked text is
  a learned template (md5 in the known seed), else that shape itself.
  Equality lookups only: row-local. Called as `cross join lateral (... offset 0)`, it reads
  nothing of the row but `shape`, so PostgreSQL memoizes it per distinct shape. An aggregate
  always returns its one row (the coalesce then falls back to the shape).
  Joins only, no subquery expression (EXISTS, ARRAY(select ...)): Citus pushes down no
  correlated subquery whose FROM holds only reference tables or functions (the seeds are
  reference tables there), and would run the whole scoring statement on the coordinator.
  The known seed holds each hash once, so the inner join keeps each candidate once.
-#}
{% macro learned_template(shape, templates) -%}
{%- set read_as = template_unit_values(shape) if templates.get('version', 2) >= 3 else shape %}
        select
            coalesce((array_agg(lt_c.candidate order by lt_m.mask_rank))[1], {{ read_as }})
                as learned_template
        -- the shape as the version reads it, computed once (a function scan)
        from unnest(array[{{ read_as }}]) as lt_s (shape)
        inner join {{ ref(templates.masks) }} as lt_m
            on lt_m.token_count = {{ template_word_count('lt_s.shape') }}
        -- the shape with the mask's wildcards: one row, the words in their order
        cross join lateral (
            select
                string_agg(
                    case when substr(lt_m.mask, lt_w.i::int, 1) = '1' then '<*>' else lt_w.word end,
                    ' ' order by lt_w.i
                ) as candidate
            from unnest(string_to_array(lt_s.shape, ' ')) with ordinality as lt_w (word, i)
        ) as lt_c
        inner join {{ ref(templates.known) }} as lt_k on md5(lt_c.candidate) = lt_k.template_hash
{%- endmacro %}

{% macro template_word_count(shape) -%}
    case
        when {{ shape }} = '' then 0
        else length({{ shape }}) - length(replace({{ shape }}, ' ', '')) + 1
    end
{%- endmacro %}
