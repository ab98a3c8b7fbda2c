"""The base every other package builds on: the settings (settings.py), the typed errors
(errors.py), the database and a command's connection (database.py) with the schema migrations
(migrations.py, macros/schema_migrations.sql), and running dbt (dbt_runner.py, cli.py)."""
