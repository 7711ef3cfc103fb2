"""mcnemar: Agresti's textbook example, R golden values, R's edge conventions."""

import math
import warnings

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from robustsk.stats import McNemarResult, mcnemar

# Small, deterministic hypothesis runs keep the stats suite well under 60 s.
STATS_SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])


def vectors_from_counts(n11, b, c, n22):
    """Paired vectors with the given 2x2 table of (a, b) outcomes."""
    a = np.repeat([True, True, False, False], [n11, b, c, n22])
    bb = np.repeat([True, False, True, False], [n11, b, c, n22])
    return a, bb


counts = st.tuples(*[st.integers(0, 30)] * 4).filter(lambda t: sum(t) > 0)


def test_agresti_presidential_approval():
    # Agresti (2013), Categorical Data Analysis 3rd ed., Table 11.1: approval of
    # the president's performance in two surveys of the same 1600 people:
    # 794 approve/approve, 150 approve/disapprove, 86 disapprove/approve,
    # 570 disapprove/disapprove. z = (86 - 150) / sqrt(236) = -4.17, z^2 = 17.36.
    a, b = vectors_from_counts(794, 150, 86, 570)
    res = mcnemar(a, b, exact=False, correction=False)
    assert (res.b, res.c, res.n) == (150, 86, 1600)
    assert round(res.statistic, 2) == 17.36
    assert res.statistic == pytest.approx(64**2 / 236, rel=1e-12)
    assert res.pvalue == pytest.approx(2 * stats.norm.sf(64 / math.sqrt(236)), rel=1e-10)
    assert res.difference == pytest.approx((944 - 880) / 1600)


def test_exact_is_binomial_test_on_discordant_pairs():
    a, b = vectors_from_counts(10, 7, 1, 3)
    res = mcnemar(a, b)
    # Two-sided: 2 * P(X <= 1), X ~ Bin(8, 1/2) = 2 * 9 / 256.
    assert res.pvalue == pytest.approx(18 / 256, rel=1e-12)
    assert res.statistic == 7 and res.df is None


def test_r_conventions_at_the_edges():
    a, b = vectors_from_counts(3, 4, 4, 2)  # b == c: R skips the correction
    res = mcnemar(a, b, exact=False, correction=True)
    assert res.statistic == 0.0 and res.pvalue == 1.0
    assert "continuity" not in res.method
    a, b = vectors_from_counts(3, 0, 0, 2)  # no discordant pair
    assert mcnemar(a, b).pvalue == 1.0
    with pytest.warns(RuntimeWarning, match="b \\+ c = 0"):
        res = mcnemar(a, b, exact=False)
    assert math.isnan(res.statistic) and math.isnan(res.pvalue)


def test_golden_values_from_r(golden):
    for row in golden("mcnemar.csv").itertuples():
        a, b = vectors_from_counts(row.n11, row.b, row.c, row.n22)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = mcnemar(a, b, exact=bool(row.exact), correction=bool(row.correction))
        assert (res.b, res.c) == (row.b, row.c)
        for got, want in ((res.statistic, row.statistic), (res.pvalue, row.pvalue)):
            if math.isnan(want):
                assert math.isnan(got), row
            else:
                assert got == pytest.approx(want, rel=1e-9, abs=1e-12), row


def test_tidy_frame_is_paired_by_example_id():
    a, b = vectors_from_counts(5, 4, 1, 2)
    ids = list(range(12))
    frame = pd.DataFrame({
        "example_id": ids + ids[::-1], "eps": 0.03, "attack": "pgd",
        "defense": ["madry"] * 12 + ["trades"] * 12, "correct": list(a) + list(b[::-1]),
    })
    assert mcnemar(frame) == mcnemar(a, b)
    with pytest.raises(ValueError, match="exactly two defenses"):
        mcnemar(pd.concat([frame, frame[frame.defense == "madry"].assign(defense="none")]))


@STATS_SETTINGS
@given(t=counts)
def test_swapping_the_defenses(t):
    a, b = vectors_from_counts(*t)
    for exact in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ab, ba = mcnemar(a, b, exact=exact), mcnemar(b, a, exact=exact)
        assert (ab.b, ab.c) == (ba.c, ba.b)
        assert ab.pvalue == pytest.approx(ba.pvalue, nan_ok=True)
        assert math.isnan(ab.pvalue) or 0.0 <= ab.pvalue <= 1.0


@STATS_SETTINGS
@given(t=counts, exact=st.booleans(), correction=st.booleans())
@example(t=(3, 0, 0, 2), exact=False, correction=True)
@example(t=(3, 0, 0, 2), exact=True, correction=True)
@example(t=(0, 5, 5, 0), exact=False, correction=True)
@example(t=(0, 1, 0, 0), exact=False, correction=True)
@example(t=(0, 1, 0, 0), exact=True, correction=False)
def test_parity_with_r(r_backend, t, exact, correction):
    a, b = vectors_from_counts(*t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        py = mcnemar(a, b, exact=exact, correction=correction)
        r = mcnemar(a, b, exact=exact, correction=correction, backend=r_backend)
    assert isinstance(r, McNemarResult)
    assert (r.b, r.c, r.n, r.df, r.exact, r.correction, r.method) == (
        py.b, py.c, py.n, py.df, py.exact, py.correction, py.method)
    for field in ("statistic", "pvalue", "difference"):
        assert getattr(r, field) == pytest.approx(getattr(py, field), abs=1e-8, nan_ok=True), field


@pytest.mark.parametrize("flags", [{"exact": "False"}, {"exact": False, "correction": None}])
def test_exact_and_correction_must_be_booleans(flags):
    from robustsk.stats import mcnemar
    with pytest.raises(TypeError, match="must be True or False"):
        mcnemar([1, 0, 1], [1, 0, 0], **flags)
