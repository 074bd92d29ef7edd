"""`python -m training`: the command line of `training.cli`."""

import sys

from training.cli import main

sys.exit(main())
