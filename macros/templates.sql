{#-
  Learned log templates (template version 2; model_export.training.templates.LearnedTemplates
  is the Python reference, docs/internals/templates.md the design).

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
  learned_template(shape, templates): one row, one column `learned_template`: the template of
  a line whose shape text is `shape` (a column of the outer row), as
  the model version whose seeds `templates` names ({'masks': seed, 'known': seed}) assigns it:
  the first wildcard mask of the line's word count (mask_rank order: most specific first)
  whose masked text is a learned template (md5 in the known seed), else the shape itself.
  Equality lookups only: row-local. Called as `cross join lateral (... offset 0)`, it reads
  nothing of the row but `shape`, so PostgreSQL memoizes it per distinct shape. An aggregate
  always returns its one row (the coalesce then falls back to the shape).
  Joins only, no subquery expression (EXISTS, ARRAY(select ...)): Citus pushes down no
  correlated subquery whose FROM holds only reference tables or functions (the seeds are
  reference tables there), and would run the whole scoring statement on the coordinator.
  The known seed holds each hash once, so the inner join keeps each candidate once.
-#}
{% macro learned_template(shape, templates) -%}
        select
            coalesce((array_agg(lt_c.candidate order by lt_m.mask_rank))[1], {{ shape }})
                as learned_template
        from {{ ref(templates.masks) }} as lt_m
        -- the shape with the mask's wildcards: one row, the words in their order
        cross join lateral (
            select
                string_agg(
                    case when substr(lt_m.mask, lt_w.i::int, 1) = '1' then '<*>' else lt_w.word end,
                    ' ' order by lt_w.i
                ) as candidate
            from unnest(string_to_array({{ shape }}, ' ')) with ordinality as lt_w (word, i)
        ) as lt_c
        inner join {{ ref(templates.known) }} as lt_k on md5(lt_c.candidate) = lt_k.template_hash
        where lt_m.token_count = {{ template_word_count(shape) }}
{%- endmacro %}

{% macro template_word_count(shape) -%}
    case
        when {{ shape }} = '' then 0
        else length({{ shape }}) - length(replace({{ shape }}, ' ', '')) + 1
    end
{%- endmacro %}
