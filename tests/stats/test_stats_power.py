"""mcnemar_power / mcnemar_sample_size: brute-force R golden values, simulation, parity, bad input."""

import numpy as np
import pytest

from robustsk.stats import McNemarPower, mcnemar, mcnemar_power, mcnemar_sample_size


def test_golden_power_from_r_brute_force(golden):
    for row in golden("mcnemar_power.csv").itertuples():
        res = mcnemar_power(int(row.n), row.difference, row.discordance, alpha=row.alpha)
        assert res.power == pytest.approx(row.power, rel=1e-9, abs=1e-12), row


def test_golden_sample_size_from_r_brute_force(golden):
    for row in golden("mcnemar_sample_size.csv").itertuples():
        res = mcnemar_sample_size(row.difference, row.discordance, power=row.power)
        assert isinstance(res, McNemarPower)
        assert res.n == row.n and res.power >= row.power
        assert mcnemar_power(res.n - 1, row.difference, row.discordance).power < row.power


def test_power_agrees_with_a_simulation_of_the_test():
    rng = np.random.default_rng(0)
    n, p10, p01 = 80, 0.15, 0.05
    rejections = 0
    n_sim = 400
    for _ in range(n_sim):
        u = rng.random(n)
        a = u < 0.5 + p10
        b = (u < 0.5) | ((u >= 0.5 + p10) & (u < 0.5 + p10 + p01))
        rejections += mcnemar(a, b).pvalue <= 0.05
    exact = mcnemar_power(n, p10 - p01, p10 + p01).power
    se = np.sqrt(exact * (1 - exact) / n_sim)
    assert abs(rejections / n_sim - exact) < 4 * se


def test_power_grows_with_the_difference_and_the_level():
    low = mcnemar_power(300, 0.02, 0.1).power
    high = mcnemar_power(300, 0.06, 0.1).power
    assert low < high
    assert mcnemar_power(300, 0.04, 0.1, alpha=0.01).power < mcnemar_power(300, 0.04, 0.1, alpha=0.1).power
    assert mcnemar_power(300, 0.04, 0.1).power == pytest.approx(mcnemar_power(300, -0.04, 0.1).power)
    # no difference: the rejection rate is the (conservative) size of the exact test
    assert mcnemar_power(300, 0.0, 0.1).power <= 0.05


def test_bad_input():
    with pytest.raises(ValueError, match="discordance must be in"):
        mcnemar_power(100, 0.05, 0.0)
    with pytest.raises(ValueError, match="cannot exceed the discordance"):
        mcnemar_power(100, 0.2, 0.1)
    with pytest.raises(ValueError, match="positive whole number"):
        mcnemar_power(0, 0.05, 0.1)
    with pytest.raises(ValueError, match="non-zero"):
        mcnemar_sample_size(0.0, 0.1)
    with pytest.raises(ValueError, match="difference must be a finite number"):
        mcnemar_power(100, float("nan"), 0.1)
    with pytest.raises(TypeError, match="discordance must be a real number"):
        mcnemar_power(100, 0.05, "0.1")


@pytest.mark.parametrize("cfg", [(57, 0.1, 0.3), (200, -0.05, 0.2), (33, 0.3, 0.3)])
def test_parity_with_r(r_backend, cfg):
    n, d, psi = cfg
    py = mcnemar_power(n, d, psi)
    r = mcnemar_power(n, d, psi, backend=r_backend)
    assert r.power == pytest.approx(py.power, abs=1e-10)
    assert mcnemar_sample_size(d, psi, power=0.7, backend=r_backend).n == mcnemar_sample_size(d, psi, power=0.7).n
