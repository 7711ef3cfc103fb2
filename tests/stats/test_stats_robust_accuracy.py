"""robust_accuracy_from_correct: definitions, parity with R."""

import math
import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import numpy as np
import pytest

from robustsk.stats import RobustAccuracy, accuracy_interval, robust_accuracy_from_correct

# Small, deterministic hypothesis runs keep the stats suite well under 60 s.
STATS_SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])


CLEAN = [True, True, True, False, False]
ADV = [True, False, True, True, False]  # example 3 is "fixed" by the attack


def test_over_all_counts_clean_errors_as_failures():
    res = robust_accuracy_from_correct(CLEAN, ADV)
    assert isinstance(res, RobustAccuracy)
    assert (res.successes, res.n, res.n_total, res.over) == (2, 5, 5, "all")
    assert float(res) == 0.4


def test_over_clean_correct_is_conditional():
    res = robust_accuracy_from_correct(CLEAN, ADV, over="clean_correct")
    assert (res.successes, res.n) == (2, 3)
    assert res.estimate == pytest.approx(2 / 3)


def test_no_clean_correct_example_warns_and_gives_nan():
    with pytest.warns(RuntimeWarning, match="undefined"):
        res = robust_accuracy_from_correct([0, 0], [1, 1], over="clean_correct")
    assert math.isnan(res.estimate)
    with pytest.raises(ValueError, match="n=0"):
        res.interval()


def test_interval_uses_the_chosen_denominator():
    res = robust_accuracy_from_correct(CLEAN, ADV, over="clean_correct")
    assert res.interval("clopper-pearson") == accuracy_interval([1, 1, 0], method="clopper-pearson")


@STATS_SETTINGS
@given(rows=st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=40),
       over=st.sampled_from(["all", "clean_correct"]))
def test_parity_with_r(r_backend, rows, over):
    clean, adv = np.array(rows).T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        py = robust_accuracy_from_correct(clean, adv, over=over)
        r = robust_accuracy_from_correct(clean, adv, over=over, backend=r_backend)
        conditional = robust_accuracy_from_correct(clean, adv, over="clean_correct").estimate
    assert (r.successes, r.n, r.n_total, r.over) == (py.successes, py.n, py.n_total, py.over)
    assert r.estimate == pytest.approx(py.estimate, abs=1e-12, nan_ok=True)
    if not math.isnan(conditional):
        assert robust_accuracy_from_correct(clean, adv).estimate <= conditional
