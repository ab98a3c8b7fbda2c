"""The docs site's own tooling: the reference pages generated from their sources
(reference.py) and the check that every repository path the docs name exists (paths.py)."""
