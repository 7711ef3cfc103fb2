"""Training attacks written by hand in plain PyTorch: the baselines the benchmarks time against.

Used by ``overhead.py`` (one epoch of robustsk against a raw loop; it
assembles each defense's batch from these pieces) and, for :func:`raw_pgd`,
by ``eval_speed.py`` and ``eval_throughput.py`` (evaluation against a raw PGD
loop). Each function does exactly the arithmetic of robustsk's counterpart, in
the same order, with the same random draws from ``gen``; ``overhead.py --check``
verifies it bit for bit.
"""
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["frozen", "raw_pgd", "raw_pgd_kl", "raw_es_pgd", "mce_per_example", "mixup_draw",
           "mixup_loss", "cost_weighted_loss"]


def frozen(model, is_frozen):
    """Turn ``requires_grad`` of every parameter off (``True``) or back on."""
    for p in model.parameters():
        p.requires_grad_(not is_frozen)


def raw_pgd(model, x, y, eps, step_size, n_iter, gen, per_example_loss=None, init_eps=None):
    """Madry et al.'s PGD by hand: uniform start, sign steps, last iterate.

    The loss is CE (summed over the batch), or the sum of
    ``per_example_loss(logits, y)`` when given. The network is used as given
    (put it in eval mode and freeze it first, as robustsk's attacks do); each
    step is ``step_size * sign(grad)``, then the projection onto the Linf ball
    of radius ``eps`` and a clip to [0, 1], without best-iterate tracking or
    early dropping. The start is drawn within ``init_eps`` (``eps`` when None).
    """
    radius = eps if init_eps is None else init_eps
    noise = 2 * torch.rand(x.shape, generator=gen, device=x.device) - 1
    x_adv = (x + radius * noise).clamp(0, 1)
    for _ in range(n_iter):
        x_adv.requires_grad_(True)
        logits = model(x_adv)
        loss = (F.cross_entropy(logits, y, reduction="sum") if per_example_loss is None
                else per_example_loss(logits, y).sum())
        grad, = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + step_size * grad.sign()
        x_adv = (x + (x_adv - x).clamp(-eps, eps)).clamp(0, 1)
    return x_adv.detach()


def raw_pgd_kl(model, x, eps, step_size, n_iter, gen):
    """TRADES's inner attack: ``x + 0.001 N(0, 1)``, KL to the clean prediction."""
    with torch.no_grad():
        p_clean = F.softmax(model(x), dim=1)
    x_adv = x + 0.001 * torch.randn(x.shape, generator=gen)
    for _ in range(n_iter):
        x_adv.requires_grad_(True)
        loss = F.kl_div(F.log_softmax(model(x_adv), dim=1), p_clean, reduction="sum")
        grad, = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + step_size * grad.sign()
        x_adv = (x + (x_adv - x).clamp(-eps, eps)).clamp(0, 1)
    return x_adv.detach()


def raw_es_pgd(model, x, y, eps, step_size, n_iter, gen, tau=0, omega=0.001):
    """FAT's early-stopped PGD: freeze an example at its (tau+1)-th wrong iterate."""
    x_adv = (x + eps * (2 * torch.rand(x.shape, generator=gen) - 1)).clamp(0, 1)
    out, active = torch.empty_like(x), torch.arange(len(x))
    budget = torch.full((len(x),), tau, dtype=torch.long)
    x_a, y_a = x, y
    for _ in range(n_iter):
        x_adv.requires_grad_(True)
        logits = model(x_adv)
        grad, = torch.autograd.grad(F.cross_entropy(logits, y_a, reduction="sum"), x_adv)
        x_adv, logits = x_adv.detach(), logits.detach()
        wrong = logits.argmax(dim=1) != y_a
        freeze = wrong & (budget == 0)
        budget = budget - (wrong & ~freeze).long()
        if freeze.any():
            out[active[freeze]] = x_adv[freeze]
            keep = ~freeze
            x_adv, x_a, y_a, grad, budget, active = (x_adv[keep], x_a[keep], y_a[keep],
                                                     grad[keep], budget[keep], active[keep])
            if len(active) == 0:
                break
        x_new = x_adv + step_size * grad.sign()
        x_new = x_new + omega * torch.randn(x_new.shape, generator=gen)
        x_adv = (x_a + (x_new - x_a).clamp(-eps, eps)).clamp(0, 1)
    out[active] = x_adv
    return out


def mce_per_example(logits, y, weight=1.0):
    """Zhang et al.'s MCE loss per example: CE plus the mean over wrong classes of
    ``-log softmax(-z)_j`` (the official code's variant)."""
    n_classes = logits.shape[1]
    neg_log_q = -F.log_softmax(-logits, dim=1)
    wrong = torch.ones_like(neg_log_q, dtype=torch.bool).scatter_(1, y[:, None], False)
    margin = (neg_log_q * wrong).sum(1) / (n_classes - 1)
    return F.cross_entropy(logits, y, reduction="none") + weight * margin


def mixup_draw(gen, n, alpha):
    """One mixing weight ~ Beta(alpha, alpha) (numpy, seeded from ``gen``) and a permutation."""
    seed = int(torch.randint(0, 2**63 - 1, (1,), generator=gen))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    return lam, torch.randperm(n, generator=gen)


def mixup_loss(model, x, y, lam, perm):
    """Mixup's loss: ``lam CE(f(x_mix), y) + (1 - lam) CE(f(x_mix), y[perm])``."""
    logits = model(lam * x + (1 - lam) * x[perm])
    return lam * F.cross_entropy(logits, y) + (1 - lam) * F.cross_entropy(logits, y[perm])


def cost_weighted_loss(logits, y, cost_matrix):
    """Cost-weighted CE plus the excess expected cost (cost-sensitive adversarial training)."""
    n_classes = cost_matrix.shape[0]
    off = cost_matrix * (1 - torch.eye(n_classes, dtype=cost_matrix.dtype))
    rows = off[y]
    weight = rows.sum(1) / (n_classes - 1)
    weighted = (weight * F.cross_entropy(logits, y, reduction="none")).mean()
    excess_cost = rows - weight[:, None] * (1 - F.one_hot(y, n_classes).to(rows.dtype))
    return weighted + (excess_cost * F.softmax(logits, dim=1)).sum(1).mean()
