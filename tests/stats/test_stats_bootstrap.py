"""paired_bootstrap: a hand-computed case, R golden values, parity given indices."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import numpy as np
import pandas as pd
import pytest

from robustsk.stats import PairedBootstrapResult, bootstrap_indices, paired_bootstrap

# Small, deterministic hypothesis runs keep the stats suite well under 60 s.
STATS_SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])



def test_hand_computed_percentile_interval():
    # Three examples, four resamples given by hand (Efron & Tibshirani 1993,
    # ch. 13: the percentile interval is the alpha/2 and 1-alpha/2 quantiles
    # of the bootstrap replicates).
    a = [True, True, False]
    b = [False, True, False]
    idx = np.array([[0, 0, 0], [1, 1, 2], [0, 1, 2], [2, 2, 2]])
    res = paired_bootstrap(a, b, indices=idx, alpha=0.5)
    np.testing.assert_allclose(res.distribution, [1, 0, 1 / 3, 0])
    # sorted replicates 0, 0, 1/3, 1: type-7 quantiles at 0.25 and 0.75.
    assert res.low == pytest.approx(0.0)
    assert res.high == pytest.approx(1 / 3 + 0.25 * (1 - 1 / 3))
    assert res.estimate == pytest.approx(1 / 3)
    assert res.standard_error == pytest.approx(np.std([1, 0, 1 / 3, 0], ddof=1))
    assert (res.accuracy_a, res.accuracy_b, res.n, res.n_resamples) == (2 / 3, 1 / 3, 3, 4)


def test_golden_values_from_r(golden):
    data = golden("bootstrap_data.csv")
    idx = golden("bootstrap_indices.csv").to_numpy()
    for row in golden("bootstrap.csv").itertuples():
        res = paired_bootstrap(data.correct_a, data.correct_b, indices=idx, alpha=row.alpha)
        assert res.estimate == pytest.approx(row.estimate, abs=1e-12)
        assert res.low == pytest.approx(row.low, abs=1e-12)
        assert res.high == pytest.approx(row.high, abs=1e-12)
        assert res.standard_error == pytest.approx(row.standard_error, rel=1e-10)


def test_random_state_reproducible_and_used():
    rng = np.random.default_rng(0)
    a, b = rng.random(50) < 0.7, rng.random(50) < 0.6
    r1 = paired_bootstrap(a, b, n_resamples=300, random_state=3)
    r2 = paired_bootstrap(a, b, n_resamples=300, random_state=3)
    r3 = paired_bootstrap(a, b, n_resamples=300, random_state=4)
    np.testing.assert_array_equal(r1.distribution, r2.distribution)
    assert not np.array_equal(r1.distribution, r3.distribution)
    same = paired_bootstrap(a, b, indices=bootstrap_indices(50, 300, random_state=3))
    np.testing.assert_array_equal(same.distribution, r1.distribution)
    assert isinstance(r1, PairedBootstrapResult) and r1.n_resamples == 300


def test_identical_defenses_give_a_degenerate_interval():
    a = [1, 0, 1, 1, 0]
    res = paired_bootstrap(a, a, n_resamples=50, random_state=0)
    assert (res.estimate, res.low, res.high, res.standard_error) == (0.0, 0.0, 0.0, 0.0)


def test_tidy_frame_input():
    frame = pd.DataFrame({"example_id": [0, 1, 2, 0, 1, 2], "eps": 0.1, "attack": "pgd",
                          "defense": list("aaabbb"), "correct": [1, 1, 0, 0, 1, 0]})
    idx = np.array([[0, 1, 2], [0, 0, 0]])
    assert paired_bootstrap(frame, indices=idx).estimate == pytest.approx(1 / 3)


@STATS_SETTINGS
@given(n=st.integers(1, 40), seed=st.integers(0, 2**16), n_resamples=st.integers(1, 200),
       alpha=st.sampled_from([0.01, 0.05, 0.1, 0.5, 0.9]), p=st.floats(0, 1))
def test_parity_with_r(r_backend, n, seed, n_resamples, alpha, p):
    rng = np.random.default_rng(seed)
    a = rng.random(n) < p
    b = rng.random(n) < 0.5
    idx = bootstrap_indices(n, n_resamples, random_state=seed)
    py = paired_bootstrap(a, b, indices=idx, alpha=alpha)
    r = paired_bootstrap(a, b, indices=idx, alpha=alpha, backend=r_backend)
    assert type(r) is type(py)
    np.testing.assert_allclose(r.distribution, py.distribution, atol=1e-12)
    for field in ("estimate", "low", "high", "accuracy_a", "accuracy_b"):
        assert getattr(r, field) == pytest.approx(getattr(py, field), abs=1e-8), field
    assert r.standard_error == pytest.approx(py.standard_error, abs=1e-8, nan_ok=True)
    # Without explicit indices, both backends use the same random_state draw.
    r_seeded = paired_bootstrap(a, b, n_resamples=20, random_state=seed, backend=r_backend)
    py_seeded = paired_bootstrap(a, b, n_resamples=20, random_state=seed)
    np.testing.assert_allclose(r_seeded.distribution, py_seeded.distribution, atol=1e-12)
    assert (r_seeded.low, r_seeded.high) == pytest.approx((py_seeded.low, py_seeded.high), abs=1e-12)
