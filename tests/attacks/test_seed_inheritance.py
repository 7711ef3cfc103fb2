"""An attack without random_state inherits the integer random_state of a scikit-learn model."""
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from robustsk.attacks import PGD, SPSA, Square


@pytest.fixture(scope="module")
def flat(digits):
    _, X, y = digits
    return X[:200], y[:200], X[200:230], y[200:230]


def spsa():
    return SPSA(eps=0.1, n_iter=3, n_samples=4, clip_min=0.0, clip_max=1.0)


@pytest.mark.parametrize("wrap", [False, True])
def test_unseeded_score_attack_on_seeded_forest_repeats(flat, wrap):
    X, y, X_te, y_te = flat
    forest = RandomForestClassifier(n_estimators=5, random_state=0)
    model = make_pipeline(FunctionTransformer(np.square), forest) if wrap else forest
    model.fit(X, y)
    for attack in (spsa(), Square(eps=0.1, n_iter=5, clip_min=0.0, clip_max=1.0)):
        first = attack.generate(model, X_te, y_te)
        np.testing.assert_array_equal(attack.generate(model, X_te, y_te), first)
    # the attack's own seed still wins over the model's
    a = spsa().set_params(random_state=1).generate(model, X_te, y_te)
    b = spsa().generate(model, X_te, y_te)
    assert not np.array_equal(a, b)


def test_unseeded_attack_on_unseeded_model_is_random(flat):
    X, y, X_te, y_te = flat
    forest = RandomForestClassifier(n_estimators=5).fit(X, y)
    assert not np.array_equal(spsa().generate(forest, X_te, y_te),
                              spsa().generate(forest, X_te, y_te))


def test_gradient_attack_on_seeded_linear_model_repeats(flat):
    X, y, X_te, y_te = flat
    clf = LogisticRegression(max_iter=300, random_state=0).fit(X, y)
    attack = PGD(eps=0.1, n_iter=2, clip_min=0.0, clip_max=1.0)
    np.testing.assert_array_equal(attack.generate(clf, X_te, y_te),
                                  attack.generate(clf, X_te, y_te))
