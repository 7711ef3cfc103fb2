"""Adversarial training on IWD examples by hand: ``overhead.py``'s raw loop for ``iwd``.

Mirrors one batch of :class:`robustsk.defenses.IWDAdversarialTraining` on the
SmallCNN: with the network in eval mode and its parameters frozen, the IWD
attack from the clean batch (deterministic: no random start), ``n_iter``
times:

1. the input gradient of the summed CE;
2. a steepest-ascent step in the distance's local metric,
   ``d = grad / cov`` (``cov``: the share of the patches each pixel lies in,
   ``fold(unfold(1)) / n_patches``), scaled to length ``IWD_EPS / 4`` in the
   norm ``sqrt(sum cov d^2)``, then clipped to [0, 1];
3. back within ``IWD_EPS`` in internal Wasserstein distance: the squared
   distance is ``2 S(P_x, P_x')``, ``S`` GeomLoss's debiased Sinkhorn
   divergence (``p=2``, ``blur=0.05``, epsilon-scaling 0.99, diameter
   ``(1 - 0) * sqrt(16)`` from the box, tensorized backend, one problem per
   image) between the two images' sets of ``PATCH_SIZE`` x ``PATCH_SIZE``
   patches (``F.unfold`` at ``STRIDE``); against the level
   ``(IWD_EPS (1 - 0.001))^2``, ``N_PROJ_STEPS`` Polyak steps
   ``x' -= max(S2 - level, 0) / ||grad S2||^2 grad S2`` for the images over
   it, clipped to [0, 1] (none once every image is under: then no
   retraction either), then a retraction along the segment from ``x``: up
   to four evaluations of ``S2`` at ``x + t (x' - x)``, after each of the
   first three ``t <- 0.99 t sqrt(level / S2)`` for the images still over,
   and ``x`` itself for those over at the fourth (the loop below also
   computes a fourth shrink, which that fallback overwrites: robustsk skips
   it, with the same result);

the last iterate; then, in train mode, ``CE(f(x'), y)``; Adam. The
estimator's Linf ``eps`` (0.1) is not the training budget (``iwd_eps`` is),
so ``eps`` and ``step_size`` are unused here.

Settings: robustsk's defaults (``iwd_eps=0.3``, ``n_proj_steps=1``,
``blur=0.05``, ``scaling=0.5``, ``attack_mode="eval"``) except the patches: ``patch_size=4,
stride=4`` (the 49 non-overlapping 4x4 tiles of a 28x28 image) instead of
3 and 1 (676 overlapping patches). The default makes every Sinkhorn problem
676 x 676 per image, and an attack of 10 steps was measured at about 100 s
per batch of 64 on one CPU thread; with 49 tiles a batch took about 1 s at 2
steps and 5 s at 10 (about 5 s and 50 s at ``scaling=0.99``, the accurate
setting the IWD attack evaluates with), so the CI check stays a few seconds
and a timed epoch is affordable. The tiles cover every pixel once
(``cov = 1/49`` everywhere), so the metric step is the plain normalised
gradient; what is timed is the same algorithm at a smaller transport problem.

A step has length ``IWD_EPS / 4`` in the local metric, so the budget binds
from about the fifth step on: the check at 2 steps (``tests/test_benchmarks.py``)
never reaches the Polyak steps and the retraction. They were checked bitwise
too, at 10 steps on two batches of 64 (the first images over the budget after
the sixth step, all of them by the ninth or tenth; at scaling 0.5).

Without GeomLoss (robustsk's optional ``ot`` extra) this module reports
itself missing, so ``overhead.py`` runs without the ``iwd`` row.

Plain torch and GeomLoss (the optimal-transport library robustsk calls, used
directly as a user would) for the arithmetic: the network class is robustsk's,
nothing else is.
"""
import math

from raw_loops import frozen
import torch
import torch.nn.functional as F

from robustsk.defenses import IWDAdversarialTraining

try:
    from geomloss import SamplesLoss
except ModuleNotFoundError as err:
    if err.name != "geomloss":
        raise
    # GeomLoss is robustsk's optional "ot" extra (its IWD tests skip without it); overhead.py
    # leaves out a plug-in that is not found, so without GeomLoss the iwd row is left out.
    raise ModuleNotFoundError("raw_iwd needs GeomLoss: pip install 'robustsk[ot]'",
                              name=__name__) from err

__all__ = ["NAME", "ESTIMATOR", "IWD_EPS", "PATCH_SIZE", "STRIDE", "N_PROJ_STEPS", "BLUR",
           "SCALING", "estimator_kwargs", "raw_loss"]

