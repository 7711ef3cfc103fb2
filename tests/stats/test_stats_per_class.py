"""per_class_accuracy: R golden values, agreement with accuracy_interval, parity, bad input."""

import warnings

import numpy as np
import pytest

from robustsk.stats import PerClassAccuracy, accuracy_interval, per_class_accuracy


def test_golden_values_from_r(golden):
    data, want = golden("per_class_data.csv"), golden("per_class.csv")
    res = per_class_accuracy(data["correct"].to_numpy(), data["y"].to_numpy())
    assert isinstance(res, PerClassAccuracy)
    assert res.table["class"].tolist() == want["class"].tolist()
    assert res.table["successes"].tolist() == want["successes"].tolist()
    np.testing.assert_allclose(res.table["low"], want["low"], rtol=1e-9)
    np.testing.assert_allclose(res.table["high"], want["high"], rtol=1e-9)
    assert res.statistic == pytest.approx(want["statistic"].iloc[0], rel=1e-9)
    assert res.pvalue == pytest.approx(want["pvalue"].iloc[0], rel=1e-9)
    assert res.df == want["df"].iloc[0]


def test_each_class_interval_is_accuracy_interval_and_classes_subset():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 200)
    correct = rng.random(200) < np.array([0.9, 0.5, 0.7])[y]
    res = per_class_accuracy(correct, y, method="clopper-pearson", alpha=0.1)
    for row in res.table.itertuples():
        ref = accuracy_interval(correct[y == row._1], method="clopper-pearson", alpha=0.1)
        assert (row.low, row.high) == (ref.low, ref.high)
    assert res.pvalue < 1e-3
    sub = per_class_accuracy(correct, y, classes=[0, 2])
    assert sub.table["class"].tolist() == [0, 2] and sub.df == 1


def test_edge_cases_and_bad_input():
    with pytest.warns(RuntimeWarning, match="same outcome"):
        res = per_class_accuracy([True] * 20, [0] * 10 + [1] * 10)
    assert np.isnan(res.statistic)
    with pytest.warns(RuntimeWarning, match="expected count"):
        per_class_accuracy([1, 0, 1, 1, 0, 1], [0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="paired"):
        per_class_accuracy([1, 0, 1], [0, 1])
    with pytest.raises(ValueError, match=r"got an array of shape \(2, 2\)"):
        per_class_accuracy([1, 0, 1, 1], [[0, 1], [1, 0]])  # was flattened without a word
    with pytest.raises(ValueError, match="two or more classes"):
        per_class_accuracy([1, 0, 1], [0, 0, 0])
    with pytest.raises(ValueError, match="do not occur"):
        per_class_accuracy([1, 0, 1], [0, 1, 1], classes=[7])


@pytest.mark.parametrize("seed", [0, 1])
def test_parity_with_r(r_backend, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, 120)
    correct = rng.random(120) < 0.6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        py = per_class_accuracy(correct, y)
        r = per_class_accuracy(correct, y, backend=r_backend)
    assert r.statistic == pytest.approx(py.statistic, abs=1e-10)
    assert r.pvalue == pytest.approx(py.pvalue, abs=1e-10)
    np.testing.assert_allclose(r.table[["low", "high"]], py.table[["low", "high"]], atol=1e-10)


@pytest.mark.parametrize("y", [
    ["a", None, "b", "a"],
    ["a", np.nan, "b", "a"],
    np.array(["a", None, "b", "a"], dtype=object),
    pytest.param("string", id="pandas-string-NA"),
    pytest.param("object", id="pandas-object-NA"),
])
def test_missing_string_labels_are_refused_clearly(y):
    import pandas as pd
    if isinstance(y, str):
        y = pd.Series(["a", pd.NA, "b", "a"], dtype=y)
    with pytest.raises(ValueError, match="must not hold missing labels.*position 1.*pd.notna"):
        per_class_accuracy([1, 0, 1, 1], y)
