"""The same contract, checked for every attack class.

Every attack must stay inside the ball and the box, leave its inputs and the
model as it found them, be reproducible under ``random_state``, do nothing
with ``eps=0``, never report more robust than clean accuracy, return the shape
and dtype of ``X``, work through a passthrough Pipeline, and fail clearly.
"""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from robustsk.attacks import (
    APGD,
    FAB,
    FGSM,
    PGD,
    RFGSM,
    EarlyStoppedPGD,
    WorstCase,
    default_attack,
)
from robustsk.base import RobustClassifier

L2_EPS = 0.5

# id -> (factory, needs at least this many classes)
ATTACKS = {
    "fgsm": (lambda: FGSM(), 2),
    "pgd-inf": (lambda: PGD(n_iter=10, random_state=0), 2),
    "pgd-l2": (lambda: PGD(norm=2, eps=L2_EPS, n_iter=10, random_state=0), 2),
    "rfgsm": (lambda: RFGSM(random_state=0), 2),
    "early-stopped-pgd": (lambda: EarlyStoppedPGD(n_iter=10, random_state=0), 2),
    "apgd-ce": (lambda: APGD(n_iter=10, random_state=0), 2),
    "apgd-ce-l2": (lambda: APGD(norm=2, eps=L2_EPS, n_iter=10, random_state=0), 2),
    "apgd-dlr": (lambda: APGD(loss="dlr", n_iter=10, random_state=0), 3),
    "apgd-dlr-targeted": (lambda: APGD(loss="dlr-targeted", n_iter=5, n_target_classes=3,
                                       random_state=0), 4),
    "worst-case": (lambda: WorstCase([PGD(n_iter=5), APGD(n_iter=10)], random_state=0), 2),
    "fab-t": (lambda: FAB(n_iter=10, n_target_classes=2, random_state=0), 2),
    "fab-l2": (lambda: FAB(norm=2, eps=L2_EPS, n_iter=5, n_restarts=2, targeted=False,
                           random_state=0), 2),
}
ITERATIVE = ["pgd-inf", "pgd-l2", "apgd-ce", "apgd-ce-l2", "apgd-dlr", "apgd-dlr-targeted"]


@pytest.fixture(params=sorted(ATTACKS))
def attack_id(request):
    return request.param


def make(attack_id):
    return ATTACKS[attack_id][0]()


def radius(attack):
    return L2_EPS if attack.get_params().get("norm") == 2 else 0.1


def perturbation_norm(X_adv, X, attack):
    delta = (np.asarray(X_adv, np.float64) - np.asarray(X, np.float64)).reshape(len(X), -1)
    if attack.get_params().get("norm") == 2:
        return np.linalg.norm(delta, axis=1)
    return np.abs(delta).max(axis=1)


def accuracy(clf, X, y):
    return float(np.mean(clf.predict(X) == y))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ball_box_shape_dtype(attack_id, dtype, image_clf, image_data):
    _, _, X, y = image_data
    X = X[:40].astype(dtype)
    attack = make(attack_id)
    X_adv = attack.generate(image_clf, X, y[:40])
    assert X_adv.shape == X.shape and X_adv.dtype == X.dtype
    assert perturbation_norm(X_adv, X, attack).max() <= radius(attack) + 1e-5
    assert X_adv.min() >= 0.0 and X_adv.max() <= 1.0
    assert np.isfinite(X_adv).all()


def test_flat_input_shape(attack_id, binary_clf, binary_data):
    if ATTACKS[attack_id][1] > 2:
        pytest.skip("the loss needs more than two classes (tested below)")
    _, _, X, y = binary_data
    X_adv = make(attack_id).generate(binary_clf, X, y)
    assert X_adv.shape == X.shape and X_adv.dtype == X.dtype


def test_inputs_untouched(attack_id, image_clf, image_data):
    _, _, X, y = image_data
    X, y = X[:30].copy(), y[:30].copy()
    X_copy, y_copy = X.copy(), y.copy()
    make(attack_id).generate(image_clf, X, y)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)


