"""BadNets backdoor on a small CNN, and feature-collision poisons."""
import numpy as np
import pytest

from robustsk.base import RobustClassifier
from robustsk.poisoning import Trigger, badnets, feature_collision, poisoning_report


def _cnn():
    return RobustClassifier(max_epochs=10, lr=1e-2, batch_size=32, random_state=0, clip_min=0.0,
                            clip_max=1.0, module__channels=(8, 16), module__hidden_units=32)


@pytest.fixture(scope="module")
def backdoored(digits):
    X_tr, X_te, y_tr, y_te = digits
    res = badnets(X_tr[:500], y_tr[:500], target_class=0, fraction=0.1, random_state=0)
    rep = poisoning_report(_cnn(), res.X, res.y, X_te[:200], y_te[:200], result=res,
                           baseline=False)
    return res, rep


def test_trigger_stamps_a_corner():
    trig = Trigger.square((1, 8, 8), size=2)
    X = np.zeros((3, 1, 8, 8), np.float32)
    out = trig.apply(X)
    assert out.dtype == X.dtype and out[:, :, 6:, 6:].min() == 1.0
    assert out.sum() == 3 * 4 and X.sum() == 0


def test_badnets_poisons_non_target_examples(backdoored, digits):
    X_tr, _, y_tr, _ = digits
    res, _ = backdoored
    assert len(res.poison_indices) == 50
    assert (y_tr[:500][res.poison_indices] != 0).all() and (res.y[res.poison_indices] == 0).all()
    np.testing.assert_array_equal(res.clean_set()[0], X_tr[:500])
    np.testing.assert_array_equal(res.X[res.poison_indices],
                                  res.trigger.apply(X_tr[:500][res.poison_indices]))


def test_trigger_success_rate_is_high(backdoored):
    _, rep = backdoored
    assert rep.kind == "backdoor"
    assert rep.clean_accuracy > 0.85
    assert rep.success_rate > 0.8


def test_feature_collision_stays_in_budget_and_collides(backdoored, digits):
    X_tr, X_te, y_tr, y_te = digits
    _, rep = backdoored
    model = rep.model
    target = X_te[np.flatnonzero(y_te == 1)[0]]
    bases = X_tr[y_tr == 7][:3]
    res = feature_collision(model, target, bases, base_label=7, n_iter=60, eps=0.1,
                            X_train=X_tr[:500], y_train=y_tr[:500])
    assert res.poison.shape == bases.shape
    assert np.abs(res.poison - bases).max() <= 0.1 + 1e-6
    assert res.poison.min() >= 0.0 and res.poison.max() <= 1.0
    assert (res.feature_distance < res.initial_feature_distance).all()
    assert res.X.shape[0] == 503 and (res.y[res.poison_indices] == 7).all()
    free = feature_collision(model, target, bases, base_label=7, n_iter=60)
    assert (free.feature_distance < 0.5 * free.initial_feature_distance).all()
    # the watermark (opacity) starts inside the budget too: it stayed 0.3 away with eps 0.05
    marked = feature_collision(model, target, bases, base_label=7, n_iter=20, eps=0.05,
                               opacity=0.3)
    assert np.abs(marked.poison - bases).max() <= 0.05 + 1e-6
    with pytest.raises(ValueError, match="base_label=70 is not a label of y_train"):
        feature_collision(model, target, bases, base_label=70, X_train=X_tr[:50],
                          y_train=y_tr[:50])
    report = poisoning_report(_cnn().set_params(max_epochs=2), res.X, res.y, X_te[:50],
                              y_te[:50], result=res, baseline=False)
    assert report.kind == "feature_collision" and report.success_rate in (0.0, 1.0)


def test_badnets_says_when_it_caps_the_fraction():
    """As label_flip: asking for more poisons than non-target examples warns (it capped silently)."""
    X = np.zeros((10, 1, 8, 8), np.float32)
    y = np.array([0] * 8 + [1] * 2)
    with pytest.warns(UserWarning, match=r"asks for 5 poisons .* only 2 are not already"):
        res = badnets(X, y, target_class=0, fraction=0.5, random_state=0)
    assert len(res.poison_indices) == 2


def test_trigger_is_validated():
    with pytest.raises(ValueError, match=r"mask holds values in \[2.0, 2.0\]"):
        Trigger(mask=np.full((1, 8, 8), 2.0), pattern=np.ones((1, 8, 8)))
    with pytest.raises(ValueError, match=r"pattern of shape \(3, 8, 8\) does not match"):
        Trigger(mask=np.ones((1, 8, 8)), pattern=np.ones((3, 8, 8)))
    with pytest.raises(ValueError, match="whole number of pixels"):
        Trigger.square((1, 8, 8), size=2.7)
    scalar = Trigger(mask=np.ones((1, 2, 2)), pattern=0.5)  # a scalar pattern broadcasts
    assert scalar.apply(np.zeros((1, 1, 2, 2))).max() == 0.5


def test_badnets_and_label_flip_keep_the_dtype_of_X(digits):
    from robustsk.poisoning import label_flip
    X_tr, _, y_tr, _ = digits
    X8 = np.round(X_tr[:100] * 255).astype(np.uint8)
    res = badnets(X8, y_tr[:100], target_class=0, fraction=0.2, random_state=0)
    assert res.X.dtype == np.uint8 and res.X[res.poison_indices][:, :, 6:, 6:].min() == 255
    flipped = label_flip(X8.reshape(100, -1).astype(np.int64), y_tr[:100], random_state=0)
    assert flipped.X.dtype == np.int64


def _tiny_model(digits):
    X_tr, _, y_tr, _ = digits
    return RobustClassifier(max_epochs=1, random_state=0, clip_min=0.0, clip_max=1.0).fit(
        X_tr[:100], y_tr[:100])


@pytest.mark.parametrize("kwargs, match", [
    ({"step_size": -1.0}, "step_size=-1.0: expected a finite number > 0"),
    ({"n_iter": -3}, "n_iter=-3: expected an integer >= 0"),
    ({"beta": -1.0}, "beta=-1.0: expected a finite number >= 0"),
    ({"opacity": None}, r"opacity=None: expected a number in \[0, 1\)"),
    ({"base_label": 42}, "base_label=42 is not a class of the model"),
])
def test_feature_collision_settings_are_checked_first(digits, kwargs, match):
    X_tr, _, y_tr, _ = digits
    clf = _tiny_model(digits)
    kwargs = {"base_label": 0, "n_iter": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        feature_collision(clf, X_tr[y_tr == 3][0], X_tr[y_tr == 0][:2], **kwargs)


def test_feature_collision_appends_to_a_training_set_of_the_bases_shape(digits):
    X_tr, _, y_tr, _ = digits
    clf = _tiny_model(digits)
    target, bases = X_tr[y_tr == 3][0], X_tr[y_tr == 0][:2]
    with pytest.raises(ValueError, match=r"X_train has examples of shape \(64,\)"):
        feature_collision(clf, target, bases, base_label=0, n_iter=1,
                          X_train=X_tr[:50].reshape(50, -1), y_train=y_tr[:50])
    # integer images are promoted, not truncated
    X8 = np.round(X_tr[:50] * 255).astype(np.uint8)
    res = feature_collision(clf, target, bases, base_label=0, n_iter=3, X_train=X8,
                            y_train=y_tr[:50])
    assert res.X.dtype == np.float32
    np.testing.assert_array_equal(res.X[res.poison_indices], res.poison)
