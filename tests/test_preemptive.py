"""Preemptive robustification (Moon et al., 2022) and the man-in-the-middle evaluation."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
import torch
import torch.nn.functional as F

from robustsk.attacks import PGD, Randomness
from robustsk.defenses import StandardTraining
from robustsk.preemptive import PreemptiveRobustifier, _inner_pgd, mitm_evaluation


@pytest.fixture(scope="module")
def model(digits_small):
    X_tr, _, y_tr, _ = digits_small
    return StandardTraining(max_epochs=10, eps=0.1, clip_min=0.0, clip_max=1.0,
                            module__channels=(16, 32), module__hidden_units=64,
                            random_state=0).fit(X_tr, y_tr)


@pytest.mark.parametrize("norm, eps, outer", [
    ("inf", 0.1, {"n_iter": 10}),
    (2, 0.5, {"n_iter": 10, "optimizer": "rmsprop", "lr": 0.05}),
    (2, 0.5, {"n_iter": 100}),  # the official L2 update: gradient steps of lr 0.001
])
def test_robustified_images_survive_the_man_in_the_middle(model, digits_small, norm, eps, outer):
    _, X, _, y = digits_small
    X, y = X[:60], y[:60]
    X_copy = X.copy()
    rob = PreemptiveRobustifier(model, eps=eps, norm=norm, attack_iter=5, random_state=0,
                                **outer)
    res = mitm_evaluation(rob, X, y, attack=PGD(eps=eps, norm=norm, n_iter=10, random_state=0))
    np.testing.assert_array_equal(X, X_copy)
    assert res.robust_accuracy_robustified > res.robust_accuracy_original + 0.15
    assert res.robustified_accuracy >= res.clean_accuracy - 0.05
    assert res.in_box and res.max_change <= eps * (1 + 1e-6)


def test_every_change_inside_delta_and_box(model, digits_small):
    _, X, _, _ = digits_small
    for norm, delta in (("inf", 0.05), (2, 0.3)):
        X_r = PreemptiveRobustifier(model, delta=delta, eps=0.1, norm=norm, n_iter=3,
                                    attack_iter=2, random_state=0).fit_transform(X[:30])
        d = (X_r.astype(np.float64) - X[:30]).reshape(30, -1)
        size = np.abs(d).max(1) if norm == "inf" else np.linalg.norm(d, axis=1)
        assert X_r.shape == X[:30].shape and X_r.dtype == X.dtype
        assert size.max() <= delta + 1e-6 and size.max() > delta / 4
        assert X_r.min() >= 0.0 and X_r.max() <= 1.0


def _official_gradient(net, xp, y_hat, eps, step, n_iter, start):
    """Moon et al.'s code: the attack keeps the graph of its start, projections and clips."""
    x_adv = (xp + start).clamp(0, 1)
    for _ in range(n_iter):
        grad, = torch.autograd.grad(F.cross_entropy(net(x_adv), y_hat, reduction="sum"), x_adv,
                                    retain_graph=True)
        x_adv = (xp + (x_adv + step * grad.sign() - xp).clamp(-eps, eps)).clamp(0, 1)
    return F.cross_entropy(net(x_adv), y_hat, reduction="sum")


def test_outer_gradient_follows_the_official_dynamics(model, digits_small):
    """The gradient reaching x' is the official code's: none where a clip held x'' at the box."""
    _, X, _, _ = digits_small
    net = model.module_.eval()
    x = torch.as_tensor(X[:16], dtype=torch.float32)
    y_hat = net(x).argmax(1).detach()
    xp = x.clone().requires_grad_(True)
    eps, step = 0.1, 0.025
    ours = F.cross_entropy(net(_inner_pgd(net, xp, y_hat, eps, "inf", step, 5, (torch.tensor(0.0), torch.tensor(1.0)),
                                          Randomness.for_examples(3, len(x)))),
                           y_hat, reduction="sum")
    grad_ours, = torch.autograd.grad(ours, xp)
    start = eps * Randomness.for_examples(3, len(x)).uniform(x, -1.0, 1.0)
    xp2 = x.clone().requires_grad_(True)
    grad_ref, = torch.autograd.grad(_official_gradient(net, xp2, y_hat, eps, step, 5, start), xp2)
    torch.testing.assert_close(grad_ours, grad_ref, rtol=1e-4, atol=1e-6)
    # digits have many pixels at 0: a clip holds some at the edge and passes no gradient
    assert (grad_ref == 0).any() and (grad_ref != 0).any()


