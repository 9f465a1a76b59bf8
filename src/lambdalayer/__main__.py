"""``python -m lambdalayer``."""

import sys

from lambdalayer.cli import main

sys.exit(main())
