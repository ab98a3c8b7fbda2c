"""Interpreters: the intermediate form (`ir`) -> code of one target, one module per SQL dialect."""
