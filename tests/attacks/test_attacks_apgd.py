"""APGD's torch function: checkpoint schedule, returned points, targets, restarts."""
from fractions import Fraction
import math

import numpy as np
import pytest
import torch

from robustsk.attacks import APGD, Randomness, apgd, apgd_checkpoints


def paper_checkpoints(n_iter):
    """ceil(p_j N) with p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)."""
    p = [Fraction(0), Fraction(22, 100)]
    while p[-1] + max(p[-1] - p[-2] - Fraction(3, 100), Fraction(6, 100)) <= 1:
        p.append(p[-1] + max(p[-1] - p[-2] - Fraction(3, 100), Fraction(6, 100)))
    return [math.ceil(q * n_iter) for q in p]


def test_checkpoints_hand_computed():
    # N = 100: intervals 22, 19, 16, 13, 10, 7, then 6 (the floor of 0.06 N), 6.
    assert apgd_checkpoints(100) == [0, 22, 41, 57, 70, 80, 87, 93, 99]
    assert apgd_checkpoints(100) == paper_checkpoints(100)
    # N = 50: intervals 11, then shrinking by max(floor(1.5), 1) = 1 down to 3.
    assert apgd_checkpoints(50) == [0, 11, 21, 30, 38, 45]
    # N = 10: intervals 2, then 1 every iteration.
    assert apgd_checkpoints(10) == [0, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert apgd_checkpoints(1) == [0, 1]
    assert apgd_checkpoints(0) == [0]
    with pytest.raises(ValueError, match="n_iter"):
        apgd_checkpoints(-1)


class Affine(torch.nn.Module):
    """logits = [0, w.x + b]: class 1 iff w.x + b > 0; CE for y = 0 grows with w.x."""

    def __init__(self, w, b):
        super().__init__()
        self.w, self.b = torch.nn.Parameter(w), torch.nn.Parameter(torch.tensor(b))

    def forward(self, x):
        z = x.flatten(1) @ self.w + self.b
        return torch.stack([torch.zeros_like(z), z], dim=1)


@pytest.fixture
def unfoolable():
    """Never fooled, loss increasing in w.x: the best point is known in closed form.

    float64, because in float32 the CE of a logit gap of 20 rounds to 0.
    """
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(12, generator=gen, dtype=torch.float64)
    x = 0.2 + 0.6 * torch.rand(6, 12, generator=gen, dtype=torch.float64)
    return Affine(w, -20.0), x, torch.zeros(6, dtype=torch.long), w


def test_linf_reaches_the_best_corner(unfoolable):
    model, x, y, w = unfoolable
    x_adv = apgd(model, x, y, eps=0.1, n_iter=20, clip_min=0.0, clip_max=1.0, random_state=0)
    torch.testing.assert_close(x_adv, (x + 0.1 * w.sign()).clamp(0, 1))


def test_l2_converges_to_the_best_point(unfoolable):
    model, x, y, w = unfoolable
    x_adv = apgd(model, x, y, eps=0.5, norm=2, n_iter=100, random_state=0)
    torch.testing.assert_close(x_adv, x + 0.5 * w / w.norm(), atol=1e-3, rtol=0)
    assert float((x_adv - x).flatten(1).norm(dim=1).max()) <= 0.5 + 1e-6


def test_clean_misclassified_returned_as_is(unfoolable):
    model, x, _, _ = unfoolable
    y = torch.ones(len(x), dtype=torch.long)  # the model says 0 everywhere
    torch.testing.assert_close(apgd(model, x, y, eps=0.1, n_iter=5, random_state=0), x,
                               rtol=0, atol=0)


def test_returns_a_successful_iterate(image_clf, image_data):
    _, _, X, y = image_data
    model, x, y = image_clf.module_, torch.as_tensor(X), torch.as_tensor(y)
    x_adv = apgd(model, x, y, eps=0.1, n_iter=20, clip_min=0, clip_max=1, random_state=0)
    with torch.no_grad():
        fooled = model(x_adv).argmax(1) != y
        clean_ok = model(x).argmax(1) == y
    assert (fooled & clean_ok).any()
    # every example not fooled stayed correctly classified at every offered point:
    # its returned point is a real iterate inside the ball
    assert float((x_adv - x).abs().max()) <= 0.1 + 1e-6


def test_more_restarts_only_add(image_clf, image_data):
    _, _, X, y = image_data
    model, x, y = image_clf.module_, torch.as_tensor(X), torch.as_tensor(y)
    kw = dict(eps=0.08, n_iter=10, clip_min=0, clip_max=1, random_state=3)
    with torch.no_grad():
        once = model(apgd(model, x, y, n_restarts=1, **kw)).argmax(1) != y
        thrice = model(apgd(model, x, y, n_restarts=3, **kw)).argmax(1) != y
    assert bool((thrice | ~once).all())  # fooled once => fooled with more restarts
    assert thrice.sum() >= once.sum()


@pytest.mark.parametrize("loss,norm", [("ce", "inf"), ("dlr", "inf"), ("ce", 2),
                                       ("dlr-targeted", "inf")])
def test_example_alone_or_in_a_batch(loss, norm, image_clf, image_data, per_example):
    _, _, X, y = image_data
    # per_example: alike rounding alone or in a batch (tests/conftest.py), so exact anywhere
    model = per_example(image_clf.module_)
    x, y = torch.as_tensor(X[:16]), torch.as_tensor(y[:16])
    eps = 0.1 if norm == "inf" else 0.5
    rng = Randomness.for_examples(7, len(x))
    batch = apgd(model, x, y, eps=eps, norm=norm, loss=loss, n_iter=15, n_target_classes=2,
                 clip_min=0, clip_max=1, random_state=rng)
    for i in (0, 5, 11):
        alone = apgd(model, x[i:i + 1], y[i:i + 1], eps=eps, norm=norm, loss=loss, n_iter=15,
                     n_target_classes=2, clip_min=0, clip_max=1,
                     random_state=Randomness.for_examples(7, len(x)).subset([i]))
        assert torch.equal(alone[0], batch[i])


def test_explicit_targets(image_clf, image_data):
    _, _, X, y = image_data
    model, x, y = image_clf.module_, torch.as_tensor(X), torch.as_tensor(y)
    y_target = (y + 1) % 10
    x_adv = apgd(model, x, y, eps=0.15, n_iter=30, y_target=y_target, clip_min=0, clip_max=1,
                 random_state=0)
    with torch.no_grad():
        pred = model(x_adv).argmax(1)
    assert (pred == y_target).float().mean() > 0.3


def test_targeted_uses_at_most_n_classes_minus_one_targets(digits):
    """With 4 classes the 9 requested targets shrink to the 3 other classes."""
    from robustsk.base import RobustClassifier
    _, flat, y = digits
    mask = y < 4
    clf = RobustClassifier(max_epochs=5, lr=1e-2, random_state=0, clip_min=0, clip_max=1,
                           module__hidden_units=(16,)).fit(flat[mask][:120], y[mask][:120])
    X, yy = flat[mask][120:170], y[mask][120:170]
    X_adv = APGD(eps=0.2, loss="dlr-targeted", n_iter=10, random_state=0).generate(clf, X, yy)
    assert np.mean(clf.predict(X_adv) == yy) < np.mean(clf.predict(X) == yy)


def test_parameter_errors(unfoolable):
    model, x, y, _ = unfoolable
    with pytest.raises(ValueError, match="rho"):
        apgd(model, x, y, eps=0.1, rho=1.5)
    with pytest.raises(ValueError, match="loss='nope' is unknown"):
        apgd(model, x, y, eps=0.1, loss="nope")
    with pytest.raises(ValueError, match="n_restarts"):
        apgd(model, x, y, eps=0.1, n_restarts=0)
    with pytest.raises(ValueError, match="DLR loss needs at least 3 classes"):
        apgd(model, x, y, eps=0.1, loss="dlr")


def test_halve_step_rule():
    from robustsk.attacks.apgd import halve_step
    t, f = True, False
    losses = torch.tensor([
        [0.0, 1.0, 2.0, 3.0, 4.0],   # rose 4 of 4 > 0.75 * 4: keep
        [0.0, 1.0, 2.0, 3.0, 2.5],   # rose 3 of 4 <= 3: halve (condition 1)
        [0.0, 1.0, 2.0, 3.0, 4.0],   # rose 4 of 4, but not halved last time and no gain
        [0.0, 1.0, 2.0, 3.0, 4.0],   # same, but halved last time: condition 2 cannot fire
        [0.0, 1.0, 2.0, 3.0, 4.0],   # not halved last time, best improved: keep
    ])
    reduced_last = torch.tensor([t, t, f, t, f])
    best = torch.tensor([4.0, 3.0, 4.0, 4.0, 4.0])
    best_last = torch.tensor([0.0, 0.0, 4.0, 4.0, 3.9])
    assert halve_step(losses, 0.75, reduced_last, best, best_last).tolist() == [f, t, t, f, f]
    # k = 1 (late checkpoints of a short run): halve unless the single step rose
    assert halve_step(torch.tensor([[1.0, 1.0], [1.0, 2.0]]), 0.75, torch.tensor([t, t]),
                      torch.zeros(2), torch.ones(2)).tolist() == [t, f]