def test_composes_in_a_pipeline_without_labels(model, digits_small):
    _, X, _, y = digits_small
    rob = PreemptiveRobustifier(model, n_iter=2, attack_iter=2, random_state=0)
    pipe = Pipeline([("robustify", rob), ("clf", FrozenEstimator(model))]).fit(X[:20], y[:20])
    expected = model.predict(rob.transform(X[:20]))
    np.testing.assert_array_equal(pipe.predict(X[:20]), expected)
    assert rob.delta_ == rob.eps_ == model.eps  # delta defaults to the adversary's eps
    frozen = clone(PreemptiveRobustifier(FrozenEstimator(model), n_iter=2, attack_iter=2,
                                         random_state=0))
    np.testing.assert_array_equal(frozen.fit_transform(X[:20]), rob.transform(X[:20]))


def test_bad_inputs_fail_before_any_work(model, digits_small):
    X_tr, X, y_tr, _ = digits_small
    with pytest.raises(ValueError, match="delta=-0.1 is negative"):
        PreemptiveRobustifier(model, delta=-0.1).fit()
    with pytest.raises(ValueError, match="optimizer='adam': expected None or one of"):
        PreemptiveRobustifier(model, optimizer="adam").fit()
    forest = RandomForestClassifier(n_estimators=2, random_state=0).fit(
        X_tr[:50].reshape(50, -1), y_tr[:50])
    with pytest.raises(TypeError, match="cannot be differentiated"):
        PreemptiveRobustifier(forest, eps=0.1).fit()
    with pytest.raises(NotFittedError):
        PreemptiveRobustifier(model).transform(X[:2])


@pytest.fixture(scope="module")
def smoothed(digits_small):
    from robustsk.defenses import RandomizedSmoothingClassifier
    X_tr, _, y_tr, _ = digits_small
    base = StandardTraining(max_epochs=10, clip_min=0.0, clip_max=1.0, module__channels=(16, 32),
                            module__hidden_units=64, random_state=0)
    return RandomizedSmoothingClassifier(base, sigma=0.25, n=50, n0=10, alpha=0.01,
                                         random_state=0).fit(X_tr, y_tr)


def test_wraps_a_smoothed_classifier_against_an_eot_adversary(smoothed, digits_small):
    """Moon et al.'s smoothed variant: the soft smoothed loss, L2, the adversary runs EOT PGD."""
    _, X, _, y = digits_small
    X, y = X[:60], y[:60]
    # seeds 0-2 on other digits: original 0.07-0.12, robustified 0.40-0.47
    rob = PreemptiveRobustifier(smoothed, eps=1.0, n_iter=20, attack_iter=5, optimizer="rmsprop",
                                lr=0.1, random_state=0)
    attack = PGD(eps=1.0, n_iter=10, random_state=0)
    res = mitm_evaluation(rob, X, y, attack=attack)
    assert str(rob.norm_) == "2"  # a smoothed classifier's threat model is L2
    assert res.robust_accuracy_robustified > res.robust_accuracy_original + 0.15
    assert res.in_box and res.max_change <= 1.0 + 1e-6
    # the EOT attack is a real attack on the smoothed classifier and repeats exactly
    attacked = attack.generate(smoothed, X, y)
    np.testing.assert_array_equal(attacked, attack.generate(smoothed, X, y))
    assert np.mean(smoothed.predict(attacked) == y) < np.mean(smoothed.predict(X) == y) - 0.2


def test_smoothed_classifier_with_a_non_torch_base_is_refused(digits_small):
    from sklearn.linear_model import LogisticRegression

    from robustsk.defenses import RandomizedSmoothingClassifier
    X_tr, X, y_tr, _ = digits_small
    flat = X_tr.reshape(len(X_tr), -1)
    rsc = RandomizedSmoothingClassifier(LogisticRegression(max_iter=200), n=20, n0=5,
                                        random_state=0).fit(flat, y_tr)
    with pytest.raises(TypeError, match="LogisticRegression base is not differentiable"):
        PreemptiveRobustifier(rsc, eps=0.5).fit()