NAME = "iwd"
ESTIMATOR = IWDAdversarialTraining
#: the training budget on the internal Wasserstein distance (robustsk's default)
IWD_EPS = 0.3
#: 4x4 tiles (robustsk's default: 3x3 patches at stride 1; see the module docstring)
PATCH_SIZE, STRIDE = 4, 4
#: Polyak steps per iteration, Sinkhorn blur and epsilon-scaling ratio (the defense's
#: defaults; 0.5 underestimates the distance, see robustsk.attacks.internal_wasserstein)
N_PROJ_STEPS, BLUR, SCALING = 1, 0.05, 0.5
#: the input box of ``overhead._estimator``
CLIP_MIN, CLIP_MAX = 0.0, 1.0
#: a final iterate aims this fraction below the budget (robustsk's margin)
MARGIN = 1e-3

#: debiased Sinkhorn divergence between patch sets, its schedule's diameter from the box
SINKHORN = SamplesLoss("sinkhorn", p=2, blur=BLUR, scaling=SCALING,
                       diameter=(CLIP_MAX - CLIP_MIN) * math.sqrt(PATCH_SIZE ** 2),
                       debias=True, backend="tensorized")


def estimator_kwargs(args):
    """IWD training with the budget, patches and projection the raw side uses."""
    return {"iwd_eps": IWD_EPS, "patch_size": PATCH_SIZE, "stride": STRIDE,
            "n_proj_steps": N_PROJ_STEPS, "blur": BLUR, "scaling": SCALING,
            "attack_mode": "eval"}


def _patches(x):
    return F.unfold(x, kernel_size=PATCH_SIZE, stride=STRIDE).transpose(1, 2)


def _coverage(x):
    """How many patches each pixel lies in over the number of patches, shape (C, H, W)."""
    cols = F.unfold(torch.ones_like(x[:1]), kernel_size=PATCH_SIZE, stride=STRIDE)
    cov = F.fold(cols, x.shape[-2:], kernel_size=PATCH_SIZE, stride=STRIDE) / cols.shape[-1]
    return cov[0]


def _squared_distance(p_clean, x_adv):
    return 2.0 * SINKHORN(p_clean, _patches(x_adv))


def _back_within(x_adv, x, p_clean, level):
    """Polyak steps on the squared distance, then retraction towards ``x``."""
    for _ in range(N_PROJ_STEPS):
        xa = x_adv.detach().requires_grad_(True)
        div = _squared_distance(p_clean, xa)
        over = div.detach() > level
        if not over.any():
            return x_adv.detach()
        grad, = torch.autograd.grad(div.sum(), xa)
        g2 = grad.flatten(1).pow(2).sum(1).clamp_min(1e-20)
        step = ((div.detach() - level) / g2).clamp_min(0) * over
        x_adv = (x_adv - step.view(-1, 1, 1, 1) * grad).clamp(CLIP_MIN, CLIP_MAX).detach()
    delta = x_adv - x
    t = torch.ones(len(x))
    for _ in range(4):
        with torch.no_grad():
            div = _squared_distance(p_clean, x + t.view(-1, 1, 1, 1) * delta)
        over = div > level
        if not over.any():
            break
        t = torch.where(over, t * torch.sqrt(level / div.clamp_min(1e-20)) * 0.99, t)
    t = torch.where(div > level, torch.zeros_like(t), t)
    return (x + t.view(-1, 1, 1, 1) * delta).detach()


def raw_iwd(model, x, t, n_iter):
    """The last iterate of ``n_iter`` IWD steps (network used as given)."""
    p_clean, cov = _patches(x), _coverage(x)
    level = (IWD_EPS * (1 - MARGIN)) ** 2
    x_adv = x.clone()
    for _ in range(n_iter):
        xa = x_adv.detach().requires_grad_(True)
        loss = F.cross_entropy(model(xa), t, reduction="none")
        grad, = torch.autograd.grad(loss.sum(), xa)
        direction = torch.where(cov > 0, grad / cov.clamp_min(1e-12), torch.zeros_like(grad))
        size = (cov * direction ** 2).flatten(1).sum(1).clamp_min(1e-20).sqrt()
        step = IWD_EPS / 4 * direction / size.view(-1, 1, 1, 1)
        x_adv = (x_adv + step).clamp(CLIP_MIN, CLIP_MAX)
        x_adv = _back_within(x_adv, x, p_clean, level)
    return x_adv


def raw_loss(model, x, t, *, eps, step_size, n_iter, gen, epoch=0):
    """CE on the batch's IWD examples (``eps``, ``step_size``, ``gen`` unused: see above)."""
    model.eval()
    frozen(model, True)
    try:
        x_adv = raw_iwd(model, x, t, n_iter)
    finally:
        frozen(model, False)
        model.train()
    return F.cross_entropy(model(x_adv), t)
