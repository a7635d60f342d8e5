"""``python -m honeytrace``: the same command line as ``honeytrace``."""

from __future__ import annotations

import sys

from honeytrace.local.cli import main

if __name__ == "__main__":
    sys.exit(main())
