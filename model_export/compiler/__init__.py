"""The compiler: fitted scikit-learn Pipelines -> exact PostgreSQL SQL (dbt macros + seeds).

Layers, as in m2cgen: `assemblers` turn fitted estimators into m2cgen AST nodes, the
interpreter in `interpreters/` turns that AST into SQL, `text_sql` compiles fitted text
vectorizers over a vocabulary seed, `pipeline` and `scorer` put the pieces together, and
`project_files` writes the result into a dbt project.
"""
