"""``python -m hivetrace``: the same command line as ``hivetrace``."""

from __future__ import annotations

import sys

from hivetrace.cli import main

if __name__ == "__main__":
    sys.exit(main())
