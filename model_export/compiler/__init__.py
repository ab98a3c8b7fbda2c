"""The compiler: fitted scikit-learn Pipelines -> exact PostgreSQL SQL (dbt macros + seeds).

Three layers, as in m2cgen, each in its own place:

- `assemblers/` (one module per model family: trees, isolation_forest, linear, text,
  detector) turn fitted estimators into the intermediate form and own the exactness rules
  (what is computed, in which order, in which precision);
- `ir` is that form: m2cgen's AST plus the few nodes scoring needs (named per-row bindings,
  sums over a vocabulary seed, a sub-program memoized by key, seeds as data), each node
  checking its invariants;
- `interpreters/postgresql.py` turns it into SQL, and is the only module here that writes
  SQL (a second dialect is a second interpreter).

`pipeline` (compile_pipeline: one Pipeline, one macro) and `scorer` (compile_scorer: both
default models in one macro) put assemblers and interpreter together; `project_files` writes
the result into a dbt project, `render` renders the macros outside dbt (verify, tests).
"""
