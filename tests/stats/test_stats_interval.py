"""accuracy_interval: textbook values, R golden values, live R parity."""

import math

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from robustsk.stats import AccuracyInterval, accuracy_interval

# Small, deterministic hypothesis runs keep the stats suite well under 60 s.
STATS_SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])


METHODS = ["wilson", "clopper-pearson", "agresti-coull"]


def _vector(x, n):
    return [True] * x + [False] * (n - x)


# Newcombe (1998), Stat. Med. 17:857-872, Table II: method 3 (Wilson score,
# no continuity correction) and method 5 (Clopper-Pearson exact), 95%.
NEWCOMBE = [
    (81, 263, (0.2553, 0.3662), (0.2527, 0.3676)),
    (15, 148, (0.0624, 0.1605), (0.0578, 0.1617)),
    (0, 20, (0.0000, 0.1611), (0.0000, 0.1684)),
    (1, 29, (0.0061, 0.1718), (0.0009, 0.1776)),
]


@pytest.mark.parametrize("x, n, wilson, exact", NEWCOMBE)
def test_newcombe_table_ii(x, n, wilson, exact):
    w = accuracy_interval(_vector(x, n), method="wilson")
    cp = accuracy_interval(_vector(x, n), method="clopper-pearson")
    assert (round(w.low, 4), round(w.high, 4)) == wilson
    assert (round(cp.low, 4), round(cp.high, 4)) == exact
    assert w.estimate == x / n and w.n == n and w.successes == x


def test_agresti_coull_adds_two_successes_and_two_failures():
    # Agresti & Coull (1998): at z = 2 the interval is centred on (x+2)/(n+4).
    alpha = 2 * stats.norm.sf(2.0)
    res = accuracy_interval(_vector(7, 20), method="agresti-coull", alpha=alpha)
    centre = 9 / 24
    half = 2 * math.sqrt(centre * (1 - centre) / 24)
    assert res.low == pytest.approx(centre - half, abs=1e-12)
    assert res.high == pytest.approx(centre + half, abs=1e-12)
    assert res.estimate == 7 / 20  # the estimate stays x / n


def test_bounds_exact_at_zero_and_n():
    for method in METHODS:
        assert accuracy_interval([0, 0, 0], method=method).low == 0.0
        assert accuracy_interval([1, 1, 1], method=method).high == 1.0


def test_golden_values_from_r(golden):
    table = golden("intervals.csv")
    for row in table.itertuples():
        res = accuracy_interval(_vector(row.successes, row.n), method=row.method, alpha=row.alpha)
        assert res.low == pytest.approx(row.low, abs=1e-10), row
        assert res.high == pytest.approx(row.high, abs=1e-10), row


def test_result_type_is_frozen():
    res = accuracy_interval([1, 0, 1])
    assert isinstance(res, AccuracyInterval)
    with pytest.raises(AttributeError):
        res.low = 0.0


def test_inputs_series_and_tidy_frame():
    s = pd.Series([True, False, True, True])
    frame = pd.DataFrame({"example_id": range(4), "eps": 0.1, "attack": "pgd", "correct": s})
    assert accuracy_interval(s) == accuracy_interval(np.array([1, 0, 1, 1]))
    assert accuracy_interval(frame) == accuracy_interval(s)
    two_eps = pd.concat([frame, frame.assign(eps=0.2)])
    with pytest.raises(ValueError, match="single eps"):
        accuracy_interval(two_eps)


@STATS_SETTINGS
@given(n=st.integers(1, 60), frac=st.floats(0, 1), alpha=st.sampled_from([0.001, 0.05, 0.2, 0.5]),
       method=st.sampled_from(METHODS))
def test_interval_properties(n, frac, alpha, method):
    x = int(round(frac * n))
    res = accuracy_interval(_vector(x, n), method=method, alpha=alpha)
    assert 0.0 <= res.low <= res.high <= 1.0
    if method != "agresti-coull":  # AC is centred at (x + z^2/2) / (n + z^2)
        assert res.low <= res.estimate <= res.high
    wider = accuracy_interval(_vector(x, n), method=method, alpha=alpha / 2)
    assert wider.low <= res.low + 1e-12 and wider.high >= res.high - 1e-12


@STATS_SETTINGS
@given(n=st.integers(1, 80), frac=st.floats(0, 1), alpha=st.sampled_from([0.01, 0.05, 0.1, 0.37]),
       method=st.sampled_from(METHODS))
@example(n=1, frac=0.0, alpha=0.05, method="wilson")
@example(n=1, frac=1.0, alpha=0.05, method="clopper-pearson")
@example(n=2, frac=0.5, alpha=0.05, method="agresti-coull")
def test_parity_with_r(r_backend, n, frac, alpha, method):
    x = int(round(frac * n))
    py = accuracy_interval(_vector(x, n), method=method, alpha=alpha)
    r = accuracy_interval(_vector(x, n), method=method, alpha=alpha, backend=r_backend)
    assert type(r) is type(py)
    assert (r.n, r.successes, r.method) == (py.n, py.successes, py.method)
    for field in ("estimate", "low", "high"):
        assert getattr(r, field) == pytest.approx(getattr(py, field), abs=1e-8)
