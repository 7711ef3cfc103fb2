"""clopper_pearson_bound: R golden values, statsmodels, live R parity, closed forms, errors."""

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from robustsk.stats import ClopperPearsonBound, clopper_pearson_bound


def test_golden_values_from_r(golden):
    table = golden("clopper_pearson.csv")
    assert len(table) > 100
    for side in ("lower", "upper"):
        rows = table[table.side == side]
        for alpha in rows.alpha.unique():
            sub = rows[rows.alpha == alpha]
            res = clopper_pearson_bound(sub.successes.to_numpy(), sub.n.to_numpy(), alpha,
                                        side=side)
            np.testing.assert_allclose(res.bound, sub.bound, rtol=0, atol=1e-10)


@pytest.mark.parametrize("alpha", [0.001, 0.025, 0.2])
def test_agrees_with_statsmodels_beta_interval(alpha):
    # the one-sided alpha bound is an end of the two-sided 2 * alpha interval
    n = np.array([1, 5, 20, 100, 1000, 100000] * 3)
    x = np.concatenate([[0, 0, 0, 0, 0, 0], n[:6] // 3, n[:6]])
    low, high = proportion_confint(x, n, alpha=2 * alpha, method="beta")
    low, high = np.where(x == 0, 0.0, low), np.where(x == n, 1.0, high)
    np.testing.assert_allclose(clopper_pearson_bound(x, n, alpha).bound, low, atol=1e-10)
    np.testing.assert_allclose(clopper_pearson_bound(x, n, alpha, side="upper").bound, high,
                               atol=1e-10)


def test_closed_forms():
    # all n successes: alpha ** (1 / n) (Cohen et al.'s largest certifiable pA); none: 0
    for n in (1, 10, 100, 100000):
        assert clopper_pearson_bound(n, n, 0.001).bound == pytest.approx(0.001 ** (1 / n),
                                                                         rel=1e-12)
        assert clopper_pearson_bound(0, n, 0.001).bound == 0.0
        assert clopper_pearson_bound(0, n, 0.001, side="upper").bound == pytest.approx(
            1 - 0.001 ** (1 / n), rel=1e-10)
    assert clopper_pearson_bound(7, 20, 0.05).bound == pytest.approx(
        stats.beta.ppf(0.05, 7, 14), rel=1e-12)


def test_coverage_by_simulation():
    # an exact bound: P(bound > p) <= alpha for every p
    rng = np.random.default_rng(0)
    for p in (0.3, 0.9, 0.99):
        x = rng.binomial(50, p, size=4000)
        miss = (clopper_pearson_bound(x, 50, 0.1).bound > p).mean()
        assert miss <= 0.1 + 3 * np.sqrt(0.1 * 0.9 / 4000)


def test_shapes_and_type():
    scalar = clopper_pearson_bound(3, 10)
    assert isinstance(scalar, ClopperPearsonBound) and np.ndim(scalar.bound) == 0
    vec = clopper_pearson_bound([1, 2, 3], 10)
    assert vec.bound.shape == (3,) and np.all(np.diff(vec.bound) > 0)
    with pytest.raises(AttributeError):
        vec.alpha = 0.1


@pytest.mark.parametrize("kwargs, match", [
    ({"successes": 3, "n": 2}, "successes <= n"),
    ({"successes": -1, "n": 2}, "successes <= n"),
    ({"successes": 1, "n": 0}, "n >= 1"),
    ({"successes": 1.5, "n": 2}, "whole numbers"),
    ({"successes": 1, "n": 2, "alpha": 1.0}, "between 0 and 1"),
    ({"successes": 1, "n": 2, "alpha": 0.0}, "between 0 and 1"),
    ({"successes": 1, "n": 2, "side": "both"}, "must be one of"),
])
def test_bad_input(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        clopper_pearson_bound(**kwargs)


@pytest.mark.parametrize("side", ["lower", "upper"])
def test_parity_with_r(r_backend, side):
    x = np.array([0, 1, 17, 50, 99, 100, 100000])
    n = np.array([1, 3, 40, 50, 100, 100, 100000])
    for alpha in (0.001, 0.05):
        py = clopper_pearson_bound(x, n, alpha, side=side)
        r = clopper_pearson_bound(x, n, alpha, side=side, backend=r_backend)
        assert type(r) is type(py) and r.side == side
        np.testing.assert_allclose(r.bound, py.bound, rtol=0, atol=1e-10)


def test_scalar_counts_give_a_scalar_bound():
    from robustsk.stats import clopper_pearson_bound
    res = clopper_pearson_bound(5, 10)
    assert np.ndim(res.bound) == 0 and not isinstance(res.bound, np.ndarray)
    assert isinstance(clopper_pearson_bound([5, 6], 10).bound, np.ndarray)
    float_counts = clopper_pearson_bound(5.0, 10.0)  # was a 0-d array
    assert not isinstance(float_counts.bound, np.ndarray) and float_counts.bound == res.bound


def test_counts_beyond_r_integers(r_backend):
    """R's integers are 32-bit: counts of 2**31 and more go to R as (exact) doubles."""
    x, n = 3 * 10**9, 5 * 10**9
    for side in ("lower", "upper"):
        py = clopper_pearson_bound(x, n, 0.001, side=side)
        r = clopper_pearson_bound(x, n, 0.001, side=side, backend=r_backend)
        np.testing.assert_allclose(r.bound, py.bound, rtol=1e-12)
        r = clopper_pearson_bound(np.array([x, 5]), np.array([n, 10]), side=side, backend=r_backend)
        np.testing.assert_allclose(r.bound, clopper_pearson_bound([x, 5], [n, 10], side=side).bound,
                                   rtol=1e-10)
