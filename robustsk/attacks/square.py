"""Square attack (Andriushchenko et al., 2020): random search with square updates.

A score-based attack: each iteration proposes, for every example still
classified correctly, a change of one random square window of the current
best point and keeps it if the margin loss improves (per-example acceptance).
The window covers a fraction ``p`` of the pixels that shrinks on the paper's
piecewise-constant schedule.

Inputs that are not images are handled by the shape the attack gives them:
``(n, c, h, w)`` is used as it is, ``(n, h, w)`` as one channel, and flat
``(n, d)`` features (or any other shape) as a ``1 x d`` "image" of one row,
so a "square" is a run of ``round(p * d)`` consecutive features. Pass
``image_shape=(c, h, w)`` to see flat inputs as images (e.g. ``(1, 8, 8)`` for
the 64 digits features), which gives the spatial squares of the paper.
"""
import math
from numbers import Real

import torch

from ._checks import check_labels, check_positive_int, check_threat
from ._primitives import (
    Randomness,
    as_box,
    attack_context,
    clip_box,
    drops_examples,
)
from ._scores import ScoreAttack, subset_kwargs
from .losses import objective
from .tracking import BestIterate

__all__ = ["square", "Square", "p_schedule"]

#: iteration thresholds of the paper's schedule, on a budget of 10,000 queries
_THRESHOLDS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def p_schedule(p_init, it, n_iter, rescale=True):
    """The fraction of pixels changed at iteration ``it`` of ``n_iter``.

    The paper's schedule halves ``p`` at iterations 10, 50, 200, 500, 1000,
    2000, 4000, 6000 and 8000 of a 10,000-query budget; with ``rescale`` it
    is stretched to ``n_iter`` (``it`` is mapped to ``int(it / n_iter *
    10000)``, AutoAttack's ``resc_schedule=True``), without it the
    thresholds are counted in iterations as they are (AutoAttack's standard
    ensemble: ``resc_schedule=False`` with 5,000 queries).

    Parameters
    ----------
    p_init : float
    it : int
    n_iter : int
    rescale : bool, default=True

    Returns
    -------
    p : float

    Examples
    --------
    >>> p_schedule(0.8, 0, 1000), p_schedule(0.8, 3, 1000), p_schedule(0.8, 999, 1000)
    (0.8, 0.4, 0.0015625)
    """
    scaled = int(it / max(n_iter, 1) * 10000) if rescale else int(it)
    return p_init / 2 ** sum(scaled > t for t in _THRESHOLDS)


def _to_image(x, image_shape):
    if image_shape is not None:
        shape = tuple(int(s) for s in image_shape)
        if len(shape) != 3 or math.prod(shape) != x[0].numel():
            raise ValueError(f"image_shape={image_shape!r} does not fit examples of shape "
                             f"{tuple(x.shape[1:])}: expected (channels, height, width) with "
                             f"{x[0].numel()} values in all.")
        return x.reshape(len(x), *shape)
    if x.ndim == 4:
        return x
    if x.ndim == 3:
        return x.unsqueeze(1)
    return x.reshape(len(x), 1, 1, -1)


def _window(p, h, w, minimum):
    """Height and width of the window covering a fraction ``p`` of the h x w pixels."""
    area = p * h * w
    if h == 1 or w == 1:
        length = max(h, w)
        side = min(max(round(area), minimum, 1), length)
        return (1, side) if h == 1 else (side, 1)
    side = min(max(round(math.sqrt(area)), minimum, 1), h, w)
    return side, side


