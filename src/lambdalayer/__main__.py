"""``python -m lambdalayer``."""

import sys

from lambdalayer.cli.main import main

sys.exit(main())
