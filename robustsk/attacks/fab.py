"""Fast Adaptive Boundary attack (Croce & Hein, 2020): minimum-norm, Linf and L2.

FAB looks for the adversarial example closest to the input. At each step it
linearises the decision boundary between the true class and one other class
at the current point, projects both the current point and the original input
onto that hyperplane (inside the input box), and moves to a convex
combination of the two projections, biased towards the original input
(``alpha <= alpha_max``) and overshooting slightly (``eta``). Once a point is
adversarial it is kept if it is the closest so far and pulled back towards the
input (``beta``). The targeted version (AutoAttack's FAB-T) uses the boundary
with one target class at a time: the classes with the largest clean logits.

The projection onto a hyperplane inside a box is written here (not taken from
a library: none offers it for torch batches): the minimal-norm step that
reaches the hyperplane moves each coordinate towards it, and as the norm
grows coordinates saturate at the box; the total progress is piecewise linear
in the norm, so one sort and a cumulative sum give the exact minimum.
"""
from numbers import Real

import torch

from ..params import Interval, Options
from ._checks import check_labels, check_positive_int, check_threat
from ._primitives import Randomness, as_box, attack_context, clip_box, drops_examples
from .base import Attack

__all__ = ["fab", "FAB", "project_onto_hyperplane"]

#: stands in for an unbounded distance to the box in the projection
_FAR = 1e10


def _norm(delta, norm):
    flat = delta.flatten(1)
    if flat.shape[1] == 0:
        return flat.new_zeros(len(flat))
    return flat.abs().amax(dim=1) if norm == "inf" else flat.norm(p=2, dim=1)


def _dual_norm(grads, norm):
    """Dual norms of gradients of shape (n, K, ...): L1 for Linf, L2 for L2."""
    flat = grads.flatten(2)
    return flat.abs().sum(-1) if norm == "inf" else flat.norm(p=2, dim=-1)


def project_onto_hyperplane(t, w, b, norm, lower=None, upper=None):
    """The smallest step ``d`` with ``w @ (t + d) = b`` and ``lower <= t + d <= upper``.

    Parameters
    ----------
    t : Tensor of shape (n, d)
        The points to project.
    w : Tensor of shape (n, d)
        Normal vectors of the hyperplanes, one per point.
    b : Tensor of shape (n,)
        Offsets of the hyperplanes.
    norm : {"inf", "2"}
        The norm the step minimises.
    lower, upper : Tensor broadcastable to (n, d), or None
        The box (None: unbounded on that side).

    Returns
    -------
    d : Tensor of shape (n, d)
        The minimal-norm step; where the box does not reach the hyperplane,
        the step to the box corner that comes closest to it.

    Notes
    -----
    Each coordinate moves towards the hyperplane (the sign of ``w_i`` times the
    side to reach) by ``min(lam, m_i)`` (Linf) or ``min(lam |w_i|, m_i)`` (L2),
    ``m_i`` its room to the box. The progress ``sum |w_i| |d_i|`` is
    non-decreasing and piecewise linear in ``lam``, with breakpoints where a
    coordinate reaches the box; the smallest ``lam`` that reaches the
    hyperplane lies between two sorted breakpoints.

    Examples
    --------
    >>> import torch
    >>> t, w, b = torch.zeros(1, 2), torch.tensor([[1.0, 1.0]]), torch.tensor([1.0])
    >>> project_onto_hyperplane(t, w, b, "inf")
    tensor([[0.5000, 0.5000]])
    >>> project_onto_hyperplane(t, w, b, "inf", upper=torch.tensor([0.2, 1.0]))
    tensor([[0.2000, 0.8000]])
    """
    gap = b - (w * t).sum(dim=1)
    side = torch.where(gap >= 0, 1.0, -1.0).to(t.dtype)
    need = gap.abs()
    direction = torch.sign(w) * side[:, None]
    up = (upper - t) if upper is not None else torch.full_like(t, _FAR)
    down = (t - lower) if lower is not None else torch.full_like(t, _FAR)
    room = torch.where(direction > 0, up, down).clamp(min=0.0, max=_FAR)
    weight = w.abs()
    if norm == "inf":
        breaks, slope = room, weight
    else:
        breaks = torch.where(weight > 0, room / weight.clamp_min(1e-30), torch.full_like(room, _FAR))
        slope = weight * weight
    order = breaks.argsort(dim=1)
    breaks_s = breaks.gather(1, order)
    full = (weight * room).gather(1, order)       # progress of a saturated coordinate
    slope_s = slope.gather(1, order)
    before = full.cumsum(dim=1) - full            # saturated coordinates before k
    after = slope_s.flip(1).cumsum(dim=1).flip(1)  # slopes of coordinates k, k+1, ...
    reach = before + breaks_s * after              # progress at lam = breaks_s[:, k]
    k = (reach < need[:, None]).sum(dim=1)
    feasible = k < t.shape[1]
    k = k.clamp(max=t.shape[1] - 1)[:, None]
    lam_k = ((need[:, None] - before.gather(1, k)) / after.gather(1, k).clamp_min(1e-30))
    lam = torch.minimum(lam_k, breaks_s.gather(1, k)).clamp_min(0.0)
    size = torch.minimum(lam if norm == "inf" else lam * weight, room)
    size = torch.where(feasible[:, None], size, room)  # out of reach: as far as the box allows
    return direction * size


