"""`python -m unseen` runs the CLI."""

import sys

from unseen.cli import main

sys.exit(main())
