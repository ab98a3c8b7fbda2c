"""Interpreters: the compiler's AST -> code of one target (one module per SQL dialect)."""
