"""cochran_q: worked examples, identity with McNemar, R golden values, parity."""

import math
import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import numpy as np
import pandas as pd
import pytest

from robustsk.stats import CochranQResult, cochran_q, mcnemar

# Small, deterministic hypothesis runs keep the stats suite well under 60 s.
STATS_SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])


def vectors_from_counts(n11, b, c, n22):
    """Paired vectors with the given 2x2 table of (a, b) outcomes."""
    a = np.repeat([True, True, False, False], [n11, b, c, n22])
    bb = np.repeat([True, False, True, False], [n11, b, c, n22])
    return a, bb


# Worked example of the Cochran test in the WaveMetrics Igor Pro statistics
# manual (StatsCochranTest, "wave1"): 9 blocks x 5 treatments, Q = 5.56522,
# p = 0.234056; by hand Q = 4 (5 * 64 - 16^2) / (5 * 16 - 34) = 256 / 46.
IGOR = np.array([
    [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 1, 1], [0, 1, 0, 1, 1], [0, 1, 0, 1, 0],
    [1, 1, 0, 1, 0], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0], [1, 0, 0, 0, 0],
])


def test_igor_worked_example():
    res = cochran_q(IGOR)
    assert isinstance(res, CochranQResult)
    assert res.statistic == pytest.approx(256 / 46, rel=1e-12)
    assert round(res.pvalue, 6) == 0.234056
    assert (res.df, res.k, res.n) == (4, 5, 9)
    assert len(res.pairwise) == 10


def test_k2_equals_mcnemar_without_correction():
    # With two groups Q is McNemar's statistic without continuity correction;
    # Agresti (2013, Table 11.1): 17.36.
    a, b = vectors_from_counts(794, 150, 86, 570)
    q = cochran_q(a, b)
    m = mcnemar(a, b, exact=False, correction=False)
    assert q.statistic == pytest.approx(m.statistic, rel=1e-12)
    assert round(q.statistic, 2) == 17.36
    assert q.pvalue == pytest.approx(m.pvalue, rel=1e-10)


def test_all_rows_constant_gives_nan_with_warning():
    v = [True, False, True]
    with pytest.warns(RuntimeWarning, match="same outcome"):
        res = cochran_q(v, v, v)
    assert math.isnan(res.statistic) and math.isnan(res.pvalue)
    assert (res.pairwise["pvalue"] == 1.0).all()


def _golden_datasets(golden):
    data = golden("cochran_data.csv")
    for d, part in data.groupby("dataset"):
        wide = part.pivot(index="example", columns="group", values="correct").to_numpy()
        yield d, wide


def test_golden_values_from_r(golden):
    expected = golden("cochran.csv").set_index("dataset")
    pairwise = golden("cochran_pairwise.csv")
    for d, wide in _golden_datasets(golden):
        for exact in (True, False):
            for adj in ("holm", "bonferroni", "hochberg", "hommel", "BH", "BY", "none"):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    res = cochran_q(wide, exact=exact, p_adjust=adj)
                want = expected.loc[d]
                assert res.statistic == pytest.approx(want.statistic, rel=1e-10, nan_ok=True)
                assert res.pvalue == pytest.approx(want.pvalue, rel=1e-9, nan_ok=True)
                pw = pairwise[(pairwise.dataset == d) & (pairwise.exact == exact) & (pairwise.p_adjust == adj)]
                got = res.pairwise
                assert list(got.group_a) == list(pw.group_a) and list(got.group_b) == list(pw.group_b)
                assert list(got.b) == list(pw.b) and list(got.c) == list(pw.c)
                for col in ("statistic", "pvalue", "pvalue_adjusted"):
                    np.testing.assert_allclose(got[col], pw[col], rtol=1e-9, atol=1e-12, err_msg=col)


def test_inputs_names_dataframe_and_tidy_frame():
    wide = pd.DataFrame(IGOR.astype(bool), columns=list("vwxyz"))
    res = cochran_q(wide)
    assert list(res.pairwise.group_a[:4]) == ["v"] * 4
    named = cochran_q(*IGOR.T, names=list("vwxyz"))
    assert named.statistic == res.statistic
    pd.testing.assert_frame_equal(named.pairwise, res.pairwise)
    tidy = wide.rename_axis("example_id").reset_index().melt(
        id_vars="example_id", var_name="defense", value_name="correct")
    tidy["eps"], tidy["attack"] = 0.1, "pgd"
    assert cochran_q(tidy.sample(frac=1, random_state=0)).statistic == res.statistic


def test_reject_follows_adjusted_pvalues():
    rng = np.random.default_rng(5)
    x = rng.random((80, 3)) < [0.2, 0.5, 0.9]
    res = cochran_q(x, alpha=0.01)
    assert (res.pairwise.reject == (res.pairwise.pvalue_adjusted <= 0.01)).all()
    assert (res.pairwise.pvalue_adjusted >= res.pairwise.pvalue - 1e-15).all()


matrices = st.integers(1, 25).flatmap(
    lambda n: st.integers(2, 5).flatmap(
        lambda k: st.lists(st.lists(st.booleans(), min_size=k, max_size=k), min_size=n, max_size=n)))


@STATS_SETTINGS
@given(rows=matrices, exact=st.booleans(),
       adj=st.sampled_from(["holm", "bonferroni", "hochberg", "hommel", "BH", "BY", "none"]))
def test_parity_with_r(r_backend, rows, exact, adj):
    x = np.array(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        py = cochran_q(x, exact=exact, p_adjust=adj)
        r = cochran_q(x, exact=exact, p_adjust=adj, backend=r_backend)
    assert type(r) is type(py)
    assert (r.df, r.k, r.n) == (py.df, py.k, py.n)
    assert r.statistic == pytest.approx(py.statistic, abs=1e-8, nan_ok=True)
    assert r.pvalue == pytest.approx(py.pvalue, abs=1e-8, nan_ok=True)
    assert list(r.pairwise.columns) == list(py.pairwise.columns)
    assert list(r.pairwise.group_a) == list(py.pairwise.group_a)
    assert (r.pairwise.reject == py.pairwise.reject).all()
    for col in ("b", "c", "statistic", "pvalue", "pvalue_adjusted"):
        np.testing.assert_allclose(r.pairwise[col], py.pairwise[col], atol=1e-8, err_msg=col)


@pytest.mark.parametrize("flag", ["exact", "correction"])
@pytest.mark.parametrize("value", [1, 0, "yes", None, 1.0])
def test_non_bool_flags_are_refused_as_mcnemar_refuses_them(flag, value):
    a, b = [1, 1, 0, 1, 0, 1], [1, 0, 0, 1, 1, 0]
    with pytest.raises(TypeError, match=f"{flag} must be True or False; got {value!r}"):
        cochran_q(a, b, [0, 1, 1, 1, 0, 0], **{flag: value})
    with pytest.raises(TypeError, match=f"{flag} must be True or False"):
        mcnemar(a, b, **{flag: value})
    cochran_q(a, b, **{flag: np.bool_(False)})  # numpy's bools are bools
