"""Exact minimal perturbations of linear classifiers, and the attack that uses them.

For an affine classifier the smallest perturbation that changes its decision
has a closed form (Szegedy et al., 2014; Goodfellow et al., 2015; the linear
case of DeepFool, Moosavi-Dezfooli et al., 2016). With scores
``s_k(x) = w_k . x + b_k`` and true class ``y``, the region where ``y`` wins is
the polytope ``{s_y >= s_j for all j}``; leaving it means crossing one of its
faces, so the smallest perturbation in a norm is, over ``j != y``,

    min_j (s_y(x) - s_j(x)) / ||w_y - w_j||_*

where ``||.||_*`` is the dual norm (L1 for an Linf ball, L2 for an L2 ball),
attained by ``delta = -m_j / ||v||_1 * sign(v)`` (Linf) or
``delta = -m_j v / ||v||_2^2`` (L2), ``v = w_y - w_j``. For a binary model
(one decision value ``d``) this is ``|d(x)| / ||w||_*``. The result is exact
for multiclass one-vs-rest and multinomial models alike (their decision is the
argmax of affine scores).

With an input box ``[lo, hi]`` the smallest perturbation across face ``j`` is a
linear program (Linf) or a quadratic program (L2) that still has a closed form
up to sorting: each feature moves in the direction that lowers ``v . delta``,
by ``min(t, room_i)`` for a radius ``t`` (Linf) or by
``min(lam |v_i|, room_i)`` (L2, the KKT solution ``delta = clip(-lam v)``),
where ``room_i`` is the distance to the box's edge; the decrease is
piecewise linear in ``t`` (``lam``), so the smallest ``t`` (``lam``) that
crosses the face is found exactly between the sorted breakpoints. Written
here rather than calling a solver (cvxpy, scipy's linprog) because it is
exact, vectorised over examples and faces, and needs no optional dependency.
"""
import numpy as np
import torch

from ._primitives import check_norm
from ._target import as_target, output_like
from .base import Attack, project_out

__all__ = ["minimal_perturbation", "LinearMinimalAttack"]


