"""Projected gradient descent (Madry et al., 2018), Linf and L2."""
from numbers import Real

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
    random_start,
)
from .base import Attack
from .losses import NEEDS_CLEAN, get_loss, objective
from .tracking import BestIterate

__all__ = ["pgd", "PGD"]

START_CHOICES = ("uniform", "normal", None)


def _start(x, eps, norm, kind, init_std, init_eps, box, rng):
    if kind == "uniform":
        return clip_box(random_start(x, eps if init_eps is None else init_eps, norm, rng), *box)
    if kind == "normal":  # TRADES: x + 0.001 N(0, 1), not clipped before the first step
        return x + init_std * rng.normal(x)
    return x.clone()


def _sub(kw, index):
    return {k: (v[index] if v is not None else None) for k, v in kw.items()}


def _run(model, x, y, fn, kw, eps, norm, step_size, n_iter, start, init_std, init_eps, box, rng,
         run=None):
    """One PGD run from one start; offers every iterate inside the ball to ``run``.

    With a :class:`~robustsk.attacks.tracking.TrackedRun` that drops examples
    (the CPU), an example leaves the batch as soon as it succeeds: the run has
    kept its first successful iterate, so the result is unchanged.
    """
    x_adv = _start(x, eps, norm, start, init_std, init_eps, box, rng)
    if n_iter == 0 and start == "normal":  # no step projects it: keep the threat model
        x_adv = clip_box(project(x_adv, x, eps, norm), *box)
    offer = run is not None and start != "normal"  # a Gaussian start may lie outside the ball
    for _ in range(n_iter):
        loss, logits, grad = input_gradient(model, x_adv, y, fn, **kw)
        if offer:
            keep = run.offer(x_adv, logits, loss)
            if keep is not None:
                x_adv, x, y, grad = x_adv[keep], x[keep], y[keep], grad[keep]
                kw, rng = _sub(kw, keep), rng.subset(keep)
                if len(x_adv) == 0:
                    return x_adv
        offer = run is not None
        x_adv = clip_box(project(ascent_step(x_adv, grad, step_size, norm), x, eps, norm), *box)
    if run is not None and len(x_adv):
        with torch.no_grad():
            logits = model(x_adv)
            run.offer(x_adv, logits, fn(logits, y, **kw))
    return x_adv


