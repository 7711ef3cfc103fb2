"""Training attacks written by hand in plain PyTorch: the baselines the benchmarks time against.

Shared by ``overhead.py`` (one epoch of robustsk against a raw loop),
``eval_speed.py`` and ``eval_throughput.py`` (evaluation against a raw PGD
loop). Each function does exactly the arithmetic of robustsk's counterpart, in
the same order, with the same random draws from ``gen``; ``overhead.py --check``
verifies it bit for bit.
"""
import torch
import torch.nn.functional as F

__all__ = ["frozen", "raw_pgd"]


def frozen(model, is_frozen):
    """Turn ``requires_grad`` of every parameter off (``True``) or back on."""
    for p in model.parameters():
        p.requires_grad_(not is_frozen)


def raw_pgd(model, x, y, eps, step_size, n_iter, gen):
    """Madry et al.'s PGD by hand: uniform start, CE, sign steps, last iterate.

    The network is used as given (put it in eval mode and freeze it first, as
    robustsk's attacks do); each step is ``step_size * sign(grad)``, then the
    projection onto the Linf ball of radius ``eps`` and a clip to [0, 1],
    without best-iterate tracking or early dropping.
    """
    x_adv = (x + eps * (2 * torch.rand(x.shape, generator=gen) - 1)).clamp(0, 1)
    for _ in range(n_iter):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y, reduction="sum")
        grad, = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + step_size * grad.sign()
        x_adv = (x + (x_adv - x).clamp(-eps, eps)).clamp(0, 1)
    return x_adv.detach()