def _smallest_level(breaks, weights, target, power=1):
    """Per row, the smallest ``s >= 0`` with ``sum_i w_i min(s, b_i) ** power >= target``.

    ``breaks`` (``b_i >= 0``, possibly inf) and ``weights`` (``w_i >= 0``) have shape
    (..., d), ``target`` (...,). The left side is increasing and piecewise
    polynomial in ``s``, so the root is found exactly between the sorted breaks.
    Returns inf where even ``s = inf`` falls short.
    """
    order = np.argsort(breaks, axis=-1)
    b = np.take_along_axis(breaks, order, -1)
    w = np.take_along_axis(weights, order, -1)
    with np.errstate(invalid="ignore", over="ignore"):
        full = np.where(w > 0, w * b ** power, 0.0)  # saturated terms
        before = np.concatenate([np.zeros_like(full[..., :1]),  # sum over breaks below
                                 np.cumsum(full, -1)[..., :-1]], -1)  # the k-th
        after = np.cumsum(w[..., ::-1], -1)[..., ::-1]  # weights of the k-th and above
        level = before + np.where(after > 0, after * b ** power, 0.0)
    reached = level >= target[..., None]
    k = np.argmax(reached, -1)[..., None]
    C = np.take_along_axis(before, k, -1)[..., 0]
    D = np.take_along_axis(after, k, -1)[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(D > 0, np.maximum(target - C, 0.0) / D, 0.0) ** (1.0 / power)
    return np.where(reached.any(-1), s, np.inf)


def _rooms(x, V, lo, hi):
    """How far each feature may move in the direction that lowers ``V . delta`` (n, K, d)."""
    up = np.inf if hi is None else hi - x          # room to increase, (n, d)
    down = np.inf if lo is None else x - lo        # room to decrease
    up, down = (np.broadcast_to(r, x.shape)[:, None, :] for r in (up, down))
    return np.maximum(np.where(V < 0, up, down), 0.0)


def _closest(x, yi, W, b, norm, lo, hi, overshoot, cap):
    """Per example: the perturbation and distance to the nearest point of another class."""
    S = x @ W.T + b
    rows = np.arange(len(x))
    margins = S[rows, yi][:, None] - S                      # (n, K): s_y - s_j
    V = W[yi][:, None, :] - W[None, :, :]                     # (n, K, d): w_y - w_j
    room = _rooms(x, V, lo, hi)
    a = np.abs(V)
    if norm == "inf":   # lower V.delta by sum_i |v_i| min(t, room_i): t is the radius
        breaks, weights = room, a
    else:               # delta_i = -sign(v_i) min(lam |v_i|, room_i) (KKT of the QP)
        with np.errstate(divide="ignore", invalid="ignore"):
            breaks = np.where(a > 0, room / a, np.inf)
        weights = a ** 2
    level = _smallest_level(breaks, weights, np.maximum(margins, 0.0))
    level[rows, yi] = np.inf
    if norm == "inf":
        dist_all = level
    else:
        with np.errstate(invalid="ignore"):
            dist_all = np.sqrt((weights * np.minimum(level[..., None], breaks) ** 2).sum(-1))
        dist_all[~np.isfinite(level)] = np.inf
    j = dist_all.argmin(axis=1)
    wrong = S.argmax(axis=1) != yi
    dist = np.where(wrong, 0.0, dist_all[rows, j])
    brk, wgt, v = breaks[rows, j], weights[rows, j], V[rows, j]
    lev = level[rows, j] * (1.0 + overshoot)  # strictly across the boundary
    if cap is not None:  # ... but inside the ball of radius cap when the distance allows
        lev_cap = np.full(len(x), float(cap)) if norm == "inf" else \
            _smallest_level(brk, wgt, np.full(len(x), float(cap) ** 2), power=2)
        lev = np.minimum(lev, lev_cap)
    lev = np.where(wrong | ~np.isfinite(dist), 0.0, lev)
    step = np.minimum(lev[:, None], brk)
    delta = -np.sign(v) * (step if norm == "inf" else step * np.abs(v))
    return delta, dist


def _box_bounds(clip_min, clip_max, n_features):
    from ..validation import check_box
    lo, hi = check_box(clip_min, clip_max, (n_features,))
    return tuple(None if v is None else np.broadcast_to(v, (n_features,)) for v in (lo, hi))


def minimal_perturbation(linear_model, X, y, norm="inf", *, overshoot=1e-4, clip_min=None,
                         clip_max=None):
    """The exact smallest perturbation that changes a linear classifier's decision.

    Parameters
    ----------
    linear_model : fitted scikit-learn linear classifier, or a Pipeline of affine
        steps (scalers, PCA, ...) ending in one
        ``LogisticRegression``, ``LinearSVC``, ``SGDClassifier``,
        ``RidgeClassifier``, ... binary or multiclass.
    X : array-like of shape (n_samples, n_features)
        Raw inputs (the pipeline's input space).
    y : array-like of shape (n_samples,)
        True labels. Examples already misclassified get a zero perturbation.
    norm : {"inf", 2}, default="inf"
    overshoot : float, default=1e-4
        The perturbation is scaled by ``1 + overshoot`` so it strictly crosses
        the boundary; 0 returns the infimum (a point on the boundary).
    clip_min, clip_max : float or array-like of shape (n_features,), default=None
        The input box: the perturbation keeps ``X + delta`` inside it, and is
        the smallest that does (the box-constrained minimum, solved exactly:
        per face, the linear program (Linf) or quadratic program (L2) has a
        closed form up to sorting the features). An example that cannot leave
        its class inside the box gets distance inf and a zero perturbation.

    Returns
    -------
    delta : ndarray of shape (n_samples, n_features), float64
        ``X + delta`` is misclassified; any perturbation of smaller norm is not.
    distance : ndarray of shape (n_samples,)
        The norm of ``delta`` without overshoot: ``|d(x)| / ||w||_*`` for a
        binary model without a box (0 for misclassified examples).

    References
    ----------
    .. [1] Goodfellow, I., Shlens, J. and Szegedy, C. "Explaining and Harnessing
       Adversarial Examples." ICLR, 2015.
    .. [2] Moosavi-Dezfooli, S.-M., Fawzi, A. and Frossard, P. "DeepFool: a
       simple and accurate method to fool deep neural networks." CVPR, 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.array([[0.0, 0.0], [1.0, 1.0], [0.1, 0.0], [0.9, 1.0]])
    >>> clf = LogisticRegression().fit(X, [0, 1, 0, 1])
    >>> delta, dist = minimal_perturbation(clf, X, [0, 1, 0, 1], norm=2)
    >>> bool((clf.predict(X + delta) != [0, 1, 0, 1]).all())
    True
    """
    norm = check_norm(norm)
    target = _linear_target(linear_model, "minimal_perturbation")
    x = target.prepare_X(X).cpu().numpy().astype(np.float64)
    lo, hi = _box_bounds(clip_min, clip_max, x.shape[1])
    target.prepare_X(X, box=(lo, hi))  # X must lie in the box
    yi = target.encode_y(y, n_samples=len(x)).cpu().numpy()
    return _closest_in_chunks(x, yi, target.linear, norm, lo, hi, overshoot, None)


def _linear_target(estimator, caller):
    target = as_target(estimator)
    if target.linear is None:
        raise TypeError(
            f"{type(estimator).__name__} is not an affine classifier: {caller} needs a "
            "scikit-learn linear classifier (or a Pipeline of affine steps ending in one). "
            "Use robustsk.attacks.PGD for other differentiable models.")
    return target


def _closest_in_chunks(x, yi, linear, norm, lo, hi, overshoot, cap, chunk=256):
    """:func:`_closest` on blocks of examples (its arrays are n x classes x features)."""
    W, b = linear
    parts = [_closest(x[i:i + chunk], yi[i:i + chunk], W, b, norm,
                      lo, hi, overshoot, cap) for i in range(0, len(x), chunk)]
    if not parts:
        return np.zeros_like(x), np.zeros(0)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


class LinearMinimalAttack(Attack):
    """The exact minimal-perturbation attack on a linear classifier.

    Returns ``x + delta`` (the exact smallest perturbation inside the box,
    lengthened by ``overshoot`` to cross the boundary, but never beyond
    ``eps``) where its norm is at most ``eps``, else ``x``: a linear
    classifier is fooled inside the ball and the box exactly when this
    attack fools it (up to a boundary touched at exactly ``eps``, where the
    model ties). Binary and multiclass models (one-vs-rest or multinomial)
    are both exact, through the per-pair boundaries; see
    :func:`minimal_perturbation`. It has no tensor-level ``perturb``: the
    closed form needs the model's coefficients (``AttackTarget.linear``),
    not only a module to differentiate.

    Parameters
    ----------
    eps : float, default=None
        Radius; None inherits the pipeline's robustsk threat model (a plain
        scikit-learn model has none: give it).
    norm : {"inf", 2}, default=None
        None: the inherited norm, else "inf".
    overshoot : float, default=1e-4
    clip_min, clip_max : float or array-like, default=None
    batch_size : int, default=None
        Unused (the closed form is vectorised); kept for the common interface.
    random_state : None
        Unused: the attack is deterministic.

    References
    ----------
    .. [1] Goodfellow, I., Shlens, J. and Szegedy, C. "Explaining and Harnessing
       Adversarial Examples." ICLR, 2015.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = load_digits(n_class=2, return_X_y=True)
    >>> X = X / 16.0
    >>> clf = LogisticRegression().fit(X, y)
    >>> X_adv = LinearMinimalAttack(eps=0.2).generate(clf, X[:20], y[:20])
    >>> float(abs(X_adv - X[:20]).max()) <= 0.2
    True
    """

    def __init__(self, eps=None, norm=None, overshoot=1e-4, clip_min=None, clip_max=None,
                 batch_size=None, random_state=None):
        self.eps = eps
        self.norm = norm
        self.overshoot = overshoot
        self.clip_min = clip_min
        self.clip_max = clip_max
        self.batch_size = batch_size
        self.random_state = random_state

    def generate(self, estimator, X, y, *, y_target=None):
        """Adversarial examples: ``x + delta`` where the minimal ``delta`` fits in eps.

        Parameters
        ----------
        estimator : fitted linear classifier or Pipeline of affine steps ending in one
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        y_target : None
            Targeted attacks are not supported.

        Returns
        -------
        X_adv : ndarray with the shape and dtype of ``X``
        """
        if y_target is not None:
            raise ValueError("LinearMinimalAttack is untargeted: y_target must be None.")
        target = _linear_target(estimator, "LinearMinimalAttack")
        threat = self.resolve_threat(target)
        x = target.prepare_X(X, box=(threat.clip_min, threat.clip_max)).cpu().double().numpy()
        lo, hi = _box_bounds(threat.clip_min, threat.clip_max, x.shape[1])
        yi = target.encode_y(y, n_samples=len(x)).cpu().numpy()
        delta, dist = _closest_in_chunks(x, yi, target.linear, threat.norm, lo, hi,
                                         self.overshoot, cap=threat.eps)
        x_adv = x + np.where((dist <= threat.eps)[:, None], delta, 0.0)
        if lo is not None or hi is not None:  # rounding only: delta keeps to the box
            x_adv = np.clip(x_adv, lo, hi)
        W, b = target.linear
        fooled = (x_adv @ W.T + b).argmax(axis=1) != yi
        x_adv = np.where(fooled[:, None], x_adv, x)
        return output_like(project_out(X, torch.as_tensor(x_adv), threat), X)
