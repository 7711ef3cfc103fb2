"""robustness_curve: Dobson's beetle data, R golden values, separation, parity."""

import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from robustsk.stats import RobustnessCurve, SeparationError, SeparationWarning, robustness_curve
from robustsk.stats.curve import separated_1d

# Small, deterministic hypothesis runs keep the stats suite well under 60 s.
STATS_SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])


matplotlib.use("Agg")


def beetles():
    """Bliss (1935) beetle mortality, one row per beetle; correct = survived."""
    dose = [1.6907, 1.7242, 1.7552, 1.7842, 1.8113, 1.8369, 1.8610, 1.8839]
    n = [59, 60, 62, 56, 63, 59, 62, 60]
    killed = [6, 13, 18, 28, 52, 53, 61, 60]
    eps = np.repeat(dose, n)
    correct = np.concatenate([[False] * k + [True] * (m - k) for k, m in zip(killed, n)])
    return pd.DataFrame({"example_id": np.arange(len(eps)), "eps": eps, "attack": "cs2", "correct": correct})


def test_beetle_mortality_textbook():
    # Dobson & Barnett (2008), An Introduction to Generalized Linear Models,
    # 3rd ed., Section 7.3: logit(P(killed)) = -60.72 + 34.27 dose, standard
    # errors 5.18 and 2.91. Survival flips the signs.
    res = robustness_curve(beetles(), cov_type="nonrobust")
    assert isinstance(res, RobustnessCurve)
    assert res.coefficients.round(2).tolist() == [60.72, -34.27]
    assert np.sqrt(np.diag(res.cov)).round(2).tolist() == [5.18, 2.91]
    assert not res.separation and res.converged


def test_model_based_covariance_is_the_inverse_information_at_the_estimate():
    """statsmodels' IRLS reports it at the previous iterate's weights (off by ~1e-6)."""
    rng = np.random.default_rng(3)
    n = 300
    eps = np.tile([0.0, 0.05, 0.1, 0.2], n)
    defense = np.repeat(["a", "b"], 2 * n)
    logit = np.where(defense == "a", 2.0 - 10 * eps, 1.0 - 4 * eps)
    frame = pd.DataFrame({"example_id": np.repeat(np.arange(n), 4), "eps": eps, "attack": "pgd",
                          "defense": defense, "correct": rng.random(4 * n) < 1 / (1 + np.exp(-logit))})
    res = robustness_curve(frame, cov_type="nonrobust")
    # the design written out by hand: intercept, eps, defense b, eps x defense b
    b = (defense == "b").astype(float)
    X = np.column_stack([np.ones_like(eps), eps, b, eps * b])
    assert res.coefficients.index.tolist() == ["intercept", "eps", "defense[T.b]",
                                               "eps:defense[T.b]"]
    mu = 1 / (1 + np.exp(-(X @ res.coefficients.to_numpy())))
    info = X.T @ (X * (mu * (1 - mu))[:, None])
    np.testing.assert_allclose(res.cov.to_numpy() @ info, np.eye(4), atol=1e-9)


def test_saturated_two_level_fit_equals_observed_proportions():
    # With two eps levels, intercept + slope is saturated: fitted = observed.
    frame = pd.DataFrame({"example_id": np.tile(np.arange(10), 2), "eps": np.repeat([0.0, 0.5], 10),
                          "attack": "pgd", "correct": [1] * 8 + [0] * 2 + [1] * 3 + [0] * 7})
    res = robustness_curve(frame, grid=[0.0, 0.5])
    np.testing.assert_allclose(res.curve.fitted, [0.8, 0.3], atol=1e-10)
    assert (res.curve.low < res.curve.fitted).all() and (res.curve.fitted < res.curve.high).all()


