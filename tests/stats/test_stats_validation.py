"""Bad input: every statistic fails early with an error that says what to do."""

import numpy as np
import pandas as pd
import pytest

from robustsk import stats as rs

GOOD = [True, False, True, True]


@pytest.mark.parametrize(
    "bad, error, match",
    [
        ([], ValueError, "empty"),
        ([0, 1, 2], ValueError, "element 2"),
        ([1.0, np.nan], ValueError, "element 1"),
        (["yes", "no"], ValueError, "booleans or 0/1"),
        ([True, None], ValueError, "element 1"),
        (np.ones((2, 2)), ValueError, "1-d"),
        ("1010", TypeError, "1-d vector"),
        (1, TypeError, "1-d vector"),
        (pd.Series([True, pd.NA], dtype="boolean"), ValueError, "element 1"),
    ],
)
def test_bad_outcome_vectors(bad, error, match):
    with pytest.raises(error, match=match):
        rs.accuracy_interval(bad)
    with pytest.raises(error, match=match):
        rs.mcnemar(bad, bad)


def test_accepted_encodings_agree():
    ref = rs.accuracy_interval(GOOD)
    for enc in ([1, 0, 1, 1], np.array([1.0, 0.0, 1.0, 1.0]), pd.Series(GOOD), tuple(GOOD),
                np.array([1, 0, 1, 1], dtype=np.uint8)):
        assert rs.accuracy_interval(enc) == ref


def test_lengths_must_match():
    with pytest.raises(ValueError, match=r"correct_a: 4, correct_b: 3"):
        rs.mcnemar(GOOD, GOOD[:3])
    with pytest.raises(ValueError, match="same length"):
        rs.paired_bootstrap(GOOD, GOOD[:3], n_resamples=10)
    with pytest.raises(ValueError, match="same length"):
        rs.cochran_q(GOOD, GOOD, GOOD[:2])
    with pytest.raises(ValueError, match="same length"):
        rs.robust_accuracy_from_correct(GOOD, GOOD[:2])


def test_series_with_different_examples_are_rejected():
    a = pd.Series(GOOD, index=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="index different examples"):
        rs.mcnemar(a, pd.Series(GOOD, index=[0, 1, 2, 9]))
    # Same examples in another order are aligned on the index.
    b = pd.Series(GOOD[::-1], index=[3, 2, 1, 0])
    assert rs.mcnemar(a, b).b == 0 and rs.mcnemar(a, b).c == 0


def test_per_class_accuracy_pairs_two_series_by_their_index():
    """It paired correct and y by position (every other paired statistic aligned them)."""
    correct = pd.Series([True, False, True, True], index=[3, 2, 1, 0])
    y = pd.Series([0, 0, 1, 1], index=[0, 1, 2, 3])
    assert rs.per_class_accuracy(correct, y).table["accuracy"].tolist() == [1.0, 0.5]
    with pytest.raises(ValueError, match="index different examples"):
        rs.per_class_accuracy(correct, pd.Series([0, 0, 1, 1], index=[10, 11, 12, 13]))
    assert rs.per_class_accuracy(correct.to_numpy(), y.to_numpy()).table[
        "accuracy"].tolist() == [0.5, 1.0]  # arrays: by position


@pytest.mark.parametrize("alpha", [0, 1, -0.1, 1.5, 95])
def test_alpha_outside_unit_interval(alpha):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        rs.accuracy_interval(GOOD, alpha=alpha)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        rs.paired_bootstrap(GOOD, GOOD, alpha=alpha, n_resamples=5)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        rs.cochran_q(GOOD, GOOD, alpha=alpha)


def test_alpha_wrong_type():
    with pytest.raises(TypeError, match="real number"):
        rs.accuracy_interval(GOOD, alpha="0.05")
    with pytest.raises(TypeError, match="real number"):
        rs.accuracy_interval(GOOD, alpha=True)


def test_unknown_choices_suggest_a_fix():
    with pytest.raises(ValueError, match="Did you mean 'clopper-pearson'"):
        rs.accuracy_interval(GOOD, method="clopper_pearson")
    with pytest.raises(ValueError, match="method must be one of"):
        rs.accuracy_interval(GOOD, method="wald")
    with pytest.raises(ValueError, match="backend must be one of"):
        rs.accuracy_interval(GOOD, backend="julia")
    with pytest.raises(ValueError, match="p_adjust must be one of"):
        rs.cochran_q(GOOD, GOOD, p_adjust="fdr")
    with pytest.raises(ValueError, match="over must be one of"):
        rs.robust_accuracy_from_correct(GOOD, GOOD, over="clean")


