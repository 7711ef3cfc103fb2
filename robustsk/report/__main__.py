"""``python -m robustsk.report report ...``: the same command as ``python -m robustsk report``."""
import sys

from .cli import main

sys.exit(main())