def test_golden_values_from_r(golden):
    data = golden("curve_data.csv")
    grid = sorted(golden("curve.csv").eps.unique())
    coef = golden("curve_coef.csv")
    for (cov_type, alpha), want in golden("curve.csv").groupby(["cov_type", "alpha"], sort=False):
        res = robustness_curve(data, cov_type=cov_type, alpha=alpha, grid=grid)
        got = res.curve.sort_values(["defense", "eps"]).reset_index(drop=True)
        want = want.sort_values(["defense", "eps"]).reset_index(drop=True)
        assert list(got.defense) == list(want.defense)
        for col in ("eps", "fitted", "low", "high"):
            np.testing.assert_allclose(got[col], want[col], atol=1e-9, err_msg=col)
        c = coef[coef.cov_type == cov_type].set_index("term")
        np.testing.assert_allclose(res.coefficients[c.index], c.estimate, rtol=1e-9)
        np.testing.assert_allclose(np.sqrt(np.diag(res.cov.loc[c.index, c.index])), c.se, rtol=1e-8)
    assert res.n_examples == 60 and res.n_obs == len(data)


def test_cluster_errors_differ_from_model_based(golden):
    data = golden("curve_data.csv")
    cl = robustness_curve(data, grid=[0.1])
    nr = robustness_curve(data, grid=[0.1], cov_type="nonrobust")
    np.testing.assert_allclose(cl.curve.fitted, nr.curve.fitted)
    assert not np.allclose(cl.curve.low, nr.curve.low)


def _separated_frame():
    # An undefended model survives eps <= 0.1 and nothing above.
    return pd.DataFrame({"example_id": np.tile(np.arange(10), 3), "eps": np.repeat([0.0, 0.1, 0.2], 10),
                         "attack": "pgd", "correct": np.repeat([True, True, False], 10)})


def test_separation_raises_by_default():
    with pytest.raises(SeparationError, match="perfectly predicted") as info:
        robustness_curve(_separated_frame())
    assert info.value.separated == ("all",)


def test_separation_warns_and_reports_observed_proportions():
    frame = _separated_frame().assign(defense="none")
    other = frame.assign(defense="madry", correct=np.r_[[1] * 9 + [0], [1] * 6 + [0] * 4, [1] * 3 + [0] * 7])
    both = pd.concat([frame, other])
    with pytest.warns(SeparationWarning):
        res = robustness_curve(both, on_separation="warn", grid=[0.0, 0.05, 0.2])
    assert res.separation and res.separated == ("none",)
    none = res.curve[res.curve.defense == "none"]
    np.testing.assert_array_equal(none.fitted.to_numpy(), [1.0, np.nan, 0.0])
    assert none.low.isna().all() and none.high.isna().all()
    alone = robustness_curve(other, grid=[0.0, 0.05, 0.2])
    np.testing.assert_allclose(res.curve[res.curve.defense == "madry"].fitted, alone.curve.fitted, atol=1e-10)
    assert list(res.coefficients.index) == ["intercept", "eps"]  # no huge coefficients


def _separated_lp(eps, y):
    """Konis (2007) LP check: some beta != 0 with s_i x_i'beta >= 0 for all i."""
    x = np.column_stack([np.ones_like(eps), eps])
    s = np.where(y, 1.0, -1.0)[:, None] * x
    res = linprog(-s.sum(axis=0), A_ub=-s, b_ub=np.zeros(len(y)), bounds=[(-1, 1), (-1, 1)])
    return -res.fun > 1e-9


small_data = st.integers(2, 4).flatmap(lambda k: st.tuples(
    st.lists(st.sampled_from([0.0, 0.1, 0.2, 0.3][:k]), min_size=2, max_size=12),
    st.lists(st.booleans(), min_size=12, max_size=12)))


@STATS_SETTINGS
@given(data=small_data)
def test_exact_separation_check_agrees_with_linear_programming(data):
    eps, y = data
    eps = np.array(eps)
    y = np.array(y[: len(eps)])
    if len(np.unique(eps)) < 2:
        return
    assert separated_1d(eps, y) == _separated_lp(eps, y)


