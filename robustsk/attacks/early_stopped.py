"""Early-stopped PGD, the training attack of Friendly Adversarial Training (Zhang et al., 2020).

Each example stops as soon as it has been misclassified ``tau + 1`` times: the
attack finds adversarial examples that are *just* wrong, not the most wrong.
"""
import numbers

import torch

from ._checks import check_labels, check_positive_int, check_threat
from ._primitives import (
    Randomness,
    as_box,
    ascent_step,
    attack_context,
    clip_box,
    input_gradient,
    project,
)
from ._primitives import random_start as _ball_start
from .base import Attack
from .losses import NEEDS_CLEAN, get_loss, objective

__all__ = ["early_stopped_pgd", "EarlyStoppedPGD"]

START_CHOICES = ("uniform", "normal", None)


def _check_omega(omega, random_start):
    if omega is None:  # FAT adds the noise, FAT-TRADES (Gaussian start) does not
        return 0.001 if random_start == "uniform" else 0.0
    if isinstance(omega, bool) or not isinstance(omega, numbers.Real) or not omega >= 0:
        raise ValueError(f"omega={omega!r}: expected a noise scale >= 0 (FAT uses 0.001; "
                         "0 disables the noise).")
    return float(omega)


def _start(x, eps, norm, kind, box, rng):
    if kind == "uniform":  # FAT: U(-eps, eps) in every coordinate (Linf), then the box
        if norm == "inf":
            return clip_box(x + eps * rng.uniform(x, -1.0, 1.0), *box)
        return clip_box(_ball_start(x, eps, norm, rng), *box)
    if kind == "normal":  # FAT-TRADES: x + 0.001 N(0, 1), then the box (and the ball, so
        # that an example frozen at its start still respects the threat model)
        return clip_box(project(x + 0.001 * rng.normal(x), x, eps, norm), *box)
    return x.clone()


def early_stopped_pgd(model, x, y, *, eps, norm="inf", step_size=None, n_iter=10, tau=0,
                      loss="ce", random_start="uniform", omega=None, clip_min=None,
                      clip_max=None, mode="eval", random_state=None, return_steps=False):
    """PGD that stops, per example, at its ``(tau + 1)``-th misclassified iterate.

    Before every step (the random start included) each active example is
    checked: misclassified with no budget left, it is frozen; misclassified
    with budget left, its budget drops by one and it keeps stepping; correctly
    classified, it keeps stepping (the budget is not reset). With ``tau=0`` an
    example misclassified at its start takes no step. At most ``n_iter`` steps.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch of inputs to logits.
    x : Tensor of shape (n_samples, ...)
        Clean inputs; never modified.
    y : LongTensor of shape (n_samples,)
    eps : float
    norm : {"inf", 2}, default="inf"
    step_size : float, default=None
        ``eps / 4`` when None (the paper: eps 0.031, step 0.007).
    n_iter : int, default=10
        Maximum number of steps K.
    tau : int, default=0
        Misclassified iterates an example may pass before it freezes.
    loss : {"ce", "kl"} or str or callable, default="ce"
        "ce" for FAT, "kl" (to the clean prediction) for FAT-TRADES.
    random_start : {"uniform", "normal", None}, default="uniform"
        "uniform": ``x + U(-eps, eps)`` then the box (FAT; for L2 a uniform
        point of the ball); "normal": ``x + 0.001 N(0, 1)`` then the box
        (FAT-TRADES); None: start at ``x``.
    omega : float, default=None
        Scale of the Gaussian noise added at every step before the projection.
        None means 0.001 with the uniform start (FAT) and 0 otherwise (FAT-TRADES).
    clip_min, clip_max : float or Tensor, default=None
    mode : {"eval", "train", None}, default="eval"
    random_state : int, torch.Generator, Randomness or None
    return_steps : bool, default=False
        Also return the number of steps each example took.

    Returns
    -------
    x_adv : Tensor with the shape of ``x``
        Aligned with ``x`` (the reference code returns examples in the order
        they froze): the frozen iterate, or the last one.
    steps : LongTensor of shape (n_samples,)
        Only when ``return_steps`` is True.

    References
    ----------
    .. [1] Zhang, J., Xu, X., Han, B., Niu, G., Cui, L., Sugiyama, M. and
       Kankanhalli, M. "Attacks Which Do Not Kill Training Make Adversarial
       Learning Stronger." ICML, 2020.

    Examples
    --------
    >>> import torch
    >>> from robustsk.attacks import early_stopped_pgd
    >>> x, y = torch.rand(4, 3), torch.tensor([0, 1, 0, 1])
    >>> x_adv, steps = early_stopped_pgd(torch.nn.Linear(3, 2), x, y, eps=0.1,
    ...                                  random_state=0, return_steps=True)
    >>> x_adv.shape, bool((steps <= 10).all())
    (torch.Size([4, 3]), True)
    """
    eps, norm, step_size = check_threat(eps, norm, step_size)
    n_iter = check_positive_int(n_iter, "n_iter", 0)
    tau = check_positive_int(tau, "tau", 0)
    if random_start not in START_CHOICES:
        raise ValueError(f"random_start={random_start!r}: expected one of {START_CHOICES}.")
    omega = _check_omega(omega, random_start)
    y = check_labels(y, x)
    x = x.detach()
    steps = torch.zeros(len(x), dtype=torch.long, device=x.device)
    if eps == 0 or len(x) == 0:
        return (x.clone(), steps) if return_steps else x.clone()
    box = as_box(clip_min, clip_max, x)
    rng = Randomness.coerce(random_state, len(x))
    fn = objective(loss, False)
    with attack_context(model, mode):
        kw = {"clean_logits": None}
        if get_loss(loss) in NEEDS_CLEAN:
            with torch.no_grad():
                kw["clean_logits"] = model(x)
        out = torch.empty_like(x)
        active = torch.arange(len(x), device=x.device)
        budget = torch.full((len(x),), tau, dtype=torch.long, device=x.device)
        x_adv, x_a, y_a = _start(x, eps, norm, random_start, box, rng), x, y
        for _ in range(n_iter):
            _, logits, grad = input_gradient(model, x_adv, y_a, fn, **kw)
            wrong = logits.argmax(dim=1) != y_a
            freeze = wrong & (budget == 0)
            budget = budget - (wrong & ~freeze).long()
            if freeze.any():
                out[active[freeze]] = x_adv[freeze]
                keep = ~freeze
                x_adv, x_a, y_a, grad, budget = (x_adv[keep], x_a[keep], y_a[keep], grad[keep],
                                                 budget[keep])
                active, rng = active[keep], rng.subset(keep)
                kw = {k: None if v is None else v[keep] for k, v in kw.items()}
                if len(active) == 0:
                    break
            x_new = ascent_step(x_adv, grad, step_size, norm)
            if omega > 0:
                x_new = x_new + omega * rng.normal(x_new)
            x_adv = clip_box(project(x_new, x_a, eps, norm), *box)
            steps[active] += 1
        out[active] = x_adv
    out = out.detach()
    return (out, steps) if return_steps else out


