"""python -m model_export ..."""

from model_export.cli import main

raise SystemExit(main())
