"""Fixtures for the robustsk.stats tests (Python and, when available, R)."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, settings

try:  # let the suite run from a plain checkout (no pip install)
    import robustsk.stats  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

GOLDEN = Path(__file__).parent / "golden"

# Small, deterministic hypothesis runs: the whole stats suite stays < 60 s.
settings.register_profile(
    "robustsk-stats", max_examples=30, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
STATS_SETTINGS = settings.get_profile("robustsk-stats")


@pytest.fixture(scope="session")
def golden():
    """Read a CSV written by tests/stats/golden/make_golden.R."""

    def read(name):
        return pd.read_csv(GOLDEN / name)

    return read


@pytest.fixture(scope="session")
def r_backend():
    """Skip unless rpy2, R and the R twins load (they do in CI)."""
    pytest.importorskip("rpy2", reason="rpy2 not installed (pip install rpy2==3.5.17)")
    from robustsk.stats import r_available

    if not r_available():
        pytest.skip("R or the r_compat twins could not be loaded through rpy2")
    return "r"


def vectors_from_counts(n11, b, c, n22):
    """Paired vectors with the given 2x2 table of (a, b) outcomes."""
    a = np.repeat([True, True, False, False], [n11, b, c, n22])
    bb = np.repeat([True, False, True, False], [n11, b, c, n22])
    return a, bb


@pytest.fixture(scope="session")
def from_counts():
    """``from_counts(n11, b, c, n22) -> (correct_a, correct_b)``."""
    return vectors_from_counts
