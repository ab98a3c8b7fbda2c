"""The one shared way to set up what tests (every tier) and benchmarks need: databases and
servers (`db`), the pipeline - project copies, loading, exporting, running dbt - (`pipeline`),
and the API (`api`). Import it as `tests.python.harness`."""
