"""``python -m sfcl.cli`` / ``torchrun ... -m sfcl.cli``."""

import sys

from sfcl.cli import main

sys.exit(main())
