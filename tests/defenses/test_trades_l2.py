"""TRADES with norm=2 takes the inner steps of the authors' L2 code."""

import numpy as np
import pytest
import torch
from torch import nn
import torch.nn.functional as F

from robustsk.attacks import seed_from_random_state
from robustsk.base import torch_seed
from robustsk.defenses import TRADES
from robustsk.defenses.trades import trades_l2_examples, trades_loss

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def official_l2(model, x, *, eps, n_iter, generator):
    """The rule of yaodongyu/TRADES trades.py, distance='l_2', written out for the test."""
    model.eval()
    delta = 0.001 * torch.randn(x.shape, generator=generator, dtype=torch.float32)
    delta.requires_grad_(True)
    opt = torch.optim.SGD([delta], lr=eps / n_iter * 2)
    for _ in range(n_iter):
        opt.zero_grad()
        loss = -nn.KLDivLoss(reduction="sum")(F.log_softmax(model(x + delta), dim=1),
                                                F.softmax(model(x), dim=1))
        loss.backward()
        norms = delta.grad.view(len(x), -1).norm(p=2, dim=1)
        delta.grad.div_(norms.view(-1, *[1] * (x.ndim - 1)))
        opt.step()
        delta.data.add_(x)
        delta.data.clamp_(0, 1).sub_(x)
        delta.data.renorm_(p=2, dim=0, maxnorm=eps)
    return (x + delta).detach()


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10))


@pytest.mark.parametrize("seed", [0, 1])
def test_inner_steps_match_the_official_rule(seed, digits):
    X = torch.as_tensor(digits[0][:32])
    model = tiny_model(seed)
    ours = trades_l2_examples(model, X, eps=1.0, n_iter=5, clip_min=0.0, clip_max=1.0,
                              random_state=torch.Generator().manual_seed(seed))
    ref = official_l2(model, X, eps=1.0, n_iter=5,
                      generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-5)
    # the radius binds for most examples (the projection is exercised), box respected
    norms = (ours - X).flatten(1).norm(dim=1)
    assert (norms > 0.99).float().mean() > 0.5 and bool((norms <= 1.0 + 1e-5).all())
    assert float(ours.min()) >= 0.0 and float(ours.max()) <= 1.0


def test_zero_gradient_gets_a_random_direction():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    nn.init.zeros_(model[1].weight)  # constant logits: the KL gradient is exactly zero
    x = torch.full((3, 4), 0.5)
    out = trades_l2_examples(model, x, eps=0.3, n_iter=2, random_state=0)
    assert torch.isfinite(out).all() and bool(((out - x).norm(dim=1) > 0.1).all())


def test_trades_fit_with_norm_2_takes_the_official_step(digits):
    """One TRADES(norm=2) step on one batch equals the official attack + loss + Adam step."""
    X, y = digits[0][:48], digits[2][:48]
    net = tiny_model(3)
    clf = TRADES(module=net, norm=2, eps=1.0, n_iter=4, beta=2.0, max_epochs=1, batch_size=-1,
                 clip_min=0.0, clip_max=1.0, random_state=0, iterator_train__shuffle=False)
    clf.fit(X, y)
    ref_model = tiny_model(3)
    gen = torch.Generator().manual_seed(torch_seed(seed_from_random_state(0)))
    x, t = torch.as_tensor(X), torch.as_tensor(np.searchsorted(clf.classes_, y))
    x_adv = official_l2(ref_model, x, eps=1.0, n_iter=4, generator=gen)
    ref_model.train()
    opt = torch.optim.Adam(ref_model.parameters(), lr=1e-3)
    opt.zero_grad()
    trades_loss(ref_model(x), ref_model(x_adv), t, 2.0)[0].backward()
    opt.step()
    for ours, ref in zip(clf.module_.parameters(), ref_model.parameters()):
        torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)