def _boundary(model, x, y, target, norm):
    """Per example, the logit difference to cross and its input gradient.

    Targeted: ``z_target - z_y``. Untargeted: of the classes ``j != y``, the one
    whose linearised boundary is closest, ``|z_j - z_y| / ||grad||_dual``.
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        rows = torch.arange(len(x), device=x.device)
        if target is not None:
            diff = logits[rows, target] - logits[rows, y]
            grad, = torch.autograd.grad(diff.sum(), x)
            return diff.detach(), grad.detach(), logits.detach()
        n_classes = logits.shape[1]
        grads = []
        for j in range(n_classes):
            g, = torch.autograd.grad(logits[:, j].sum(), x, retain_graph=j < n_classes - 1)
            grads.append(g)
    grads = torch.stack(grads, dim=1)                        # (n, K, ...)
    logits = logits.detach()
    diffs = logits - logits[rows, y][:, None]
    dgrads = grads - grads[rows, y][:, None]
    dist = diffs.abs() / (_dual_norm(dgrads, norm) + 1e-12)
    dist[rows, y] = float("inf")
    j = dist.argmin(dim=1)
    return diffs[rows, j], dgrads[rows, j], logits


def _start(x, eps, norm, box, rng):
    """A random point at distance ``eps / 2`` (restarts after the first)."""
    t = rng.uniform(x, -1.0, 1.0) if norm == "inf" else rng.normal(x)
    t = t / _norm(t, norm).clamp_min(1e-12).view(-1, *[1] * (x.ndim - 1))
    return clip_box(x + 0.5 * eps * t, *box)


def _run(model, x, y, target, start, norm, n_iter, alpha_max, eta, beta, box, flat_box,
         stop_at=None):
    """One FAB run; the closest adversarial point found per example, and its norm.

    With ``stop_at`` (a radius), an example leaves the run at its first
    adversarial point within ``stop_at`` (on the CPU, see
    :func:`~robustsk.attacks.sync_free`): its later steps could only
    bring it closer, which does not change a success within that radius.
    """
    n = len(x)
    best = x.clone()
    best_norm = torch.full((n,), float("inf"), dtype=x.dtype, device=x.device)
    act = torch.arange(n, device=x.device)
    drop = stop_at is not None and drops_examples(x)
    x1 = start
    for _ in range(n_iter):
        x0 = x.flatten(1)
        diff, grad, _ = _boundary(model, x1, y, target, norm)
        w = grad.flatten(1)
        b = (w * x1.flatten(1)).sum(dim=1) - diff
        steps = project_onto_hyperplane(torch.cat([x1.flatten(1), x0]), torch.cat([w, w]),
                                        torch.cat([b, b]), norm, *flat_box)
        m = len(x)
        d1, d2 = steps[:m], steps[m:]
        size = _norm(steps, norm).clamp_min(1e-8)
        alpha = (size[:m] / (size[:m] + size[m:])).clamp(0.0, alpha_max)[:, None]
        moved = (x1.flatten(1) + eta * d1) * (1 - alpha) + (x0 + eta * d2) * alpha
        x1 = clip_box(moved.view_as(x), *box)
        with torch.no_grad():
            adv = model(x1).argmax(dim=1) != y
        dist = _norm(x1 - x, norm)
        current = best_norm[act]
        closer = adv & (dist < current)
        best[act[closer]] = x1[closer]
        current = torch.where(closer, dist, current)
        best_norm[act] = current
        back = adv.view(-1, *[1] * (x.ndim - 1))
        x1 = torch.where(back, x + beta * (x1 - x), x1)
        if drop:
            keep = ~(current <= stop_at)
            if not keep.all():
                act, x, x1, y = act[keep], x[keep], x1[keep], y[keep]
                target = None if target is None else target[keep]
                if len(act) == 0:
                    break
    return best, best_norm


def fab(model, x, y, *, eps, norm="inf", n_iter=100, n_restarts=1, targeted=True,
        n_target_classes=9, alpha_max=0.1, eta=1.05, beta=0.9, clip_min=None, clip_max=None,
        mode="eval", random_state=None, return_norms=False, minimize=True):
    """FAB: the closest adversarial example found, kept if it lies within ``eps``.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch of inputs to logits.
    x : Tensor of shape (n_samples, ...)
        Clean inputs; never modified.
    y : LongTensor of shape (n_samples,)
        True labels (class indices).
    eps : float
        The radius a success must lie within; restarts after the first start
        at distance ``eps / 2``.
    norm : {"inf", 2}, default="inf"
    n_iter : int, default=100
        Steps per run (one gradient and one prediction each).
    n_restarts : int, default=1
        Runs per target class; the first starts at ``x``, later ones at random.
    targeted : bool, default=True
        Attack the boundary with each of the classes with the 2nd to
        ``n_target_classes + 1``-th largest clean logit in turn (FAB-T, one
        gradient per step); False uses every class's boundary at each step
        (one gradient per class). Success is any misclassification.
    n_target_classes : int, default=9
        At most ``n_classes - 1``.
    alpha_max : float, default=0.1
        The largest weight of the step from the original input.
    eta : float, default=1.05
        Overshoot of the projections.
    beta : float, default=0.9
        Backward step towards the input after a success.
    clip_min, clip_max : float or Tensor, default=None
        Input domain; None means unbounded.
    mode : {"eval", "train", None}, default="eval"
    random_state : int, torch.Generator, Randomness or None
        An int gives one random stream per example (used by restarts only).
    return_norms : bool, default=False
        Also return, per example, the norm of the perturbation returned
        (0 for examples misclassified already, inf where nothing was found
        within ``eps``).
    minimize : bool, default=True
        True: the paper's minimum-norm search, every run takes all its
        ``n_iter`` steps for every example. False (robust accuracy, where only
        a success within ``eps`` counts): on the CPU an example stops at its
        first adversarial point within ``eps``, sparing the steps that would
        only bring it closer; successes are the same, the points returned
        may lie farther from ``x``.

    Returns
    -------
    x_adv : Tensor with the shape of ``x``
        The closest adversarial example found within ``eps`` (of the first
        target class that gave one), else ``x``.
    norms : Tensor of shape (n_samples,), only with ``return_norms=True``

    References
    ----------
    .. [1] Croce, F. and Hein, M. "Minimally distorted Adversarial Examples with
       a Fast Adaptive Boundary Attack." ICML, 2020.
    .. [2] Croce, F. and Hein, M. "Reliable evaluation of adversarial robustness
       with an ensemble of diverse parameter-free attacks." ICML, 2020.

    Examples
    --------
    >>> import torch
    >>> from robustsk.attacks import fab
    >>> torch.manual_seed(0) is not None
    True
    >>> model = torch.nn.Linear(4, 3)
    >>> x, y = torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1])
    >>> x_adv, norms = fab(model, x, y, eps=1.0, n_iter=10, return_norms=True)
    >>> bool((norms[norms.isfinite()] <= 1.0).all())
    True
    """
    eps, norm, _ = check_threat(eps, norm, 0.0)
    n_iter = check_positive_int(n_iter, "n_iter", 0)
    n_restarts = check_positive_int(n_restarts, "n_restarts", 1)
    n_target_classes = check_positive_int(n_target_classes, "n_target_classes", 1)
    for name, value, low, high in (("alpha_max", alpha_max, 0.0, 1.0), ("eta", eta, 1.0, None),
                                   ("beta", beta, 0.0, 1.0)):
        if not isinstance(value, Real) or isinstance(value, bool) or value < low or \
                (high is not None and value > high):
            raise ValueError(f"{name}={value!r}: expected a number in [{low}, "
                             f"{'inf' if high is None else high}] (the paper uses 0.1, 1.05, 0.9 "
                             "for alpha_max, eta, beta).")
    y = check_labels(y, x)
    x = x.detach()
    box = as_box(clip_min, clip_max, x)
    flat_box = tuple(None if v is None else torch.broadcast_to(v, x.shape[1:]).flatten()
                     for v in box)
    rng = Randomness.coerce(random_state, len(x))
    with attack_context(model, mode):
        with torch.no_grad():
            clean = model(x)
        done = clean.argmax(dim=1) != y
        out = x.clone()
        norms = torch.where(done, 0.0, float("inf")).to(x.dtype)
        if targeted:
            order = clean.argsort(dim=1, descending=True)
            series = [order[:, k] for k in range(1, min(n_target_classes, clean.shape[1] - 1) + 1)]
        else:
            series = [None]
        for target in series:
            for restart in range(n_restarts):
                todo = (~done).nonzero().flatten()
                if len(todo) == 0 or eps == 0:
                    break
                xs = x[todo]
                start = xs.clone() if restart == 0 else _start(xs, eps, norm, box, rng.subset(todo))
                best, best_norm = _run(model, xs, y[todo], None if target is None else target[todo],
                                       start, norm, n_iter, alpha_max, eta, beta, box, flat_box,
                                       stop_at=None if minimize else eps)
                ok = best_norm <= eps
                out[todo[ok]] = best[ok]
                norms[todo[ok]] = best_norm[ok]
                done[todo[ok]] = True
    return (out, norms) if return_norms else out


class FAB(Attack):
    """Fast Adaptive Boundary attack, targeted (FAB-T) or not, Linf or L2.

    A minimum-norm attack: it looks for the closest adversarial example and
    counts a success where that lies within ``eps``. AutoAttack's standard
    ensemble runs it targeted, after APGD-CE and APGD-T.

    Parameters
    ----------
    eps : float, default=None
        Radius; None inherits the attacked estimator's ``eps``.
    norm : {"inf", 2}, default=None
        None inherits the estimator's ``norm``.
    n_iter : int, default=100
    n_restarts : int, default=1
    targeted : bool, default=True
    n_target_classes : int, default=9
    alpha_max : float, default=0.1
    eta : float, default=1.05
    beta : float, default=0.9
    minimize : bool, default=True
        True: the minimum-norm search of the paper (every step for every
        example). False: an example stops at its first success within
        ``eps`` (on the CPU), as robust accuracy needs no closer point; the
        AutoAttack-style ensemble of :func:`robustsk.evaluation.evaluate_robustness`
        runs it so.
    clip_min, clip_max : float or array-like, default=None
        None inherits the estimator's box.
    batch_size : int, default=256
    random_state : int or None, default=None
        None inherits the estimator's ``random_state`` (used by restarts).

    References
    ----------
    .. [1] Croce, F. and Hein, M. "Minimally distorted Adversarial Examples with
       a Fast Adaptive Boundary Attack." ICML, 2020.

    Examples
    --------
    >>> from robustsk.attacks import FAB
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import StandardTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = StandardTraining(max_epochs=2, clip_min=0, clip_max=1,
    ...                        random_state=0).fit(X[:300], y[:300])
    >>> X_adv = FAB(eps=0.1, n_iter=10, n_target_classes=2).generate(clf, X[300:330],
    ...                                                               y[300:330])
    >>> bool(abs(X_adv - X[300:330]).max() <= 0.1 + 1e-6)
    True
    """

    _parameter_constraints = {
        "targeted": [Options(True, False)],
        "n_target_classes": [Interval(int, 1, None)],
        "alpha_max": [Interval(float, 0, 1)],
        "eta": [Interval(float, 1, None)],
        "beta": [Interval(float, 0, 1)],
        "minimize": [Options(True, False)],
    }

    def __init__(self, eps=None, norm=None, n_iter=100, n_restarts=1, targeted=True,
                 n_target_classes=9, alpha_max=0.1, eta=1.05, beta=0.9, clip_min=None,
                 clip_max=None, batch_size=256, random_state=None, minimize=True):
        self.eps = eps
        self.norm = norm
        self.n_iter = n_iter
        self.n_restarts = n_restarts
        self.targeted = targeted
        self.n_target_classes = n_target_classes
        self.alpha_max = alpha_max
        self.eta = eta
        self.beta = beta
        self.clip_min = clip_min
        self.clip_max = clip_max
        self.batch_size = batch_size
        self.random_state = random_state
        self.minimize = minimize

    def perturb(self, model, x, y, *, threat, rng, y_target=None):
        """Run FAB (:func:`fab`) on one batch of tensors.

        Parameters and return value as :meth:`robustsk.attacks.Attack.perturb`.
        """
        return self.perturb_with_info(model, x, y, threat=threat, rng=rng,
                                      y_target=y_target)[0]

    def perturb_with_info(self, model, x, y, *, threat, rng, y_target=None):
        """:meth:`perturb`, and ``{"norm": ...}``: per example, the norm of the
        perturbation returned (inf where none was found within ``eps``)."""
        if y_target is not None:
            raise ValueError("FAB picks its own target classes (targeted=True): call it "
                             "without y_target.")
        x_adv, norms = fab(model, x, y, eps=threat.eps, norm=threat.norm, n_iter=self.n_iter,
                           n_restarts=self.n_restarts, targeted=self.targeted,
                           n_target_classes=self.n_target_classes, alpha_max=self.alpha_max,
                           eta=self.eta, beta=self.beta, clip_min=threat.clip_min,
                           clip_max=threat.clip_max, random_state=rng, return_norms=True,
                           minimize=self.minimize)
        return x_adv, {"norm": norms}
