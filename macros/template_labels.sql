{#
  on-run-start: the table of template labels that users fill (model_export/training/labels.py:
  `python -m model_export label`, or plain SQL) and the next export reads. Not a dbt model:
  its writers are people, and no run may rebuild it. Created by every dbt invocation, so the
  API (which lists the templates flagged most often without a label) and the label command
  find it from the first run on.
#}
{% macro create_template_labels() %}
    create schema if not exists {{ target.schema }};
    create table if not exists {{ target.schema }}.ml_template_labels (
        template_hash text primary key,
        is_anomaly boolean not null,
        example_message text not null,
        note text,
        labelled_at timestamptz not null default now()
    );
    comment on table {{ target.schema }}.ml_template_labels is
        'One label per log template (md5 of log_template, as ml_predictions.template_hash),'
        ' used by the next model export: python -m model_export label, or plain SQL'
{% endmacro %}
