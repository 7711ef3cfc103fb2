"""Dynamic adversarial training by hand in plain PyTorch: ``overhead.py``'s ``dynamic`` loop.

Mirrors :class:`robustsk.defenses.DynamicAdversarialTraining` with its
default parameters (``c_max=0.5``, ``t_prime=100/120``,
``weight_by_loss=False``): per batch, FOSC-stopped PGD (Wang et al., 2019;
robustsk's :func:`~robustsk.attacks.fosc_pgd`) on the CE in the Linf ball,
network in eval mode with its parameters frozen, then the mean CE of the
network in train mode on the returned points. The attack starts uniformly in
the ball (clipped to [0, 1]), always takes its first step, and after every
projected and clipped step stops each example whose FOSC
``eps ||g||_1 - <x' - x, g>`` (``g`` the CE gradient at the new point, which
also drives the next step) is at most this epoch's threshold
``c_t = max(c_max - c_max t / (t_prime max_epochs), 0)``; at most ``n_iter``
steps. Stopped examples leave the batch, as robustsk's CPU loop drops them.

The arithmetic, its order and the random draws from ``gen`` are robustsk's;
``overhead.py --check`` verifies it bit for bit.
"""
from raw_loops import frozen
import torch
import torch.nn.functional as F

from robustsk.defenses import DynamicAdversarialTraining

__all__ = ["NAME", "ESTIMATOR", "C_MAX", "T_PRIME", "MAX_EPOCHS", "threshold", "raw_fosc_pgd",
           "raw_loss"]

NAME = "dynamic"
ESTIMATOR = DynamicAdversarialTraining
#: DynamicAdversarialTraining's defaults, and the benchmark's max_epochs
C_MAX, T_PRIME, MAX_EPOCHS = 0.5, 100 / 120, 1


def threshold(epoch, c_max=C_MAX, t_prime=T_PRIME, max_epochs=MAX_EPOCHS):
    """The FOSC threshold ``c_t`` of the 0-based ``epoch``."""
    return max(c_max - c_max * epoch / (t_prime * max(max_epochs, 1)), 0.0)


def _ce_gradient(model, x, y):
    """The gradient of the summed CE with respect to ``x``."""
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="none").sum()
    grad, = torch.autograd.grad(loss, x)
    return grad


def raw_fosc_pgd(model, x, y, eps, step_size, n_iter, c, gen):
    """FOSC-stopped PGD: uniform start, sign steps, an example stops once FOSC <= ``c``.

    The network is used as given (eval mode, frozen parameters). Returns the
    last iterate of every example (its stopping point).
    """
    x_adv = (x + eps * (2 * torch.rand(x.shape, generator=gen) - 1)).clamp(0, 1)
    out = x_adv.clone()
    grad = _ce_gradient(model, x_adv, y)
    active, x_a, y_a = torch.arange(len(x)), x, y
    for _ in range(n_iter):
        x_adv = x_adv + step_size * grad.sign()
        x_adv = (x_a + (x_adv - x_a).clamp(-eps, eps)).clamp(0, 1)
        grad = _ce_gradient(model, x_adv, y_a)
        g = grad.flatten(1)
        fosc = eps * g.abs().sum(1) - ((x_adv - x_a).flatten(1) * g).sum(1)
        out[active] = x_adv
        keep = fosc > c
        if not keep.all():
            x_adv, x_a, y_a, grad, active = (x_adv[keep], x_a[keep], y_a[keep], grad[keep],
                                             active[keep])
            if len(active) == 0:
                break
    return out


def raw_loss(model, x, t, *, eps, step_size, n_iter, gen, epoch=0):
    """The batch's loss: mean CE (train mode) on FOSC-stopped PGD examples of epoch ``epoch``."""
    model.eval()
    frozen(model, True)
    try:
        x_adv = raw_fosc_pgd(model, x, t, eps, step_size, n_iter, threshold(epoch), gen)
    finally:
        frozen(model, False)
        model.train()
    return F.cross_entropy(model(x_adv), t)
