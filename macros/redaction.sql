{#
  The redaction functions, made from the rules in the vars of dbt_project.yml
  (redaction_rules, extra_redaction_rules, redaction_placeholders; docs/concepts/redaction.md):

    logml_redact(text) -> text          each rule's secret replaced by [REDACTED:name]
    logml_redact_json(jsonb) -> jsonb   logml_redact on every string inside a JSON document

  Everything the API serves and the notifier sends passes through them (and ml_alerts quotes
  log lines through them before cutting them short). The schema migrations create them in the
  output schema on every dbt invocation and every command (a repeatable step: the rules may
  change between runs), rendered by dbt and by dbt_project/migrations.py alike, so one text
  of SQL comes out of both.

  Cheap where it runs most: one regular expression, every rule's pattern side by side and
  case-insensitive (so it matches whatever any rule matches), tests the text first, and only
  a text it matches goes through the rules one by one. PostgreSQL keeps the compiled patterns
  per session (up to 32), so the rules must stay below about 30 for that to hold.
#}
{% macro logml_redaction_functions(schema, rules, placeholders) %}
{#- jinja-only lines start at column 0: sqlfluff reads the whitespace they swallow as indent -#}
{%- set patterns = [] -%}
{%- for rule in rules -%}
{%- set keep = logml_redaction_expand(rule.get('keep') or '', placeholders) -%}
{%- set secret = '(?:' ~ logml_redaction_expand(rule.secret, placeholders) ~ ')' -%}
{#- a value after a key never starts at a marker, so a second pass (alert lines are redacted
    when ml_alerts is built and again when served) leaves the marker and what follows it
    alone. Only after a keep: a lookahead tried at every position of the text costs about 30
    times the rule in PostgreSQL's regex engine, and a secret without a keep has a shape of
    its own that a marker never has. -#}
{%- do patterns.append((
    rule.name,
    keep,
    secret,
    ('(?!\\[REDACTED:)' if keep else '') ~ secret,
    'gi' if rule.get('ignore_case') else 'g'
)) -%}
{%- endfor -%}
{%- set ns = namespace(chain='message', any=[]) -%}
{%- for name, keep, secret, guarded, flags in patterns -%}
{%- set ns.chain = 'regexp_replace(' ~ ns.chain
    ~ ', ' ~ logml_sql_text('(' ~ keep ~ ')' ~ guarded)
    ~ ', ' ~ logml_sql_text('\\1[REDACTED:' ~ name ~ ']')
    ~ ', ' ~ logml_sql_text(flags) ~ ')' -%}
{#- the prefilter may match more than the rules do: it only decides who goes through them -#}
{%- do ns.any.append('(?:' ~ keep ~ secret ~ ')') -%}
{%- endfor %}
-- a rule whose pattern PostgreSQL cannot compile fails here, by name, and not in the API
do $redaction_rules$
begin
{%- for name, keep, secret, guarded, flags in patterns %}
    begin
        perform '' ~ {{ logml_sql_text('(' ~ keep ~ ')' ~ guarded) }};
    exception when invalid_regular_expression then
        raise exception 'redaction rule %: %', {{ logml_sql_text(name) }}, sqlerrm
            using hint = 'fix its keep or secret in the vars of dbt_project.yml';
    end;
{%- endfor %}
end
$redaction_rules$;
{%- set candidate = logml_sql_text(ns.any | join('|')) if ns.any else "'(?!)'" %}
create or replace function {{ schema }}.logml_redact(message text) returns text
language sql immutable parallel safe
return case
    when message ~* {{ candidate }}
        then {{ ns.chain }}
    else message
end;
comment on function {{ schema }}.logml_redact(text) is
    'The text with every secret that the redaction rules find replaced by [REDACTED:rule]'
    ' (vars redaction_rules and extra_redaction_rules of dbt_project.yml)';
create or replace function {{ schema }}.logml_redact_json(document jsonb) returns jsonb
language sql immutable parallel safe
as $function$
    select case
        -- most documents hold no secret: one pass of the prefilter over their strings (not a
        -- call per string: that cost 2.7x as much) returns them as they are
        when not exists (
            select from jsonb_path_query(document, 'strict $.**') as found (value)
            where jsonb_typeof(found.value) = 'string' and (found.value #>> '{}') ~* {{ candidate }}
        ) then document
        when jsonb_typeof(document) = 'string'
            then to_jsonb({{ schema }}.logml_redact(document #>> '{}'))
        when jsonb_typeof(document) = 'object' then (
            select coalesce(jsonb_object_agg(item.key, {{ schema }}.logml_redact_json(item.value)), '{}')
            from jsonb_each(document) as item
        )
        when jsonb_typeof(document) = 'array' then (
            select coalesce(jsonb_agg({{ schema }}.logml_redact_json(item.value) order by item.n), '[]')
            from jsonb_array_elements(document) with ordinality as item (value, n)
        )
        else document
    end
$function$;
comment on function {{ schema }}.logml_redact_json(jsonb) is
    'The document with logml_redact applied to every string value in it';
{% endmacro %}

{#- The SQL expression `text` through logml_redact, for the models (it lives in the output
    schema, which is not on dbt's search path). -#}
{% macro logml_redacted(text) -%}
{{ target.schema }}.logml_redact({{ text }})
{%- endmacro %}

{#- `text` with each {placeholder} replaced. Placeholders may use one another whatever order
    the mapping comes in (a YAML dump sorts it), so the whole set is replaced once per
    placeholder: enough to reach the end of the longest chain. -#}
{% macro logml_redaction_expand(text, placeholders) -%}
{%- set ns = namespace(text=text) -%}
{%- for _ in placeholders -%}
{%- for name, body in placeholders.items() -%}
{%- set ns.text = ns.text | replace('{' ~ name ~ '}', body) -%}
{%- endfor -%}
{%- endfor -%}
{{ ns.text }}
{%- endmacro %}

{#- A SQL string literal (standard_conforming_strings: a backslash is itself). -#}
{% macro logml_sql_text(text) -%}
'{{ text | replace("'", "''") }}'
{%- endmacro %}
