"""What the tests and the benchmarks both need to set things up, outside the product: the
pipeline run the way a user runs it in a copy of the project (`pipeline`), queries, roles and
servers of their own (`db`), the API in process, in a thread or as a process (`api_server`), and
HTTP clients that load it while dbt writes (`api_load`). The product never imports it; test-only
helpers (browser, Citus cluster, webhook receiver, workflows) are in tests/python/harness/."""
