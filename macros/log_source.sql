{#
  The log source: the user's table or view, named and mapped once in dbt_project.yml (var
  log_source, written by `make use-table`; docs/your-table.md). dbt_project/source.py reads the
  same var by the same rules for the commands.

  log_source() resolves it: {'schema', 'table', 'columns': logml's column name -> the source's
  column (none: the source has none), 'levels': the source's own level names -> level,
  'identity': 'schema.table.id_column'}. The identity is what a model version is trained on
  and scores (ml_model_registry.log_source, ml_predictions.log_source): the column whose values
  are the log ids. A schema or table left null is the environment variable LOG_SOURCE_SCHEMA /
  LOG_SOURCE_TABLE when set, else public.log_entries; a recorded name that a set variable
  contradicts is an error, never one of the two.
#}
{% macro log_source() %}
    {%- set recorded = var('log_source') or {} -%}
    {%- set resolved = {} -%}
    {%- for part, variable, default in [
        ('schema', 'LOG_SOURCE_SCHEMA', 'public'), ('table', 'LOG_SOURCE_TABLE', 'log_entries')
    ] -%}
        {%- set from_environment = env_var(variable, '') -%}
        {%- if recorded.get(part) and from_environment and from_environment != recorded.get(part) -%}
            {{ exceptions.raise_compiler_error(
                variable ~ "=" ~ from_environment ~ " contradicts the source recorded in"
                ~ " dbt_project.yml (log_source." ~ part ~ ": " ~ recorded.get(part) ~ "): unset "
                ~ variable ~ ", or record the source you mean with make use-table"
            ) }}
        {%- endif -%}
        {%- do resolved.update({part: recorded.get(part) or from_environment or default}) -%}
    {%- endfor -%}
    {%- set mapped = recorded.get('columns') or {} -%}
    {%- set columns = {} -%}
    {%- for name in var('log_columns') -%}
        {%- do columns.update({name: mapped.get(name) if name in mapped else name}) -%}
    {%- endfor -%}
    {%- do resolved.update({
        'columns': columns,
        'levels': recorded.get('levels') or {},
        'identity': resolved['schema'] ~ '.' ~ resolved['table'] ~ '.' ~ columns['id'],
    }) -%}
    {{ return(resolved) }}
{% endmacro %}

{#
  logml's columns as the staging models read them from `relation` (the source): name -> SQL.
  Each is the source's column (by the mapping) read as its kind's type (var
  log_column_types), the id uncast (a cast would keep `log_entry_id > watermark` off the
  source's index), a timestamp without time zone read as UTC; a typed NULL for an optional
  column the source does not have. A required column that is missing, or a column of a type
  its kind does not accept, stops the build here with a message naming the column and the fix
  (`make check-source` says the same, and more, before any build). While dbt parses, the
  source is not read: every column is a typed NULL.
#}
{% macro log_source_columns(relation) %}
    {%- set configured = log_source() -%}
    {%- set found = {} -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- do found.update({column.name | lower: column}) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set kinds = var('log_column_types') -%}
    {%- set read = {} -%}
    {%- set problems = [] -%}
    {%- for name, wanted in var('log_columns').items() -%}
        {%- set kind = kinds[wanted['type']] -%}
        {%- set column = configured.columns[name] -%}
        {%- set present = found.get(column | lower) if column else none -%}
        {%- set data_type = present.dtype | lower if present else none -%}
        {%- if present is none -%}
            {%- if execute and wanted['required'] -%}
                {%- do problems.append(
                    "logml's required column " ~ name ~ " is "
                    ~ ("not mapped" if not column else "read from column " ~ column
                       ~ ", which " ~ relation ~ " does not have")
                    ~ ": map it to one of your columns with make use-table MAP='" ~ name
                    ~ "=<your column>'"
                ) -%}
            {%- endif -%}
            {%- do read.update({name: 'null::' ~ kind['read_as']}) -%}
        {%- elif kind['accepts'] != 'any' and data_type not in kind['accepts'] -%}
            {%- do problems.append(
                "column " ~ column ~ " (logml's " ~ name ~ ") is " ~ data_type ~ "; it must be "
                ~ kind['accepts'] | join(' or ') ~ ": map " ~ name ~ " to a column of such a type"
                ~ (" or leave it out (MAP='" ~ name ~ "=')" if not wanted['required'] else "")
                ~ ", or read the source through a view that casts it"
            ) -%}
        {%- elif name == 'id' -%}
            {%- do read.update({name: adapter.quote(present.name)}) -%}
        {%- elif data_type == 'timestamp without time zone' -%}
            {%- do read.update({name: '(' ~ adapter.quote(present.name) ~ " at time zone 'UTC')"}) -%}
        {%- else -%}
            {%- do read.update({name: adapter.quote(present.name) ~ '::' ~ kind['read_as']}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if problems -%}
        {{ exceptions.raise_compiler_error(
            "the log source " ~ relation ~ " cannot be read (docs/your-table.md):\n  - "
            ~ problems | join("\n  - ") ~ "\n(make check-source shows every column it found)"
        ) }}
    {%- endif -%}
    {{ return(read) }}
{% endmacro %}

{#- The level expression of staging: the source's level column through the level names. -#}
{% macro log_source_level(level_sql) %}
    {{- normalize_level(level_sql, var('level_names'), log_source().levels) -}}
{% endmacro %}

{#- The configured source's identity as a SQL string literal. -#}
{% macro log_source_literal() %}
    {{- "'" ~ log_source().identity | replace("'", "''") ~ "'" -}}
{% endmacro %}
