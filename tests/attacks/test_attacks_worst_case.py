"""WorstCase: attacks in turn on the survivors, seeded by global example index."""
import numpy as np
import pytest
from sklearn.base import clone

from robustsk.attacks import APGD, FGSM, PGD, WorstCase


def test_equals_the_attacks_run_alone(image_clf, image_data, per_example):
    """Skipping fooled examples changes nothing: per-example streams by global index
    (bit for bit, behind a network that rounds alike in any batch: tests/conftest.py)."""
    _, _, X, y = image_data
    image_clf = per_example(image_clf)
    first, second = PGD(n_iter=3, random_state=1), APGD(n_iter=10, random_state=2)
    combined = WorstCase([first, second]).generate(image_clf, X, y)
    alone_1, alone_2 = first.generate(image_clf, X, y), second.generate(image_clf, X, y)
    clean_ok = image_clf.predict(X) == y
    fooled_1 = image_clf.predict(alone_1) != y
    use_1 = clean_ok & fooled_1
    use_2 = clean_ok & ~fooled_1
    assert use_1.any() and use_2.any()
    np.testing.assert_array_equal(combined[~clean_ok], X[~clean_ok])
    np.testing.assert_array_equal(combined[use_1], alone_1[use_1])
    np.testing.assert_array_equal(combined[use_2], alone_2[use_2])
    robust = np.mean(image_clf.predict(combined) == y)
    assert robust == np.mean(clean_ok & ~fooled_1 & (image_clf.predict(alone_2) == y))


def test_threat_passed_down_unless_the_attack_has_its_own(image_clf, image_data):
    _, _, X, y = image_data
    X_adv = WorstCase([FGSM(), PGD(n_iter=3)], eps=0.03, random_state=0).generate(
        image_clf, X, y)
    assert np.abs(X_adv - X).max() <= 0.03 + 1e-6
    X_adv = WorstCase([FGSM(eps=0.2)], eps=0.03).generate(image_clf, X, y)
    assert np.abs(X_adv - X).max() > 0.03 + 1e-6


def test_inheriting_attacks_get_different_streams():
    """Two copies of one attack that inherit the seed do not repeat each other."""
    twice = WorstCase([PGD(n_iter=1, step_size=0.0), PGD(n_iter=1, step_size=0.0)],
                      random_state=0)
    seeds = [twice._attack_seed(sub, i, _Target()) for i, sub in enumerate(twice.attacks)]
    assert seeds[0] != seeds[1]
    # an attack with its own random_state keeps it
    assert WorstCase([PGD(random_state=5)])._attack_seed(
        PGD(random_state=5), 0, _Target()) == 5


class _Target:
    def threat_default(self, name):
        return None


def test_clone_and_params():
    attack = WorstCase([PGD(n_iter=3), APGD(n_iter=5)], random_state=0)
    copy = clone(attack)
    assert copy.attacks[0] is not attack.attacks[0]
    assert copy.attacks[1].get_params() == attack.attacks[1].get_params()


@pytest.mark.parametrize("attacks", [[], [PGD(), "apgd"], PGD()])
def test_bad_attacks(attacks, image_clf, image_data):
    _, _, X, y = image_data
    with pytest.raises(TypeError, match="list of robustsk Attack"):
        WorstCase(attacks).generate(image_clf, X[:5], y[:5])


def test_no_nesting(image_clf, image_data):
    _, _, X, y = image_data
    with pytest.raises(TypeError, match="inside WorstCase"):
        WorstCase([PGD(), WorstCase([PGD()])]).generate(image_clf, X[:5], y[:5])


def test_an_attack_without_a_batch_step_is_refused_before_any_runs(monkeypatch):
    """LinearMinimalAttack works on the whole estimator: it crashed once PGD had run."""
    from sklearn.linear_model import LogisticRegression

    from robustsk.attacks import LinearMinimalAttack
    rng = np.random.RandomState(0)
    X, y = rng.rand(40, 4), np.arange(40) % 2
    lr = LogisticRegression().fit(X, y)
    monkeypatch.setattr(PGD, "perturb", lambda *a, **k: pytest.fail("PGD ran"))
    with pytest.raises(TypeError, match=r"\['LinearMinimalAttack'\], which has no "
                                        r"batch-level attack step.*evaluate_robustness"):
        WorstCase([PGD(), LinearMinimalAttack()], eps=0.1).generate(lr, X, y)


def test_untargeted_only(image_clf, image_data):
    _, _, X, y = image_data
    with pytest.raises(ValueError, match="untargeted"):
        WorstCase([PGD()]).generate(image_clf, X[:5], y[:5], y_target=y[:5])


@pytest.fixture(scope="module")
def forest_data():
    from sklearn.datasets import load_wine
    from sklearn.ensemble import RandomForestClassifier
    X, y = load_wine(return_X_y=True)
    X = (X - X.min(0)) / (X.max(0) - X.min(0))
    forest = RandomForestClassifier(10, random_state=0).fit(X[::2], y[::2])
    X_te, y_te = X[1::2][:30], y[1::2][:30]
    return forest, X_te, y_te


def test_score_attacks_on_a_scikit_learn_model(forest_data):
    """WorstCase of Square and SPSA runs on a random forest (it raised a TypeError
    telling the user to use Square or SPSA), and equals the attacks run alone."""
    from robustsk.attacks import SPSA, Square
    forest, X, y = forest_data
    first = Square(n_iter=30, eps=0.1, random_state=1)
    second = SPSA(n_iter=3, n_samples=8, eps=0.1, random_state=2)
    worst = WorstCase([first, second])
    combined = worst.generate(forest, X, y)
    assert combined.shape == X.shape and np.abs(combined - X).max() <= 0.1 + 1e-9
    alone_1, alone_2 = first.generate(forest, X, y), second.generate(forest, X, y)
    clean_ok = forest.predict(X) == y
    fooled_1 = forest.predict(alone_1) != y
    use_1, use_2 = clean_ok & fooled_1, clean_ok & ~fooled_1
    assert use_1.any()
    np.testing.assert_array_equal(combined[~clean_ok], X[~clean_ok])
    np.testing.assert_array_equal(combined[use_1], alone_1[use_1])
    np.testing.assert_array_equal(combined[use_2], alone_2[use_2])
    assert worst.n_forward_ > len(X) and worst.n_backward_ == 0


def test_gradient_attacks_on_a_scikit_learn_model_say_which_to_drop(forest_data):
    from robustsk.attacks import Square
    forest, X, y = forest_data
    with pytest.raises(TypeError, match=r"attacks \['PGD'\], which need gradients.*"
                                        r"RandomForestClassifier.*drop \['PGD'\]"):
        WorstCase([PGD(n_iter=2), Square(n_iter=5)], eps=0.1).generate(forest, X, y)
