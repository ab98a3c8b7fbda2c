"""ingest: getting logs into the source table (`log_entries`), the way a user's application
would: the table exactly as the old system defined it, and bulk loads with COPY.

Sources: `generate` (built-in realistic application logs), `loghub` (loghub structured CSVs),
`file` (plain text with a named format or a regex) and `jsonl` (JSON lines).


Policy for bad input (tested exactly in tests/python/test_loading_bad_input.py):
- A partly bad file loads exactly its good rows. Every rejected line is recorded in
  `log_load_rejects` (load_id, source, line_number, reason, detail, excerpt, loaded_at) and
  counted per reason in the printed summary and in `log_loads.reject_counts`. Reasons:
  invalid_utf8, line_too_long (over 1 MB), broken_csv_row, unparsable_line, invalid_json,
  empty_message (empty, blank, NULL or missing), bad_timestamp, nul_character,
  value_too_long, bad_value, duplicate_log_id (earlier in the same load, or already in the
  table: re-loading a file skips its rows and counts them).
- An unknown level is not a reject: the row is loaded with level NULL (what staging calls
  unknown), the raw level is kept in structured_data.raw_level, and the rows are counted.
- A whole load (all files of one command) is one transaction: an error or an interrupt
  leaves nothing behind, not even reject records. A missing file, an unknown format or a
  missing source table stops the load before anything is read (exit code 2).
"""
