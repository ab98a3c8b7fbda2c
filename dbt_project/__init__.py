"""Runs the dbt project: the embedded database, the source table, the loader, dbt itself."""
