"""FOSC and FOSC-stopped PGD (Wang et al., 2019)."""
import numpy as np
import pytest
import torch

from robustsk.attacks import fosc, fosc_pgd, fosc_values
from robustsk.datasets import load_digits_images
from robustsk.defenses import StandardTraining


def _binary_linear():
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 2)
    x = torch.rand(8, 6)
    y = torch.tensor([0, 1, 0, 1, 1, 0, 0, 1])
    return model, x, y


def test_fosc_zero_at_the_maximiser_of_a_linear_models_loss():
    # Two classes: the CE gradient wrt x is (1 - p_y)(w_other - w_y), whose sign is
    # the same everywhere, so x + eps * sign(w_other - w_y) maximises the loss
    # over the Linf ball and is first-order stationary: FOSC = 0 there.
    model, x, y = _binary_linear()
    w = model.weight.detach()
    direction = (w[1 - y] - w[y]).sign()
    eps = 0.1
    x_star = x + eps * direction
    at_star = fosc_values(model, x_star, x, y, eps=eps)
    at_clean = fosc_values(model, x, x, y, eps=eps)
    scale = at_clean.abs().max()
    assert at_star.abs().max() <= 1e-5 * scale
    assert (at_clean > 0.01 * scale).all()
    # at the clean point FOSC is eps times the l1 norm of the gradient
    x_req = x.clone().requires_grad_(True)
    g, = torch.autograd.grad(torch.nn.functional.cross_entropy(model(x_req), y, reduction="sum"),
                             x_req)
    assert torch.allclose(at_clean, eps * g.abs().sum(1), rtol=1e-5)
    # the numpy diagnostic agrees
    np.testing.assert_allclose(fosc(model, x_star.numpy(), x.numpy(), y.numpy(), eps),
                               at_star.numpy(), atol=1e-5 * float(scale))


def test_fosc_l2_uses_the_l2_dual_norm():
    model, x, y = _binary_linear()
    at_clean = fosc_values(model, x, x, y, eps=0.5, norm=2)
    x_req = x.clone().requires_grad_(True)
    g, = torch.autograd.grad(torch.nn.functional.cross_entropy(model(x_req), y, reduction="sum"),
                             x_req)
    assert torch.allclose(at_clean, 0.5 * g.norm(dim=1), rtol=1e-5)


@pytest.mark.parametrize("c, expected", [(float("inf"), 1), (float("-inf"), 4)])
def test_fosc_pgd_threshold_extremes(c, expected):
    model, x, y = _binary_linear()
    x_adv, steps, values = fosc_pgd(model, x, y, eps=0.1, n_iter=4, c=c, clip_min=0,
                                    clip_max=1, random_state=0, return_steps=True,
                                    return_fosc=True)
    assert steps.tolist() == [expected] * len(x)
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert torch.allclose(values, fosc_values(model, x_adv, x, y, eps=0.1), atol=1e-6)


def test_fosc_pgd_stops_each_example_at_its_threshold():
    model, x, y = _binary_linear()
    _, steps, values = fosc_pgd(model, x, y, eps=0.1, n_iter=12, c=1e-5, random_state=0,
                                    return_steps=True, return_fosc=True)
    # On a binary linear model each signed step of eps/4 moves every coordinate
    # towards the stationary vertex x + eps * sign(w_other - w_y), at most 2 eps
    # away from the start: there after 8 steps at most, where FOSC is 0 up to
    # rounding, so every example stops early.
    assert (steps <= 8).all() and (values <= 1e-5).all()
    assert torch.equal(x, _binary_linear()[1])  # input untouched


def test_fosc_accepts_a_fitted_estimator_with_its_labels():
    X_tr, y_tr = load_digits_images(return_X_y=True)
    labels = np.array(list("abcdefghij"))[y_tr[:200]]
    clf = StandardTraining(max_epochs=1, random_state=0, clip_min=0, clip_max=1)
    clf.fit(X_tr[:200], labels)
    X = X_tr[:20]
    values = fosc(clf, X, X, labels[:20], 0.1)
    expected = fosc(clf.module_, X, X, y_tr[:20], 0.1)
    assert values.shape == (20,) and (values > 0).all()
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="not among"):
        fosc(clf, X[:2], X[:2], ["z", "a"], 0.1)
    with pytest.raises(TypeError, match="expected a fitted robustsk estimator"):
        fosc("model", X, X, y_tr[:20], 0.1)