def _bump(a, b):
    """Concentric rectangles weighted ``1 / (k + 1)^2`` (the paper's eta), unit L2 norm."""
    if a == 0 or b == 0:
        return torch.zeros(a, b)
    i = (torch.arange(a) - a // 2).abs().view(-1, 1)
    j = (torch.arange(b) - b // 2).abs().view(1, -1)
    start = torch.maximum(i, j)
    kmax = max(a // 2, b // 2) + 1
    weights = 1.0 / torch.arange(1, kmax + 1, dtype=torch.float64) ** 2
    tail = weights.flip(0).cumsum(0).flip(0)  # tail[k] = sum_{k' >= k} 1 / (k'+1)^2
    out = tail[start]
    return out / out.norm()


def _eta(a, b):
    """The L2 update pattern: a positive and a negative bump side by side, unit norm."""
    out = torch.zeros(a, b, dtype=torch.float64)
    if a >= 2:
        out[:a // 2] = _bump(a // 2, b)
        out[a // 2:] = -_bump(a - a // 2, b)
    else:
        out[:, :b // 2] = _bump(a, b // 2)
        out[:, b // 2:] = -_bump(a, b - b // 2)
    return out / out.norm()


def _place(values, top, left, h, w):
    """Per example, a zero (h, w) map with ``values[i]`` (sh, sw) at ``(top[i], left[i])``."""
    n, sh, sw = values.shape
    out = values.new_zeros(n, h, w)
    rows = top.view(-1, 1, 1) + torch.arange(sh, device=top.device).view(1, -1, 1)
    cols = left.view(-1, 1, 1) + torch.arange(sw, device=top.device).view(1, 1, -1)
    out[torch.arange(n, device=top.device).view(-1, 1, 1), rows, cols] = values
    return out


def _positions(u, h, w, sh, sw):
    top = (u[:, 0] * (h - sh + 1)).long().clamp(max=h - sh)
    left = (u[:, 1] * (w - sw + 1)).long().clamp(max=w - sw)
    return top, left


def _signs(u):
    return torch.where(u >= 0.5, 1.0, -1.0).to(u.dtype)


def _norms(t, dims):
    return (t * t).sum(dim=dims, keepdim=True).sqrt()


def _init_l2(x, eps, rng):
    """Tiles of the eta pattern with random signs per tile and channel, scaled to eps.

    As the official code: tiles of side ``h // 5`` from the offset ``(h - 5 * side) // 2``,
    ``h // side`` of them, the last ones cut at the image's edge (on an 8 x 8 image the
    first row and column stay zero).
    """
    n, c, h, w = x.shape
    th, tw = max(h // 5, 1), max(w // 5, 1)
    rows, cols = h // th, w // tw
    off_h, off_w = max((h - 5 * th) // 2, 0), max((w - 5 * tw) // 2, 0)
    signs = _signs(rng.uniform(x.new_empty(n, c, rows, cols), 0.0, 1.0))
    eta = _eta(th, tw).to(x)
    # (n, c, rows, th, cols, tw): tile (r, q) of channel c is eta * signs[n, c, r, q]
    block = (eta.view(1, 1, 1, th, 1, tw) * signs.view(n, c, rows, 1, cols, 1)) \
        .reshape(n, c, rows * th, cols * tw)
    canvas = x.new_zeros(n, c, max(h, off_h + rows * th), max(w, off_w + cols * tw))
    canvas[:, :, off_h:off_h + rows * th, off_w:off_w + cols * tw] = block
    delta = canvas[:, :, :h, :w]
    return eps * delta / _norms(delta, (1, 2, 3)).clamp_min(1e-12)


def _step_inf(x, x_best, eps, p, u):
    n, c, h, w = x.shape
    sh, sw = _window(p, h, w, 1)
    top, left = _positions(u[:, :2], h, w, sh, sw)
    mask = _place(x.new_ones(n, sh, sw), top, left, h, w).unsqueeze(1)
    signs = _signs(u[:, 2:2 + c]).view(n, c, 1, 1)
    x_new = x_best + mask * 2 * eps * signs
    return torch.minimum(torch.maximum(x_new, x - eps), x + eps)


def _step_l2(x, x_best, eps, p, u):
    n, c, h, w = x.shape
    sh, sw = _window(p, h, w, 3)
    if sh == sw and sh > 1 and sh % 2 == 0:  # odd, then at most the image (official order)
        sh = sw = min(sh + 1, h, w)
    top, left = _positions(u[:, :2], h, w, sh, sw)
    top2, left2 = _positions(u[:, 2:4], h, w, sh, sw)
    signs = _signs(u[:, 4:4 + c]).view(n, c, 1, 1)
    eta = _eta(sh, sw).to(x)
    if sh == sw:  # a random orientation of the pattern, per example
        flip = (u[:, 4 + c] >= 0.5).view(-1, 1, 1)
        patterns = torch.where(flip, eta.t().unsqueeze(0), eta.unsqueeze(0))
    else:
        patterns = eta.unsqueeze(0).expand(n, sh, sw)
    ones = x.new_ones(n, sh, sw)
    m1 = _place(ones, top, left, h, w).unsqueeze(1)
    m2 = _place(ones, top2, left2, h, w).unsqueeze(1)
    union = torch.maximum(m1, m2)
    delta = x_best - x
    spatial = (2, 3)
    norm_w1 = _norms(delta * m1, spatial)
    norm_img = _norms(delta, (1, 2, 3))
    norm_union = _norms(delta * union, spatial)  # per channel, as the official code
    new = _place(patterns, top, left, h, w).unsqueeze(1) * signs \
        + delta * m1 / (norm_w1 + 1e-12)
    budget = ((eps ** 2 - norm_img ** 2).clamp_min(0.0) / c + norm_union ** 2).sqrt()
    new = new / (_norms(new, spatial) + 1e-12) * budget
    delta = delta * (1 - union) + new * m1
    return x + eps * delta / (_norms(delta, (1, 2, 3)) + 1e-12)


def square(model, x, y, *, eps, norm="inf", n_iter=1000, p_init=None, image_shape=None,
           y_target=None, clip_min=None, clip_max=None, random_state=None,
           return_queries=False, mode="eval", rescale_schedule=True):
    """Square attack: random search over square-shaped updates (Linf or L2).

    Parameters
    ----------
    model : callable
        ``x -> logits`` of shape ``(n, n_classes)``: a torch module (called
        without gradients) or a score function.
    x : Tensor of shape (n_samples, ...)
        Clean inputs; never modified. See the module docstring for how shapes
        are seen as images.
    y : LongTensor of shape (n_samples,)
    eps : float
    norm : {"inf", 2}, default="inf"
    n_iter : int, default=1000
        Iterations (one query per active example each), after the one of the
        initialisation and the one of the clean input: at most ``n_iter + 2``
        model calls.
    p_init : float, default=None
        Initial fraction of pixels per update: 0.05 for Linf, 0.1 for L2 when
        None (the paper's defaults for its untargeted ImageNet attacks; it
        used 0.3-0.8 on MNIST and CIFAR-10, and AutoAttack uses 0.8).
    image_shape : tuple (channels, height, width), default=None
        Reshape each example to this before drawing windows.
    y_target : LongTensor of shape (n_samples,), default=None
    clip_min, clip_max : float or Tensor, default=None
    random_state : int, Randomness or None
        An int gives one stream per example (window positions, signs, start).
    mode : {"eval", "train", None}, default="eval"
        Mode of a torch module during the attack (dropout off and batch-norm
        statistics frozen in "eval"); restored afterwards, as are its
        parameters' ``requires_grad`` flags. None keeps the module's mode; a
        score function is called as it is.
    return_queries : bool, default=False
        Also return the number of points scored per example.
    rescale_schedule : bool, default=True
        Stretch the schedule of ``p`` to ``n_iter`` (see :func:`p_schedule`).

    Returns
    -------
    x_adv : Tensor with the shape of ``x``
        The first iterate that fooled the model, else the best (highest
        margin loss) one; the clean input is the first candidate.
    queries : LongTensor, only with ``return_queries=True``

    Notes
    -----
    Linf starts from vertical stripes ``x + eps * s``, one random sign ``s`` per
    channel and column (per feature for flat inputs), and sets a window to
    ``x +- eps`` (one sign per channel). L2 starts from tiles of the paper's
    two-bump pattern and moves perturbation mass from a second random window
    into the first. The resampling of Linf proposals that would not change the
    point (in the authors' first code) is not done here.

    References
    ----------
    .. [1] Andriushchenko, M., Croce, F., Flammarion, N. and Hein, M. "Square
       Attack: a query-efficient black-box adversarial attack via random
       search." ECCV, 2020.

    Examples
    --------
    >>> import torch
    >>> from robustsk.attacks.square import square
    >>> model = torch.nn.Linear(4, 3)
    >>> x, y = torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1])
    >>> x_adv = square(model, x, y, eps=0.1, n_iter=20, random_state=0)
    >>> bool(((x_adv - x).abs() <= 0.1 + 1e-6).all())
    True
    """
    eps, norm, _ = check_threat(eps, norm)
    n_iter = check_positive_int(n_iter, "n_iter", 0)
    if p_init is None:
        p_init = 0.05 if norm == "inf" else 0.1
    if not isinstance(rescale_schedule, bool):
        raise TypeError(f"rescale_schedule={rescale_schedule!r}: expected True or False.")
    if isinstance(p_init, bool) or not isinstance(p_init, Real) or not 0 < p_init <= 1:
        raise ValueError(f"p_init={p_init!r}: expected a fraction of pixels in (0, 1].")
    y = check_labels(y, x)
    y_target = check_labels(y_target, x, "y_target")
    x = x.detach()
    queries = torch.zeros(len(x), dtype=torch.long, device=x.device)
    if eps == 0 or len(x) == 0:
        return (x.clone(), queries) if return_queries else x.clone()
    box = as_box(clip_min, clip_max, x)
    rng = Randomness.coerce(random_state, len(x))
    fn = objective("margin", y_target is not None)
    kw = {"y_target": y_target}
    img = _to_image(x, image_shape)
    n, c, _, w = img.shape

    def box_img(t):  # clip in the original shape (per-feature bounds), view as image
        return clip_box(t.reshape(len(t), *x.shape[1:]), *box).reshape(t.shape)

    with torch.no_grad(), attack_context(model, mode):
        if norm == "inf":
            start = img + eps * _signs(rng.uniform(img.new_empty(n, c, 1, w), 0.0, 1.0))
        else:
            start = img + _init_l2(img, eps, rng)
        x_best = box_img(start)
        logits = torch.as_tensor(model(torch.cat([x, x_best.reshape(x.shape)]))).to(x.device)
        queries += 2
        tracker = BestIterate(x, logits[:n], fn(logits[:n], y, **kw), y, y_target)
        loss = fn(logits[n:], y, **kw)
        tracker.update(x_best.reshape(x.shape), logits[n:], loss)
        best_loss = loss.clone()
        act = (~tracker.found).nonzero().flatten()
        x0, xb, lb, ys, kws, rng = img[act], x_best[act], best_loss[act], y[act], subset_kwargs(kw, act), \
            rng.subset(act)
        step = _step_inf if norm == "inf" else _step_l2
        for it in range(n_iter):
            if len(act) == 0:
                break
            p = p_schedule(p_init, it, n_iter, rescale=rescale_schedule)
            u = rng.uniform(x0.new_empty(len(act), 5 + c), 0.0, 1.0)
            x_new = box_img(step(x0, xb, eps, p, u))
            flat_new = x_new.reshape(len(act), *x.shape[1:])
            logits = torch.as_tensor(model(flat_new)).to(x.device)
            queries[act] += 1
            loss = fn(logits, ys, **kws)
            tracker.update(flat_new, logits, loss, act)
            better = loss > lb
            xb = torch.where(better.view(-1, 1, 1, 1), x_new, xb)
            lb = torch.where(better, loss, lb)
            keep = ~tracker.found[act]
            if drops_examples(x0) and not keep.all():
                act, x0, xb, lb, ys = act[keep], x0[keep], xb[keep], lb[keep], ys[keep]
                kws, rng = subset_kwargs(kws, keep), rng.subset(keep)
    return (tracker.x, queries) if return_queries else tracker.x


class Square(ScoreAttack):
    """Square attack on any fitted classifier (only scores are needed).

    Parameters
    ----------
    eps : float, default=None
        None inherits the estimator's ``eps`` (robustsk estimators).
    norm : {"inf", 2}, default=None
        None inherits the estimator's ``norm`` ("inf" if it has none).
    n_iter : int, default=1000
        Iterations (queries per example, after the first two).
    p_init : float, default=None
        0.05 (Linf) or 0.1 (L2) when None; see :func:`square`.
    image_shape : tuple (channels, height, width), default=None
        How to see each example as an image; None: images as they are, flat
        features as one row (see the module docstring).
    clip_min, clip_max : float or array-like, default=None
        None inherits the estimator's box (none for plain scikit-learn models).
    batch_size : int, default=256
    random_state : int or None, default=None
        None inherits a robustsk estimator's ``random_state``.
    rescale_schedule : bool, default=True
        Stretch the paper's schedule of ``p`` (on 10,000 queries) to
        ``n_iter``; False counts it in iterations as they are (see
        :func:`p_schedule`).

    Notes
    -----
    ``generate(estimator, X, y, return_info=True)`` also returns the number of
    points scored per example (``"queries"``) and whether the attack succeeded.

    References
    ----------
    .. [1] Andriushchenko, M., Croce, F., Flammarion, N. and Hein, M. "Square
       Attack: a query-efficient black-box adversarial attack via random
       search." ECCV, 2020.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from robustsk.attacks.square import Square
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16.0
    >>> forest = RandomForestClassifier(20, random_state=0).fit(X[:300], y[:300])
    >>> attack = Square(eps=0.3, n_iter=50, clip_min=0, clip_max=1, random_state=0)
    >>> X_adv = attack.generate(forest, X[-20:], y[-20:])
    >>> bool(abs(X_adv - X[-20:]).max() <= 0.3 + 1e-9)
    True
    """

    def __init__(self, eps=None, norm=None, n_iter=1000, p_init=None, image_shape=None,
                 clip_min=None, clip_max=None, batch_size=256, random_state=None,
                 rescale_schedule=True):
        self.eps = eps
        self.norm = norm
        self.n_iter = n_iter
        self.p_init = p_init
        self.image_shape = image_shape
        self.clip_min = clip_min
        self.clip_max = clip_max
        self.batch_size = batch_size
        self.random_state = random_state
        self.rescale_schedule = rescale_schedule

    def _run(self, model, x, y, *, threat, rng, y_target=None):
        return square(model, x, y, eps=threat.eps, norm=threat.norm, n_iter=self.n_iter,
                      p_init=self.p_init, image_shape=self.image_shape, y_target=y_target,
                      clip_min=threat.clip_min, clip_max=threat.clip_max, random_state=rng,
                      return_queries=True, rescale_schedule=self.rescale_schedule)
