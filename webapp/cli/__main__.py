"""`python -m webapp.cli` is the `tune` command."""

import sys

from webapp.cli import main

sys.exit(main())
