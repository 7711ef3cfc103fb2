"""compare_paired / compare_defenses / newcombe_paired_interval: golden values, pieces, parity."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import numpy as np
import pandas as pd
import pytest

from robustsk.stats import (
    DefenseComparison,
    cochran_q,
    compare_defenses,
    compare_paired,
    mcnemar,
    newcombe_paired_interval,
    paired_bootstrap,
)

STATS_SETTINGS = settings(max_examples=15, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])


def vectors_from_counts(n11, b, c, n22):
    a = np.repeat([True, True, False, False], [n11, b, c, n22])
    bb = np.repeat([True, False, True, False], [n11, b, c, n22])
    return a, bb


def test_newcombe_golden_values_from_r(golden):
    for row in golden("newcombe.csv").itertuples():
        a, b = vectors_from_counts(row.n11, row.n10, row.n01, row.n00)
        est, low, high = newcombe_paired_interval(a, b, alpha=row.alpha)
        assert est == pytest.approx(row.estimate, abs=1e-12)
        # abs 1e-7: with a == b the bound is sqrt of a difference of two equal squares,
        # which turns rounding residue of 1e-18 into 1e-9
        assert (low, high) == pytest.approx((row.low, row.high), rel=1e-9, abs=1e-7), row


@pytest.mark.parametrize("counts, expected", [
    # Fagerland, Lydersen & Laake (2017), chapter 8, and their package's tests:
    # Cavo et al. (2012), and a table whose phi is 0 after Newcombe's correction
    ((59, 6, 16, 80), (-0.0621, -0.1186, -0.0046)),
    ((1, 0, 0, 1), (0.0, -0.5734, 0.5734)),
])
def test_newcombe_published_values(counts, expected):
    a, b = vectors_from_counts(*counts)
    assert tuple(round(v, 4) for v in newcombe_paired_interval(a, b)) == expected


def test_a_dict_of_series_is_paired_on_the_index():
    """As mcnemar and a DataFrame pair them (the dict was paired by position)."""
    rng = np.random.default_rng(9)
    a, b = rng.random(80) < 0.7, rng.random(80) < 0.6
    order = rng.permutation(80)
    sa, sb = pd.Series(a), pd.Series(b[order], index=order)  # same examples, another order
    from_dict = compare_paired({"a": sa, "b": sb}).table
    from_arrays = compare_paired({"a": a, "b": b}).table
    pd.testing.assert_frame_equal(from_dict, from_arrays)
    assert from_dict.pvalue[0] == mcnemar(sa, sb).pvalue
    with pytest.raises(ValueError, match="index different examples"):
        compare_paired({"a": sa, "b": sb.iloc[:-1]})


@STATS_SETTINGS
@given(t=st.tuples(*[st.integers(0, 40)] * 4).filter(lambda t: sum(t) > 0))
def test_newcombe_interval_is_inside_minus_one_one_and_covers_the_estimate(t):
    a, b = vectors_from_counts(*t)
    est, low, high = newcombe_paired_interval(a, b)
    assert -1 - 1e-12 <= low <= est <= high <= 1 + 1e-12
    # swapping the defenses mirrors the interval
    est2, low2, high2 = newcombe_paired_interval(b, a)
    assert (est2, low2, high2) == pytest.approx((-est, -high, -low), abs=1e-12)


def test_one_frame_from_cochran_mcnemar_and_intervals():
    rng = np.random.default_rng(0)
    u = rng.random(300)
    correct = pd.DataFrame({"madry": u < 0.6, "trades": (u < 0.55) | (rng.random(300) < 0.08),
                            "standard": u < 0.1})
    res = compare_paired(correct)
    assert isinstance(res, DefenseComparison)
    q = cochran_q(correct)
    assert res.cochran.statistic == q.statistic
    pd.testing.assert_series_equal(res.table["pvalue_adjusted"], q.pairwise["pvalue_adjusted"], check_names=False)
    assert res.table[["defense_a", "defense_b"]].values.tolist() == [
        ["madry", "trades"], ["madry", "standard"], ["trades", "standard"]]
    np.testing.assert_allclose(res.table["difference"], res.table["accuracy_a"] - res.table["accuracy_b"])
    assert (res.table["low"] <= res.table["difference"]).all() and (res.table["difference"] <= res.table["high"]).all()
    assert res.accuracy["accuracy"].tolist() == pytest.approx(correct.mean().tolist())
    boot = compare_paired(correct, interval="bootstrap", n_resamples=500, random_state=3)
    ref = paired_bootstrap(correct["madry"], correct["standard"], n_resamples=500, random_state=3)
    assert (boot.table.loc[1, "low"], boot.table.loc[1, "high"]) == (ref.low, ref.high)


class _Lookup:
    """A fitted 'classifier' that predicts from a table of example ids (fast, exact)."""

    def __init__(self, clean_ok, adv_ok):
        self.clean_ok, self.adv_ok = np.asarray(clean_ok), np.asarray(adv_ok)

    def predict(self, X):
        ids = np.asarray(X)[:, 0].astype(int)
        attacked = np.asarray(X)[:, 1] > 0
        ok = np.where(attacked, self.adv_ok[ids], self.clean_ok[ids])
        return np.where(ok, 1, 0)


class _MarkAttack:
    def generate(self, estimator, X, y):
        out = np.array(X, dtype=float)
        out[:, 1] = 1.0
        return out


def test_compare_defenses_counts_clean_failures_as_failures():
    n = 40
    X = np.column_stack([np.arange(n), np.zeros(n)])
    y = np.ones(n, dtype=int)
    clean = np.arange(n) >= 5
    adv_a = np.arange(n) < 30  # "fixed" by the attack on 0..4: must not count
    adv_b = np.arange(n) < 12
    res = compare_defenses({"a": _Lookup(clean, adv_a), "b": _Lookup(np.ones(n, bool), adv_b)}, X, y, _MarkAttack())
    assert res.correct["a"].sum() == 25 and res.correct["b"].sum() == 12
    row = res.table.iloc[0]
    assert (row["b"], row["c"]) == (18, 5)
    with pytest.raises(ValueError, match="two or more defenses"):
        compare_defenses({"a": _Lookup(clean, adv_a)}, X, y, _MarkAttack())
    with pytest.raises(ValueError, match="same examples"):
        compare_defenses({"a": _Lookup(clean, adv_a), "b": _Lookup(clean, adv_b)}, X, y[:-1], _MarkAttack())


def test_unpaired_lengths_are_refused():
    with pytest.raises(ValueError, match="same length"):
        compare_paired({"a": [1, 0, 1], "b": [1, 1]})
    with pytest.raises(ValueError, match="same length"):
        newcombe_paired_interval([1, 0, 1], [1, 1])
    with pytest.raises(ValueError, match="interval must be one of"):
        compare_paired({"a": [1, 0], "b": [1, 1]}, interval="wald")


@settings(max_examples=5, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), k=st.integers(2, 4), n=st.integers(5, 60))
def test_parity_with_r(r_backend, seed, k, n):
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    correct = pd.DataFrame({f"d{j}": (u < rng.uniform(0.2, 0.8)) ^ (rng.random(n) < 0.1) for j in range(k)})
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        py = compare_paired(correct)
        r = compare_paired(correct, backend=r_backend)
    pd.testing.assert_frame_equal(py.table, r.table, check_exact=False, atol=1e-8, rtol=0, check_dtype=False)
    from robustsk.stats._rbackend import r_call

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        twin = r_call("paired_comparison", correct)
    np.testing.assert_allclose(twin["table"]["low"], py.table["low"], atol=1e-10)
    np.testing.assert_allclose(twin["table"]["high"], py.table["high"], atol=1e-10)
    np.testing.assert_allclose(twin["accuracy"]["low"], py.accuracy["low"], atol=1e-10)


@pytest.mark.parametrize("value", [1, 0, "no", None])
def test_exact_must_be_a_bool(value):
    with pytest.raises(TypeError, match=f"exact must be True or False; got {value!r}.*exact=True"):
        compare_paired({"a": [1, 0, 1, 1], "b": [0, 0, 1, 1]}, exact=value)
