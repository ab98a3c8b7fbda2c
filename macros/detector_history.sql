{#-
  What scored lines count for in the anomaly detector's history (ml_detector_template_history),
  per model version, service ('' for none) and template: their lines, those logged after the
  version's training window ended (`trained_until`: the training lines are in the version's
  seed already) and those it flagged. ml_detector_template_history adds these counts of the
  lines a run scored; the retention (macros/retention.sql) subtracts them for the lines it
  removes, so both must count alike. `p`: the alias of the ml_predictions rows. A select list,
  grouped by its first three columns.
-#}
{% macro detector_history_counts(p, trained_until) -%}
{{ p }}.model_version,
coalesce({{ p }}.service, '') as service,
{{ p }}.template_hash,
count(*) as lines,
count(*) filter (
    where {{ p }}.logged_at > coalesce({{ trained_until }}, '-infinity'::timestamptz)
) as lines_after_training,
count(*) filter (where {{ p }}.is_anomaly) as flagged
{%- endmacro %}
