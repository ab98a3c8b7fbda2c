{#-
  The newest `column` that earlier runs of this incremental model stored (one index lookup
  where the column is indexed): a run reads only what came after it. On a full build, or the
  first one, -infinity: everything.
-#}
{% macro incremental_watermark(column) -%}
{%- if is_incremental() -%}
(select coalesce(max(stored.{{ column }}), '-infinity'::timestamptz) from {{ this }} as stored)
{%- else -%}
'-infinity'::timestamptz
{%- endif -%}
{%- endmacro %}