def test_frame_checks():
    frame = _separated_frame()
    with pytest.raises(ValueError, match="lacks the column"):
        robustness_curve(frame.drop(columns="eps"))
    with pytest.raises(ValueError, match="at least two"):
        robustness_curve(frame[frame.eps == 0])
    two = pd.concat([frame, frame.assign(attack="fgsm")])
    with pytest.raises(ValueError, match="attack="):
        robustness_curve(two)
    with pytest.raises(ValueError, match="more than one row"):
        robustness_curve(pd.concat([frame, frame]))


def test_worst_case_over_attacks():
    rng = np.random.default_rng(1)
    base = pd.DataFrame({"example_id": np.tile(np.arange(40), 4), "eps": np.repeat([0, 0.1, 0.2, 0.3], 40),
                         "attack": "pgd"})
    pgd = base.assign(correct=rng.random(160) < 0.9 - 2 * base.eps)
    fgsm = base.assign(attack="fgsm", correct=rng.random(160) < 0.95 - 1.5 * base.eps)
    both = pd.concat([pgd, fgsm])
    worst = robustness_curve(both, attack="worst-case", grid=[0.0])
    merged = pgd.correct.to_numpy() & fgsm.correct.to_numpy()
    manual = robustness_curve(base.assign(correct=merged), grid=[0.0])
    np.testing.assert_allclose(worst.curve.fitted, manual.curve.fitted)
    # an example lacking an attack would count as surviving it: refused, naming it
    with pytest.raises(ValueError, match=r"example_id 3 at eps=0.1 .* no row for \['fgsm'\]"):
        robustness_curve(both[~((both.attack == "fgsm") & (both.eps == 0.1)
                                 & (both.example_id == 3))], attack="worst-case")
    only_pgd = robustness_curve(both, attack="pgd", grid=[0.0])
    np.testing.assert_allclose(only_pgd.curve.fitted, robustness_curve(pgd, grid=[0.0]).curve.fitted)


def test_plot_is_agg_safe(tmp_path, golden):
    res = robustness_curve(golden("curve_data.csv"))
    ax = res.plot()
    assert len(ax.lines) == 3 and ax.get_xlabel() == "eps"
    ax.figure.savefig(tmp_path / "curve.png")
    import matplotlib.pyplot as plt

    fig, ax2 = plt.subplots()
    assert res.plot(ax=ax2) is ax2
    plt.close("all")


frames = st.tuples(st.integers(4, 15), st.integers(2, 4), st.integers(1, 3), st.integers(0, 2**16))


@STATS_SETTINGS
@given(spec=frames, cov_type=st.sampled_from(["cluster", "nonrobust"]), alpha=st.sampled_from([0.05, 0.2]))
def test_parity_with_r(r_backend, spec, cov_type, alpha):
    n_ex, n_eps, n_def, seed = spec
    rng = np.random.default_rng(seed)
    eps = np.linspace(0, 0.3, n_eps)
    defenses = ["d%d" % i for i in range(n_def)]
    rows = [(i, e, "pgd", d) for d in defenses for e in eps for i in range(n_ex)]
    frame = pd.DataFrame(rows, columns=["example_id", "eps", "attack", "defense"])
    frame["correct"] = rng.random(len(frame)) < 0.85 - 2 * frame.eps
    grid = [0.0, 0.1, 0.25]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeparationWarning)
        py = robustness_curve(frame, cov_type=cov_type, alpha=alpha, grid=grid, on_separation="warn")
        r = robustness_curve(frame, cov_type=cov_type, alpha=alpha, grid=grid, on_separation="warn",
                             backend=r_backend)
    assert type(r) is type(py)
    assert (r.separated, r.n_examples, r.n_obs) == (py.separated, py.n_examples, py.n_obs)
    pd.testing.assert_frame_equal(r.observed, py.observed)
    assert list(r.curve.defense) == list(py.curve.defense)
    for col in ("fitted", "low", "high"):
        np.testing.assert_allclose(r.curve[col], py.curve[col], atol=1e-8, err_msg=col)
    if len(py.coefficients):
        np.testing.assert_allclose(r.coefficients, py.coefficients, rtol=1e-6, atol=1e-8)
