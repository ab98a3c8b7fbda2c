"""What only the tests need: the browser (`browser`), a Citus cluster of a test's own (`citus`),
a webhook receiver (`webhook`) and the GitHub workflows read as data (`workflows`). What tests
and benchmarks share is in dev/ (dev.pipeline, dev.db, dev.api_server, dev.api_load)."""