def test_model_state_restored(attack_id, image_clf, image_data):
    _, _, X, y = image_data
    module = image_clf.module_
    before_modes = [m.training for m in module.modules()]
    before_grads = [p.requires_grad for p in module.parameters()]
    try:
        module.train()  # a weird mixed state: train, one block eval, one frozen weight
        module.classifier.eval()
        next(module.parameters()).requires_grad_(False)
        modes = [m.training for m in module.modules()]
        grads = [p.requires_grad for p in module.parameters()]
        make(attack_id).generate(image_clf, X[:20], y[:20])
        assert [m.training for m in module.modules()] == modes
        assert [p.requires_grad for p in module.parameters()] == grads
    finally:
        for m, training in zip(module.modules(), before_modes):
            m.training = training
        for p, requires_grad in zip(module.parameters(), before_grads):
            p.requires_grad_(requires_grad)


def test_deterministic_under_random_state(attack_id, image_clf, image_data):
    _, _, X, y = image_data
    first = make(attack_id).generate(image_clf, X[:30], y[:30])
    second = make(attack_id).generate(image_clf, X[:30], y[:30])
    np.testing.assert_array_equal(first, second)


def test_clone_gives_the_same_attack(attack_id, image_clf, image_data):
    _, _, X, y = image_data
    attack = make(attack_id)
    np.testing.assert_array_equal(attack.generate(image_clf, X[:20], y[:20]),
                                  clone(attack).generate(image_clf, X[:20], y[:20]))


def test_eps_zero_changes_no_prediction(attack_id, image_clf, image_data):
    _, _, X, y = image_data
    X_adv = make(attack_id).set_params(eps=0.0).generate(image_clf, X, y)
    np.testing.assert_array_equal(image_clf.predict(X_adv), image_clf.predict(X))


def test_robust_at_most_clean_accuracy(attack_id, image_clf, image_data):
    _, _, X, y = image_data
    clean = accuracy(image_clf, X, y)
    robust = accuracy(image_clf, make(attack_id).generate(image_clf, X, y), y)
    assert robust <= clean
    assert robust < clean or clean == 0  # an attack at eps 0.1 fools some of these digits


@pytest.mark.parametrize("attack_id", ITERATIVE)
def test_more_steps_never_weaker(attack_id, image_clf, image_data):
    _, _, X, y = image_data
    few = make(attack_id).set_params(n_iter=5).generate(image_clf, X, y)
    many = make(attack_id).set_params(n_iter=40).generate(image_clf, X, y)
    assert accuracy(image_clf, many, y) <= accuracy(image_clf, few, y)


def test_binary_model(attack_id, binary_clf, binary_data):
    _, _, X, y = binary_data
    attack = make(attack_id)
    if ATTACKS[attack_id][1] > 2:
        with pytest.raises(ValueError, match="at least"):
            attack.generate(binary_clf, X, y)
        return
    X_adv = attack.generate(binary_clf, X, y)
    assert perturbation_norm(X_adv, X, attack).max() <= radius(attack) + 1e-5
    assert accuracy(binary_clf, X_adv, y) <= accuracy(binary_clf, X, y)


def test_batching_does_not_change_an_example(attack_id, image_clf, image_data, per_example):
    """Per-example random streams: batch composition leaves each result unchanged
    (bit for bit, behind a network that rounds alike in any batch: tests/conftest.py)."""
    _, _, X, y = image_data
    X, y = X[:24], y[:24]
    clf = per_example(image_clf)
    whole = make(attack_id).generate(clf, X, y)
    attack = make(attack_id).set_params(batch_size=5)
    if isinstance(attack, WorstCase):
        attack.set_params(attacks=[a.set_params(batch_size=5) for a in attack.attacks])
    np.testing.assert_array_equal(attack.generate(clf, X, y), whole)


def test_through_passthrough_pipeline(attack_id, image_clf, image_data):
    _, _, X, y = image_data
    pipe = Pipeline([("p", "passthrough"), ("clf", image_clf)])
    np.testing.assert_array_equal(make(attack_id).generate(pipe, X[:20], y[:20]),
                                  make(attack_id).generate(image_clf, X[:20], y[:20]))


def test_inherits_estimator_random_state(image_clf, image_data):
    _, _, X, y = image_data
    attack = PGD(n_iter=5)  # random_state None: the estimator's (0) is used
    np.testing.assert_array_equal(attack.generate(image_clf, X[:20], y[:20]),
                                  PGD(n_iter=5, random_state=0).generate(image_clf, X[:20],
                                                                         y[:20]))


