"""`python -m causalclf ...` (and `accelerate launch -m causalclf ...`): the command line."""

import sys

from causalclf.cli import main

sys.exit(main())
