"""``python -m mockserver`` runs the command line."""

import sys

from .serving.cli import main

sys.exit(main())