class EarlyStoppedPGD(Attack):
    """Early-stopped PGD (FAT's training attack): stop at the ``(tau+1)``-th wrong iterate.

    A training attack: it returns the frozen (or last) iterate, not the best
    one, so it is not meant to measure robustness.

    Parameters
    ----------
    eps : float, default=None
        None inherits the estimator's ``eps``.
    norm : {"inf", 2}, default=None
        None inherits the estimator's ``norm``.
    step_size : float, default=None
        ``eps / 4`` when None.
    n_iter : int, default=10
    tau : int, default=0
    loss : {"ce", "kl"}, default="ce"
    random_start : {"uniform", "normal", None}, default="uniform"
    omega : float, default=None
        None: 0.001 with the uniform start, 0 otherwise.
    clip_min, clip_max : float or array-like, default=None
    batch_size : int, default=256
    random_state : int or None, default=None

    References
    ----------
    .. [1] Zhang, J. et al. "Attacks Which Do Not Kill Training Make Adversarial
       Learning Stronger." ICML, 2020.

    Examples
    --------
    >>> from robustsk.attacks import EarlyStoppedPGD
    >>> EarlyStoppedPGD(tau=1).set_params(tau=2).tau
    2
    """

    def __init__(self, eps=None, norm=None, step_size=None, n_iter=10, tau=0, loss="ce",
                 random_start="uniform", omega=None, clip_min=None, clip_max=None,
                 batch_size=256, random_state=None):
        self.eps = eps
        self.norm = norm
        self.step_size = step_size
        self.n_iter = n_iter
        self.tau = tau
        self.loss = loss
        self.random_start = random_start
        self.omega = omega
        self.clip_min = clip_min
        self.clip_max = clip_max
        self.batch_size = batch_size
        self.random_state = random_state

    def perturb(self, model, x, y, *, threat, rng, y_target=None):
        """Run early-stopped PGD (:func:`early_stopped_pgd`) on one batch of tensors.

        Parameters and return value as :meth:`robustsk.attacks.Attack.perturb`.
        """
        if y_target is not None:
            raise ValueError("EarlyStoppedPGD is untargeted: call generate without y_target.")
        return early_stopped_pgd(model, x, y, eps=threat.eps, norm=threat.norm,
                                 step_size=self.step_size, n_iter=self.n_iter, tau=self.tau,
                                 loss=self.loss, random_start=self.random_start,
                                 omega=self.omega, clip_min=threat.clip_min,
                                 clip_max=threat.clip_max, random_state=rng)
