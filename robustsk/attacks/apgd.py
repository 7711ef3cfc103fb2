"""Auto-PGD (Croce & Hein, 2020): PGD with momentum and a self-adapting step size.

APGD needs no step size: it starts at ``2 * eps`` and halves the step of an
example at fixed checkpoints (:func:`apgd_checkpoints`) whenever its loss has
stalled, restarting that example from its best point so far. The targeted
version (``loss="dlr-targeted"``) attacks the classes with the largest clean
logits one after the other, as in AutoAttack.
"""
import numbers

import torch

from ..params import Interval, Options
from ._checks import check_labels, check_positive_int, check_threat
from ._primitives import (
    Randomness,
    as_box,
    ascent_step,
    attack_context,
    clip_box,
    flat_norm,
    input_gradient,
    project,
)
from ._target import as_target
from .base import Attack
from .losses import NEEDS_CLEAN, check_n_classes, dlr, get_loss, objective, targeted_dlr
from .tracking import BestIterate

__all__ = ["apgd", "APGD", "apgd_checkpoints", "halve_step", "scale_invariant_apgd"]


def apgd_checkpoints(n_iter):
    """Iterations after which APGD may halve its step: ``[0, w_1, w_2, ...]``.

    The paper's ``p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)``
    in whole iterations, as the reference code counts them: the first interval
    is ``max(floor(0.22 N), 1)``; each later one shrinks by
    ``max(floor(0.03 N), 1)`` down to ``max(floor(0.06 N), 1)``. Checkpoints
    beyond ``n_iter`` are left out. Exact integer arithmetic (``22 * N // 100``)
    avoids the float rounding of ``int(0.22 * N)``.

    Parameters
    ----------
    n_iter : int
        Number of iterations N.

    Returns
    -------
    checkpoints : list of int

    Examples
    --------
    >>> apgd_checkpoints(100)
    [0, 22, 41, 57, 70, 80, 87, 93, 99]
    """
    n_iter = check_positive_int(n_iter, "n_iter", 0)
    interval = max(22 * n_iter // 100, 1)
    shrink = max(3 * n_iter // 100, 1)
    shortest = max(6 * n_iter // 100, 1)
    points = [0]
    while points[-1] + interval <= n_iter:
        points.append(points[-1] + interval)
        interval = max(interval - shrink, shortest)
    return points


def halve_step(losses, rho, reduced_last, best, best_last):
    """APGD's rule at a checkpoint: which examples halve their step and restart.

    Parameters
    ----------
    losses : Tensor of shape (n, k + 1)
        Each example's loss at the previous checkpoint and at the k iterates since.
    rho : float
    reduced_last : BoolTensor of shape (n,)
        Whether the step was halved at the previous checkpoint (True before the first).
    best, best_last : Tensor of shape (n,)
        The best loss now and at the previous checkpoint.

    Returns
    -------
    halve : BoolTensor of shape (n,)
        (1) the loss rose in at most ``rho * k`` of the k iterations, or (2) the
        step was not halved last time and the best loss has not improved since.
    """
    k = losses.shape[1] - 1
    rises = (losses[:, 1:] > losses[:, :-1]).sum(dim=1)
    return (rises <= rho * k) | (~reduced_last & (best <= best_last))


def _resolve_loss(loss, targeted):
    """The maximised objective and the number of classes it needs."""
    name = loss.lower() if isinstance(loss, str) else None
    if targeted and name in ("dlr", "dlr-targeted"):
        return targeted_dlr, 4, "targeted DLR"
    if name == "dlr-targeted":  # explicit targets are passed as y_target
        return targeted_dlr, 4, "targeted DLR"
    fn = get_loss(loss)
    if fn is dlr:
        return objective(loss, targeted), 3, "DLR"
    return objective(loss, targeted), 2, None


def check_apgd_classes(loss, targeted, n_classes):
    """Raise the loss module's ``ValueError`` if ``loss`` needs more classes than the model has."""
    _, needed, name = _resolve_loss(loss, targeted)
    if name is not None:
        check_n_classes(torch.empty(0, n_classes), needed, name)


def _start(x, eps, norm, box, rng):
    """``x + eps * t / ||t||``, t ~ U(-1, 1) (Linf) or N(0, 1) (L2), clipped to the box."""
    t = rng.uniform(x, -1.0, 1.0) if norm == "inf" else rng.normal(x)
    t = t / flat_norm(t, norm).clamp_min(1e-12).view(-1, *[1] * (x.ndim - 1))
    return clip_box(x + eps * t, *box)


class _State:
    """Per-example tensors of one APGD run; examples can be dropped together."""

    def __init__(self, **tensors):
        self.__dict__.update(tensors)

    def keep(self, mask):
        for name, value in vars(self).items():
            if torch.is_tensor(value):
                setattr(self, name, value[mask])
            elif isinstance(value, dict):
                setattr(self, name, {k: v if v is None else v[mask] for k, v in value.items()})


def _run(model, x, y, fn, kw, eps, norm, n_iter, rho, box, rng, run):
    """One APGD run from a random start; every iterate is offered to ``run``.

    Where ``run`` (a :class:`~robustsk.attacks.tracking.TrackedRun`) drops
    examples (the CPU), they leave the batch once fooled: their first
    successful iterate is kept there, and no other example's run depends on them.
    """
    checkpoints = set(apgd_checkpoints(n_iter)[1:])
    x_adv = _start(x, eps, norm, box, rng)
    loss, logits, grad = input_gradient(model, x_adv, y, fn, **kw)
    keep = run.offer(x_adv, logits, loss)
    hist = loss.new_zeros(len(x), n_iter + 1)
    hist[:, 0] = loss
    s = _State(x=x, y=y, kw=kw, x_adv=x_adv, x_prev=x_adv, grad=grad,
               step=torch.full_like(loss, 2 * eps), x_best=x_adv.clone(), grad_best=grad.clone(),
               loss_best=loss.clone(), best_at_check=loss.clone(),
               reduced=torch.ones_like(loss, dtype=torch.bool), hist=hist)
    if keep is not None:
        s.keep(keep)
    last_check = 0
    for i in range(1, n_iter + 1):
        if len(s.x) == 0:
            return
        momentum = 1.0 if i == 1 else 0.75
        z = clip_box(project(ascent_step(s.x_adv, s.grad, s.step, norm), s.x, eps, norm), *box)
        x_new = s.x_adv + momentum * (z - s.x_adv) + (1 - momentum) * (s.x_adv - s.x_prev)
        s.x_prev, s.x_adv = s.x_adv, clip_box(project(x_new, s.x, eps, norm), *box)
        loss, logits, s.grad = input_gradient(model, s.x_adv, s.y, fn, **s.kw)
        keep = run.offer(s.x_adv, logits, loss)
        s.hist[:, i] = loss
        better = loss > s.loss_best
        s.x_best = torch.where(_rows(better, s.x_adv), s.x_adv, s.x_best)
        s.grad_best = torch.where(_rows(better, s.grad), s.grad, s.grad_best)
        s.loss_best = torch.where(better, loss, s.loss_best)
        if keep is not None:
            s.keep(keep)
        if i in checkpoints:
            reduce = halve_step(s.hist[:, last_check:i + 1], rho, s.reduced, s.loss_best,
                                s.best_at_check)
            last_check = i
            s.reduced, s.best_at_check = reduce, s.loss_best.clone()
            s.step = torch.where(reduce, s.step / 2, s.step)
            s.x_adv = torch.where(_rows(reduce, s.x_adv), s.x_best, s.x_adv)
            s.grad = torch.where(_rows(reduce, s.grad), s.grad_best, s.grad)


def _rows(mask, like):
    return mask.view(-1, *[1] * (like.ndim - 1))


def apgd(model, x, y, *, eps, norm="inf", n_iter=100, n_restarts=1, loss="ce", targeted=False,
         y_target=None, n_target_classes=9, rho=0.75, clip_min=None, clip_max=None, mode="eval",
         random_state=None):
    """Auto-PGD: momentum PGD whose step halves where the loss stalls.

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
    n_iter : int, default=100
        Iterations per run (one gradient each, plus one at the start).
    n_restarts : int, default=1
        Runs per target (per series); later runs attack only examples not yet fooled.
    loss : {"ce", "dlr", "dlr-targeted"} or str or callable, default="ce"
        "dlr" needs 3 classes; "dlr-targeted" (always targeted) needs 4.
    targeted : bool, default=False
        Attack, one series of ``n_restarts`` runs each, the classes with the
        2nd to ``n_target_classes + 1``-th largest clean logits, towards each
        (AutoAttack's targeted APGD); success is any misclassification. With
        ``loss="dlr"`` or ``"dlr-targeted"`` the loss is the targeted DLR.
    y_target : LongTensor of shape (n_samples,), default=None
        Fixed targets instead: success is then reaching the target.
    n_target_classes : int, default=9
        Number of target classes of the targeted version (at most n_classes - 1).
    rho : float, default=0.75
        A step halves at a checkpoint if the loss rose in at most ``rho * k``
        of the last k iterations.
    clip_min, clip_max : float or Tensor, default=None
        Input domain; None means unbounded.
    mode : {"eval", "train", None}, default="eval"
        Mode of the model during the attack; restored afterwards.
    random_state : int, torch.Generator, Randomness or None
        An int gives one random stream per example.

    Returns
    -------
    x_adv : Tensor with the shape of ``x``
        Per example, the first successful iterate (the clean input if it is
        already misclassified), else the highest-loss point visited.

    References
    ----------
    .. [1] Croce, F. and Hein, M. "Reliable evaluation of adversarial robustness
       with an ensemble of diverse parameter-free attacks." ICML, 2020.

    Examples
    --------
    >>> import torch
    >>> from robustsk.attacks import apgd
    >>> model = torch.nn.Linear(4, 3)
    >>> x, y = torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1])
    >>> apgd(model, x, y, eps=0.1, n_iter=10, random_state=0).shape
    torch.Size([5, 4])
    """
    eps, norm, _ = check_threat(eps, norm, 0.0)
    n_iter = check_positive_int(n_iter, "n_iter", 0)
    n_restarts = check_positive_int(n_restarts, "n_restarts", 1)
    n_target_classes = check_positive_int(n_target_classes, "n_target_classes", 1)
    if isinstance(rho, bool) or not isinstance(rho, numbers.Real) or not 0 <= rho <= 1:
        raise ValueError(f"rho={rho!r}: expected a fraction in [0, 1] (the paper uses 0.75).")
    auto_targets = y_target is None and (
        targeted or (isinstance(loss, str) and loss.lower() == "dlr-targeted"))
    fn, _, _ = _resolve_loss(loss, auto_targets or y_target is not None)
    y = check_labels(y, x)
    y_target = check_labels(y_target, x, "y_target")
    x = x.detach()
    with attack_context(model, mode):
        with torch.no_grad():
            clean_logits = model(x)
        check_apgd_classes(loss, auto_targets or y_target is not None, clean_logits.shape[1])
        if eps == 0 or len(x) == 0:
            return x.clone()
        box = as_box(clip_min, clip_max, x)
        rng = Randomness.coerce(random_state, len(x))
        needs_clean = get_loss(loss) in NEEDS_CLEAN
        base_kw = {"clean_logits": clean_logits if needs_clean else None}
        if auto_targets:
            order = clean_logits.argsort(dim=1, descending=True)
            n_targets = min(n_target_classes, clean_logits.shape[1] - 1)
            series = [order[:, t] for t in range(1, n_targets + 1)]
        else:
            series = [y_target]
        kw = {**base_kw, "y_target": series[0]}
        with torch.no_grad():
            tracker = BestIterate(x, clean_logits, fn(clean_logits, y, **kw), y,
                                  None if auto_targets else y_target)
        for targets in series:
            kw = {**base_kw, "y_target": targets}
            for _ in range(n_restarts):
                todo = (~tracker.found).nonzero().flatten()
                if len(todo) == 0:
                    return tracker.x
                if len(todo) == len(x):  # every example (the first run): no subset to gather
                    run = tracker.run()
                    _run(model, x, y, fn, kw, eps, norm, n_iter, rho, box, rng, run)
                else:
                    run = tracker.run(todo)
                    _run(model, x[todo], y[todo], fn, {k: None if v is None else v[todo]
                                                       for k, v in kw.items()},
                         eps, norm, n_iter, rho, box, rng.subset(todo), run)
                run.close()
        return tracker.x


class APGD(Attack):
    """Auto-PGD attack (Linf or L2) with the CE, DLR or targeted DLR loss.

    Parameters
    ----------
    eps : float, default=None
        Radius; None inherits the attacked estimator's ``eps``.
    norm : {"inf", 2}, default=None
        None inherits the estimator's ``norm``.
    n_iter : int, default=100
    n_restarts : int, default=1
    loss : {"ce", "dlr", "dlr-targeted"}, default="ce"
        "dlr-targeted" implies ``targeted=True``.
    targeted : bool, default=False
        Attack the ``n_target_classes`` most likely other classes in turn
        (AutoAttack's APGD-T); ``generate(..., y_target=...)`` fixes targets instead.
    n_target_classes : int, default=9
    rho : float, default=0.75
    clip_min, clip_max : float or array-like, default=None
        None inherits the estimator's box.
    batch_size : int, default=256
    random_state : int or None, default=None
        None inherits the estimator's ``random_state``.

    References
    ----------
    .. [1] Croce, F. and Hein, M. "Reliable evaluation of adversarial robustness
       with an ensemble of diverse parameter-free attacks." ICML, 2020.

    Examples
    --------
    >>> from robustsk.attacks import APGD
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import StandardTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = StandardTraining(max_epochs=2, clip_min=0, clip_max=1,
    ...                        random_state=0).fit(X[:300], y[:300])
    >>> attack = APGD(eps=0.1, loss="dlr", n_iter=20, random_state=0)
    >>> X_adv = attack.generate(clf, X[300:340], y[300:340])
    >>> bool(abs(X_adv - X[300:340]).max() <= 0.1 + 1e-6)
    True
    """

    _parameter_constraints = {
        "targeted": [Options(True, False)],
        "n_target_classes": [Interval(int, 1, None)],
        "rho": [Interval(float, 0, 1)],
    }

    def __init__(self, eps=None, norm=None, n_iter=100, n_restarts=1, loss="ce", targeted=False,
                 n_target_classes=9, rho=0.75, clip_min=None, clip_max=None, batch_size=256,
                 random_state=None):
        self.eps = eps
        self.norm = norm
        self.n_iter = n_iter
        self.n_restarts = n_restarts
        self.loss = loss
        self.targeted = targeted
        self.n_target_classes = n_target_classes
        self.rho = rho
        self.clip_min = clip_min
        self.clip_max = clip_max
        self.batch_size = batch_size
        self.random_state = random_state

    def _is_targeted(self, y_target=None):
        return bool(self.targeted) or y_target is not None or (
            isinstance(self.loss, str) and self.loss.lower() == "dlr-targeted")

    def check_target(self, target, y_target=None):
        """Fail on a loss the model's classes cannot support, before any work."""
        classes = getattr(target.estimator, "classes_", None)
        if classes is not None:
            check_apgd_classes(self.loss, self._is_targeted(y_target), len(classes))

    def generate(self, estimator, X, y, *, y_target=None):
        """Adversarial examples for ``X``, as :meth:`Attack.generate`; a loss the
        estimator's number of classes cannot support raises ``ValueError`` first."""
        self.check_target(as_target(estimator), y_target)
        return super().generate(estimator, X, y, y_target=y_target)

    def perturb(self, model, x, y, *, threat, rng, y_target=None):
        """Run APGD (:func:`apgd`) on one batch of tensors.

        Parameters and return value as :meth:`robustsk.attacks.Attack.perturb`.
        """
        return apgd(model, x, y, eps=threat.eps, norm=threat.norm, n_iter=self.n_iter,
                    n_restarts=self.n_restarts, loss=self.loss, targeted=self.targeted,
                    y_target=y_target, n_target_classes=self.n_target_classes, rho=self.rho,
                    clip_min=threat.clip_min, clip_max=threat.clip_max, random_state=rng)


def scale_invariant_apgd(n_classes=None, *, n_iter=100, n_target_classes=9):
    """APGD with the strongest scale-invariant loss a model of ``n_classes`` supports.

    Cross-entropy saturates when the logits are large (multiplied by a
    constant, as defensive distillation does by accident): its input gradient
    underflows to zero and a CE attack reports a robustness that is not there.
    The DLR losses of AutoAttack are ratios of logit differences, unchanged
    when the logits are scaled or shifted, and the margin loss is a difference
    of logits whose gradient never underflows; APGD's steps (the gradient's
    sign or direction) and its step-size rule (comparisons of losses) are then
    unchanged by the scale too.

    ======================  =================================================
    classes                  attack
    ======================  =================================================
    4 or more (or None)      targeted APGD-DLR (``loss="dlr-targeted"``) on the
                             ``min(n_target_classes, n_classes - 1)`` most likely
                             other classes
    3                        APGD-DLR (the targeted DLR needs 4 classes)
    2                        APGD with the margin loss (DLR needs 3)
    ======================  =================================================

    Parameters
    ----------
    n_classes : int or None, default=None
        The attacked model's number of classes; None assumes at least 4.
    n_iter : int, default=100
        Iterations of each APGD run.
    n_target_classes : int, default=9
        Target classes of the targeted version.

    Returns
    -------
    name : str
        ``"APGD-T"``, ``"APGD-DLR"`` or ``"APGD-margin"``.
    attack : APGD
    note : str or None
        The substitution made for fewer than 4 classes, None otherwise.

    References
    ----------
    .. [1] Croce, F. and Hein, M. "Reliable evaluation of adversarial robustness
       with an ensemble of diverse parameter-free attacks." ICML, 2020.

    Examples
    --------
    >>> name, attack, note = scale_invariant_apgd(10, n_iter=20, n_target_classes=3)
    >>> name, attack.loss, attack.n_target_classes, note
    ('APGD-T', 'dlr-targeted', 3, None)
    >>> scale_invariant_apgd(2)[0]
    'APGD-margin'
    """
    if n_classes is None or n_classes >= 4:
        n_targets = n_target_classes if n_classes is None else min(n_target_classes,
                                                                   n_classes - 1)
        return "APGD-T", APGD(n_iter=n_iter, loss="dlr-targeted",
                              n_target_classes=n_targets), None
    if n_classes == 3:
        return "APGD-DLR", APGD(n_iter=n_iter, loss="dlr"), (
            "The targeted DLR loss needs 4 classes and the model has 3: untargeted "
            "APGD-DLR replaces targeted APGD-DLR.")
    return "APGD-margin", APGD(n_iter=n_iter, loss="margin"), (
        f"The DLR loss needs 3 classes and the model has {n_classes}: APGD with "
        "the margin (Carlini-Wagner) loss replaces targeted APGD-DLR.")
