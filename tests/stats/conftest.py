"""Fixtures for the robustsk.stats tests (Python and, when available, R)."""

from pathlib import Path
import sys

import pandas as pd
import pytest

try:  # let the suite run from a plain checkout (no pip install)
    import robustsk.stats  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="session")
def golden():
    """Read a CSV written by tests/stats/golden/make_golden.R."""

    def read(name):
        return pd.read_csv(GOLDEN / name)

    return read


@pytest.fixture(scope="session")
def r_backend():
    """Skip unless rpy2, R and the R twins load (they do in CI)."""
    try:
        import rpy2  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"rpy2 not importable ({exc}); pip install rpy2==3.5.17")
    from robustsk.stats import r_available

    if not r_available():
        pytest.skip("R or the r_compat twins could not be loaded through rpy2")
    return "r"

