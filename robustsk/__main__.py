"""``python -m robustsk report ...``: the robustsk command line (see :mod:`robustsk.report`)."""
import sys

from .report import main

if __name__ == "__main__":
    sys.exit(main())
