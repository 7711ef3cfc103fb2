"""Attacks with their own threat model (Spatial, IWD) keep it everywhere: in
WorstCase, in their perturbation_size; Lp-only helpers refuse other threat models;
score attacks on a subset of rows keep each row's random stream."""
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from robustsk.attacks import IWD, PGD, Attack, Spatial, Square, Threat, WorstCase


@pytest.fixture(scope="module")
def images(image_data):
    _, _, X, y = image_data
    return X[:30], y[:30]


def test_spatial_threat_and_perturbation_size(image_clf, images):
    X, y = images
    attack = Spatial(n_rotations=5, n_translations=3)
    threat = attack.resolve_threat(image_clf)
    assert (threat.norm, threat.eps, threat.is_lp) == ("spatial", 1.0, False)
    assert (threat.clip_min, threat.clip_max) == (0.0, 1.0)
    X_adv = attack.generate(image_clf, X, y)
    size = attack.perturbation_size(X_adv, X, threat)
    moved = (X_adv != X).reshape(len(X), -1).any(1)
    assert moved.any()
    assert (size[~moved] == 0).all()
    assert np.isfinite(size).all() and (size[moved] > 0).all() and (size <= 1).all()
    noise = np.clip(X + np.random.RandomState(0).uniform(-0.05, 0.05, X.shape), 0, 1)
    assert np.isinf(attack.perturbation_size(noise.astype(X.dtype), X, threat)).all()


@pytest.mark.parametrize("attack", [Spatial(n_rotations=5, n_translations=3),
                                    IWD(eps=0.3, n_iter=3)], ids=["Spatial", "IWD"])
def test_worst_case_keeps_each_attacks_threat_model(attack, image_clf, images):
    """WorstCase([a]) gives what a gives alone: no projection onto the Lp ball."""
    X, y = images
    alone = attack.generate(image_clf, X, y)
    worst = WorstCase([attack]).generate(image_clf, X, y)
    wrong = image_clf.predict(alone) != y
    assert wrong.sum() > (image_clf.predict(X) != y).sum()  # the attack does something
    np.testing.assert_allclose(worst[wrong], alone[wrong], atol=1e-6)
    np.testing.assert_array_equal(image_clf.predict(worst) != y, wrong)
    threat = attack.resolve_threat(image_clf)
    assert (attack.perturbation_size(worst, X, threat) <= threat.eps + 1e-6).all()


def test_worst_case_of_lp_and_spatial_is_the_union(image_clf, images):
    X, y = images
    pgd, spatial = PGD(n_iter=5, random_state=0), Spatial(n_rotations=5, n_translations=3)
    worst = WorstCase([pgd, spatial], random_state=0).generate(image_clf, X, y)
    wrong = image_clf.predict(worst) != y
    for attack in (pgd, spatial):
        assert (wrong >= (image_clf.predict(attack.generate(image_clf, X, y)) != y)).all()
    linf = np.abs(worst - X).reshape(len(X), -1).max(1)
    assert (linf > image_clf.eps + 1e-6).any()  # spatial examples, not projected


def test_lp_helpers_refuse_other_threat_models():
    X = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match="Lp ball"):
        Attack().perturbation_size(X, X, Threat(eps=1.0, norm="spatial"))
    assert Threat(eps=1.0, norm="2").is_lp and Threat(eps=1.0, norm="inf").is_lp


def test_score_attack_rows_keep_their_streams(digits):
    """generate(rows=...) gives each row exactly what a call on all of X gives it."""
    _, flat, y = digits
    forest = RandomForestClassifier(10, random_state=0).fit(flat[:200], y[:200])
    X, y = flat[200:240], y[200:240]
    attack = Square(eps=0.1, n_iter=20, random_state=3)
    full, info = attack.generate(forest, X, y, return_info=True)
    rows = np.array([31, 4, 17, 0])
    part, part_info = attack.generate(forest, X, y, rows=rows, return_info=True)
    assert part.shape == (4, X.shape[1]) and part.dtype == X.dtype
    np.testing.assert_array_equal(part, full[rows])
    np.testing.assert_array_equal(part_info["queries"], info["queries"][rows])
    np.testing.assert_array_equal(part_info["success"], info["success"][rows])
    with pytest.raises(ValueError, match="rows"):
        attack.generate(forest, X, y, rows=[40])
