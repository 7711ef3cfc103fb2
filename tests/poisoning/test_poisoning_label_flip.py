"""Label flipping, and poisoning_report's accuracy drop."""
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from robustsk.poisoning import LabelFlipResult, label_flip, poisoning_report


@pytest.fixture(scope="module")
def flat(digits):
    X_tr, X_te, y_tr, y_te = digits
    return X_tr.reshape(len(X_tr), -1), X_te.reshape(len(X_te), -1), y_tr, y_te


def test_random_flip_counts_and_keeps_X(flat):
    X, _, y, _ = flat
    y_copy = y.copy()
    res = label_flip(X, y, fraction=0.3, random_state=0)
    assert isinstance(res, LabelFlipResult)
    np.testing.assert_array_equal(y, y_copy)
    assert len(res.poison_indices) == round(0.3 * len(y))
    assert (res.y[res.poison_indices] != y[res.poison_indices]).all()
    keep = np.setdiff1d(np.arange(len(y)), res.poison_indices)
    np.testing.assert_array_equal(res.y[keep], y[keep])
    np.testing.assert_array_equal(res.clean_set()[1], y)


def test_targeted_flip(flat):
    X, _, y, _ = flat
    res = label_flip(X, y, fraction=0.5, strategy="targeted", source_class=3, target_class=8,
                     random_state=0)
    assert (y[res.poison_indices] == 3).all() and (res.y[res.poison_indices] == 8).all()
    assert len(res.poison_indices) == round(0.5 * (y == 3).sum())
    with pytest.raises(ValueError, match="source_class"):
        label_flip(X, y, strategy="targeted", target_class=8)
    with pytest.raises(ValueError, match="fraction"):
        label_flip(X, y, fraction=1.5)


def test_flip_30_percent_lowers_logistic_regression_accuracy(flat):
    X, X_te, y, y_te = flat
    res = label_flip(X, y, fraction=0.3, random_state=0)
    rep = poisoning_report(LogisticRegression(max_iter=300), res.X, res.y, X_te, y_te,
                           result=res)
    assert rep.kind == "label_flip" and rep.n_poisoned == len(res.poison_indices)
    assert rep.baseline_accuracy > 0.9
    assert rep.accuracy_drop > 0.03 and rep.success_rate == rep.accuracy_drop


def test_one_class_refused_with_the_reason():
    X = np.zeros((20, 3))
    with pytest.raises(ValueError, match="y has one class"):
        label_flip(X, np.zeros(20, int), fraction=0.1, random_state=0)


def test_random_flip_with_target_class_counts_all_examples(flat):
    # the budget is a fraction of all examples, as documented, not of the non-target ones
    X, _, y, _ = flat
    res = label_flip(X, y, fraction=0.2, target_class=8, random_state=0)
    assert len(res.poison_indices) == round(0.2 * len(y))
    assert (y[res.poison_indices] != 8).all() and (res.y[res.poison_indices] == 8).all()


def test_random_flip_with_target_class_caps_at_the_eligible_and_says_so(flat):
    X, _, y, _ = flat
    with pytest.warns(UserWarning, match=r"only \d+ are not already labelled target_class=8"):
        res = label_flip(X, y, fraction=1.0, target_class=8, random_state=0)
    np.testing.assert_array_equal(res.poison_indices, np.flatnonzero(y != 8))
    assert (res.y == 8).all()


def test_source_class_needs_the_targeted_strategy(flat):
    X, _, y, _ = flat
    with pytest.raises(ValueError, match="source_class=3 is used by strategy='targeted' only"):
        label_flip(X, y, fraction=0.1, source_class=3)
