import sys

from dbt_project.cli import main

sys.exit(main())
