"""robustness_curve(band="simultaneous"): Working-Hotelling band, R golden values, parity."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from robustsk.stats import robustness_curve

GRID = [0.0, 0.05, 0.1, 0.2, 0.3]


def test_golden_working_hotelling_band_from_r(golden):
    data, want = golden("curve_data.csv"), golden("curve_simultaneous.csv")
    res = robustness_curve(data, grid=GRID, band="simultaneous")
    assert res.band == "simultaneous"
    assert res.critical_value == pytest.approx(np.sqrt(stats.chi2.isf(0.05, 6)), rel=1e-12)
    assert res.critical_value == pytest.approx(want["critical_value"].iloc[0], rel=1e-12)
    got = res.curve.sort_values(["defense", "eps"]).reset_index(drop=True)
    want = want.sort_values(["defense", "eps"]).reset_index(drop=True)
    for col in ("fitted", "low", "high"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-6, atol=1e-8, err_msg=col)


def test_simultaneous_band_contains_the_pointwise_band(golden):
    data = golden("curve_data.csv")
    point = robustness_curve(data, grid=GRID)
    simul = robustness_curve(data, grid=GRID, band="simultaneous")
    assert point.critical_value == pytest.approx(stats.norm.isf(0.025))
    assert (simul.curve["low"] < point.curve["low"]).all()
    assert (simul.curve["high"] > point.curve["high"]).all()
    np.testing.assert_allclose(simul.curve["fitted"], point.curve["fitted"])
    one = robustness_curve(data[data.defense == "madry"], grid=GRID, band="simultaneous")
    assert one.critical_value == pytest.approx(np.sqrt(stats.chi2.isf(0.05, 2)))
    with pytest.raises(ValueError, match="band must be one of"):
        robustness_curve(data, band="scheffe")


def test_simultaneous_coverage_is_at_least_nominal_in_a_small_simulation():
    # independent rows (nonrobust covariance), true curve logit(p) = 1.5 - 8 eps
    rng = np.random.default_rng(0)
    eps = np.repeat([0.0, 0.1, 0.2, 0.3], 60)
    grid = np.linspace(0, 0.3, 13)
    truth = 1 / (1 + np.exp(-(1.5 - 8 * grid)))
    covered = {"pointwise": 0, "simultaneous": 0}
    n_sim = 30
    for _ in range(n_sim):
        y = rng.random(eps.size) < 1 / (1 + np.exp(-(1.5 - 8 * eps)))
        frame = pd.DataFrame({"example_id": np.arange(eps.size), "eps": eps, "attack": "a", "correct": y})
        for band in covered:
            c = robustness_curve(frame, grid=grid, band=band, cov_type="nonrobust").curve
            covered[band] += bool(((c["low"] <= truth) & (truth <= c["high"])).all())
    assert covered["simultaneous"] >= covered["pointwise"]
    assert covered["simultaneous"] / n_sim >= 0.85


def test_parity_with_r(r_backend, golden):
    data = golden("curve_data.csv")
    py = robustness_curve(data, grid=GRID, band="simultaneous")
    r = robustness_curve(data, grid=GRID, band="simultaneous", backend=r_backend)
    for col in ("fitted", "low", "high"):
        np.testing.assert_allclose(r.curve[col], py.curve[col], atol=1e-8, err_msg=col)