def test_cochran_needs_two_defenses():
    with pytest.raises(ValueError, match="two or more defenses; got 1"):
        rs.cochran_q(GOOD)
    with pytest.raises(ValueError, match="got 0"):
        rs.cochran_q()
    with pytest.raises(ValueError, match="names has 1 entries for 2 groups"):
        rs.cochran_q(GOOD, GOOD, names=["a"])


def test_bootstrap_indices_are_checked():
    with pytest.raises(ValueError, match="shape"):
        rs.paired_bootstrap(GOOD, GOOD, indices=np.zeros((5, 3), dtype=int))
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        rs.paired_bootstrap(GOOD, GOOD, indices=np.full((5, 4), 4))
    with pytest.raises(TypeError, match="integers"):
        rs.paired_bootstrap(GOOD, GOOD, indices=np.full((5, 4), 0.5))
    with pytest.raises(ValueError, match="disagrees"):
        rs.paired_bootstrap(GOOD, GOOD, indices=np.zeros((5, 4), dtype=int), n_resamples=6)
    with pytest.raises(ValueError, match="positive whole number"):
        rs.paired_bootstrap(GOOD, GOOD, n_resamples=0)
    with pytest.raises(ValueError, match="positive whole number"):
        rs.paired_bootstrap(GOOD, GOOD, n_resamples=10.5)
    with pytest.raises(TypeError, match="random_state must be.*got 'x'"):
        rs.paired_bootstrap(GOOD, GOOD, n_resamples=10, random_state="x")


@pytest.mark.parametrize("bad", [
    {True, False}, {0: True, 1: False}, (v for v in GOOD), iter(GOOD)])
def test_unordered_or_lengthless_outcomes_are_named(bad):
    with pytest.raises(TypeError, match=f"got a {type(bad).__name__}, which has no order"):
        rs.accuracy_interval(bad)


def test_whole_number_floats_count_as_counts():
    """R's numbers are doubles: 100 from R (reticulate) arrives as 100.0."""
    assert rs.mcnemar_power(100.0, 0.05, 0.2).power == rs.mcnemar_power(100, 0.05, 0.2).power
    a = rs.paired_bootstrap(GOOD * 5, GOOD[::-1] * 5, n_resamples=200.0, random_state=0)
    b = rs.paired_bootstrap(GOOD * 5, GOOD[::-1] * 5, n_resamples=200, random_state=0)
    assert (a.low, a.high) == (b.low, b.high)
    for bad in (100.5, True, float("nan"), "100"):
        with pytest.raises(ValueError, match=r"n must be a positive whole number.*got"):
            rs.mcnemar_power(bad, 0.05, 0.2)


def test_power_given_as_a_percentage_is_explained():
    with pytest.raises(ValueError, match="power must be.*0.8 for an 80%.*not a percentage"):
        rs.mcnemar_sample_size(0.05, 0.1, power=80)


def test_r_backend_missing_gives_install_instructions(monkeypatch):
    from robustsk.stats import _rbackend

    def broken_import(*args, **kwargs):
        raise _rbackend.RBackendError(f"backend='r' could not start R. {_rbackend.INSTALL_HINT}")

    monkeypatch.setattr(_rbackend, "_load", broken_import)
    with pytest.raises(ImportError, match="apt-get install .*r-base-core.*pip install rpy2==3.5.17"):
        rs.accuracy_interval(GOOD, backend="r")


def test_r_backend_without_rpy2(monkeypatch):
    import builtins

    from robustsk.stats import _rbackend

    real_import = builtins.__import__

    def no_rpy2(name, *args, **kwargs):
        if name.startswith("rpy2"):
            raise ImportError("No module named 'rpy2'")
        return real_import(name, *args, **kwargs)

    # __import__ runs for every import statement, cached modules included,
    # so R itself is never torn down.
    monkeypatch.setattr(_rbackend, "_STATE", {"env": None})
    monkeypatch.setattr(builtins, "__import__", no_rpy2)
    with pytest.raises(ImportError, match="pip install rpy2==3.5.17"):
        rs.mcnemar(GOOD, GOOD, backend="r")
