"""model_export: train scikit-learn Pipelines on the logs in the database, evaluate them on
held-out (newest) rows, keep the model registry, and compile the Pipelines to SQL
(`model_export.compiler`) that dbt runs; `verify` checks that SQL against the Pipelines."""