def pgd(model, x, y, *, eps, norm="inf", step_size=None, n_iter=20, random_start="uniform",
        init_std=1e-3, init_eps=None, n_restarts=1, loss="ce", y_target=None, clip_min=None,
        clip_max=None, return_best=True, mode="eval", random_state=None):
    """Projected gradient ascent on a loss inside an Linf or L2 ball.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch of inputs to logits.
    x : Tensor of shape (n_samples, ...)
        Clean inputs; never modified.
    y : LongTensor of shape (n_samples,)
        True labels (class indices).
    eps : float
        Radius of the ball, in the units of ``x``.
    norm : {"inf", 2}, default="inf"
    step_size : float, default=None
        ``eps / 4`` when None.
    n_iter : int, default=20
        Gradient steps per restart.
    random_start : {"uniform", "normal", None}, default="uniform"
        "uniform": a point drawn uniformly from the ball (then clipped);
        "normal": ``x + init_std * N(0, 1)``, unclipped (TRADES's start);
        None: start at ``x``.
    init_std : float, default=1e-3
        Scale of the "normal" start.
    init_eps : float, default=None
        Radius of the ball the "uniform" start is drawn from; ``eps`` when
        None (margin boosting's reference code starts within ``eps / 2``).
    n_restarts : int, default=1
        Independent restarts; later restarts attack only examples not yet fooled.
    loss : str or callable, default="ce"
        "ce", "kl" (to the clean prediction, TRADES), "margin"/"cw", "dlr", or
        ``loss(logits, y, **kw) -> (n,)``.
    y_target : LongTensor of shape (n_samples,), default=None
        Targets of a targeted attack (the loss is then minimised towards them).
    clip_min, clip_max : float or Tensor, default=None
        Input domain; None means unbounded.
    return_best : bool, default=True
        True (evaluation): per example, the first successful iterate, else the
        highest-loss one, with the clean input as the first candidate, so more
        steps never weaken the attack. False (training): the last iterate.
    mode : {"eval", "train", None}, default="eval"
        Mode of the model during the attack; restored afterwards.
    random_state : int, torch.Generator, Randomness or None
        An int gives one random stream per example.

    Returns
    -------
    x_adv : Tensor with the shape of ``x``

    References
    ----------
    .. [1] Madry, A., Makelov, A., Schmidt, L., Tsipras, D. and Vladu, A.
       "Towards Deep Learning Models Resistant to Adversarial Attacks." ICLR, 2018.

    Examples
    --------
    >>> import torch
    >>> from robustsk.attacks import pgd
    >>> model = torch.nn.Linear(4, 3)
    >>> x, y = torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1])
    >>> pgd(model, x, y, eps=0.1, n_iter=5, random_state=0).shape
    torch.Size([5, 4])
    """
    eps, norm, step_size = check_threat(eps, norm, step_size)
    n_iter = check_positive_int(n_iter, "n_iter", 0)
    n_restarts = check_positive_int(n_restarts, "n_restarts", 1)
    if random_start not in START_CHOICES:
        raise ValueError(f"random_start={random_start!r}: expected one of {START_CHOICES}.")
    if init_eps is not None and (isinstance(init_eps, bool) or not isinstance(init_eps, Real)
                                 or not 0 <= init_eps <= eps):
        raise ValueError(f"init_eps={init_eps!r}: expected None or a radius in [0, eps={eps}].")
    y = check_labels(y, x)
    y_target = check_labels(y_target, x, "y_target")
    x = x.detach()
    if eps == 0 or len(x) == 0:
        return x.clone()
    box = as_box(clip_min, clip_max, x)
    rng = Randomness.coerce(random_state, len(x))
    fn = objective(loss, y_target is not None)
    with attack_context(model, mode):
        kw = {"y_target": y_target, "clean_logits": None}
        if get_loss(loss) in NEEDS_CLEAN:
            with torch.no_grad():
                kw["clean_logits"] = model(x)
        args = (eps, norm, step_size, n_iter, random_start, init_std, init_eps, box)
        if not return_best:
            best, best_loss = None, None
            for _ in range(n_restarts):
                x_adv = _run(model, x, y, fn, kw, *args, rng)
                if n_restarts == 1:
                    return x_adv.detach()
                with torch.no_grad():
                    cur = fn(model(x_adv), y, **kw)
                if best is None:
                    best, best_loss = x_adv, cur
                else:
                    better = cur > best_loss
                    best[better], best_loss = x_adv[better], torch.where(better, cur, best_loss)
            return best.detach()
        with torch.no_grad():
            logits = model(x)
            tracker = BestIterate(x, logits, fn(logits, y, **kw), y, y_target)
        for _ in range(n_restarts):
            todo = (~tracker.found).nonzero().flatten()
            if len(todo) == 0:
                break
            if len(todo) == len(x):  # every example (the first run): no subset to gather
                run = tracker.run()
                _run(model, x, y, fn, kw, *args, rng, run)
            else:
                run = tracker.run(todo)
                _run(model, x[todo], y[todo], fn, _sub(kw, todo), *args, rng.subset(todo), run)
            run.close()
        return tracker.x


class PGD(Attack):
    """Projected gradient descent attack (Linf or L2), with restarts.

    Parameters
    ----------
    eps : float, default=None
        Radius; None inherits the attacked estimator's ``eps``.
    norm : {"inf", 2}, default=None
        None inherits the estimator's ``norm``.
    step_size : float, default=None
        ``eps / 4`` when None.
    n_iter : int, default=20
    n_restarts : int, default=1
    random_start : {"uniform", "normal", None}, default="uniform"
    loss : {"ce", "margin", "dlr"} or callable, default="ce"
    clip_min, clip_max : float or array-like, default=None
        None inherits the estimator's box.
    batch_size : int or "auto", default=256
        ``"auto"``: sized by a memory budget (:func:`memory_batch_size`).
    random_state : int or None, default=None
        None inherits the estimator's ``random_state``.

    References
    ----------
    .. [1] Madry, A. et al. "Towards Deep Learning Models Resistant to Adversarial
       Attacks." ICLR, 2018.

    Examples
    --------
    >>> from robustsk.attacks import PGD
    >>> PGD(eps=0.1, n_iter=20).set_params(n_iter=50).n_iter
    50
    """

    def __init__(self, eps=None, norm=None, step_size=None, n_iter=20, n_restarts=1,
                 random_start="uniform", loss="ce", clip_min=None, clip_max=None,
                 batch_size=256, random_state=None):
        self.eps = eps
        self.norm = norm
        self.step_size = step_size
        self.n_iter = n_iter
        self.n_restarts = n_restarts
        self.random_start = random_start
        self.loss = loss
        self.clip_min = clip_min
        self.clip_max = clip_max
        self.batch_size = batch_size
        self.random_state = random_state

    def perturb(self, model, x, y, *, threat, rng, y_target=None):
        """Run PGD (:func:`pgd`) on one batch of tensors.

        Parameters and return value as :meth:`robustsk.attacks.Attack.perturb`.
        """
        return pgd(model, x, y, eps=threat.eps, norm=threat.norm, step_size=self.step_size,
                   n_iter=self.n_iter, random_start=self.random_start,
                   n_restarts=self.n_restarts, loss=self.loss, y_target=y_target,
                   clip_min=threat.clip_min, clip_max=threat.clip_max, random_state=rng)