# ---------------------------------------------------------------- clear errors
def test_negative_eps(attack_id, image_clf, image_data):
    _, _, X, y = image_data
    with pytest.raises(ValueError, match="negative"):
        make(attack_id).set_params(eps=-0.1).generate(image_clf, X[:5], y[:5])


def test_unknown_norm(attack_id, image_clf, image_data):
    attack = make(attack_id)
    if "norm" not in attack.get_params():
        pytest.skip(f"{type(attack).__name__} has a fixed norm")
    _, _, X, y = image_data
    with pytest.raises(ValueError, match="norm"):
        attack.set_params(norm="l3").generate(image_clf, X[:5], y[:5])


def test_X_outside_the_box(attack_id, image_clf, image_data):
    _, _, X, y = image_data
    with pytest.raises(ValueError, match="box"):
        make(attack_id).generate(image_clf, X[:5] + 2.0, y[:5])


def test_unfitted_estimator(attack_id, image_data):
    _, _, X, y = image_data
    with pytest.raises(NotFittedError):
        make(attack_id).generate(RobustClassifier(), X[:5], y[:5])


def test_not_differentiable_estimator(attack_id, binary_data):
    from sklearn.tree import DecisionTreeClassifier
    X, y, _, _ = binary_data
    flat = X.reshape(len(X), -1)
    tree = DecisionTreeClassifier(random_state=0).fit(flat, y)
    with pytest.raises(TypeError, match="not differentiable"):
        make(attack_id).generate(tree, flat[:5], y[:5])


@pytest.mark.parametrize("attack", [
    APGD(loss="dlr"), APGD(loss="dlr", norm=2, eps=0.5),
    WorstCase([PGD(n_iter=2), APGD(loss="dlr")]),
], ids=["apgd-dlr", "apgd-dlr-l2", "worst-case-dlr"])
def test_dlr_needs_three_classes(attack, binary_clf, binary_data, monkeypatch):
    _, _, X, y = binary_data
    calls = []
    monkeypatch.setattr(binary_clf.module_, "forward",
                        lambda x, _f=binary_clf.module_.forward: calls.append(1) or _f(x))
    with pytest.raises(ValueError, match="DLR loss needs at least 3 classes"):
        attack.generate(binary_clf, X, y)
    assert not calls  # raised before any work


@pytest.mark.parametrize("attack", [
    APGD(loss="dlr-targeted"), APGD(loss="dlr", targeted=True),
    WorstCase([APGD(n_iter=2), APGD(loss="dlr-targeted")]),
], ids=["apgd-t", "apgd-dlr-targeted-flag", "worst-case-apgd-t"])
def test_targeted_dlr_needs_four_classes(attack, three_class_clf, digits, monkeypatch):
    _, flat, y = digits
    mask = np.isin(y, [0, 1, 2])
    calls = []
    monkeypatch.setattr(three_class_clf.module_, "forward",
                        lambda x, _f=three_class_clf.module_.forward: calls.append(1) or _f(x))
    with pytest.raises(ValueError, match="targeted DLR loss needs at least 4 classes"):
        attack.generate(three_class_clf, flat[mask][:10], y[mask][:10])
    assert not calls


def test_default_attack_at_least_pgd20(image_clf, image_data):
    _, _, X, y = image_data
    attack = default_attack()
    assert isinstance(attack, WorstCase)
    assert [type(a) for a in attack.attacks] == [PGD, APGD, APGD]
    assert attack.attacks[0].n_iter == 20 and attack.attacks[0].random_start == "uniform"
    assert attack.attacks[1].loss == "ce" and attack.attacks[1].n_iter == 20
    assert attack.attacks[2].loss == "dlr-targeted" and attack.attacks[2].n_iter == 20
    pgd20 = accuracy(image_clf, PGD(n_iter=20).generate(image_clf, X, y), y)
    assert accuracy(image_clf, attack.generate(image_clf, X, y), y) <= pgd20
    assert image_clf.score_adversarial(X, y) == accuracy(image_clf,
                                                         attack.generate(image_clf, X, y), y)
