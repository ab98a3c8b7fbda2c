"""model_export: train scikit-learn pipelines on logs and compile them to exact PostgreSQL SQL.

Layers, as in m2cgen: `assemblers` turn fitted estimators into m2cgen AST nodes, `interpreter`
turns that AST into PostgreSQL expressions, `text_sql` compiles fitted text vectorizers to SQL
over a vocabulary seed, and `compiler` puts the pieces together into dbt macros and seeds.
"""
