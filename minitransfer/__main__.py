"""``python -m minitransfer ...`` runs the command line (see ``minitransfer.cli``)."""

import sys

from minitransfer.cli import main

sys.exit(main())
