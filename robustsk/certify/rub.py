"""Robust upper bounds of Bertsimas et al.: aRUB (first order) and RUB (one hidden layer).

**aRUB** (:func:`arub_loss`) replaces the worst-case cross-entropy by its
first-order robust bound, with no inner attack::

    mean_n log sum_k exp(z_k - z_y + eps * ||grad_x (z_k - z_y)||_*)

(``||.||_*`` the dual norm of the threat: L1 for an L-infinity ball, L2 for
an L2 ball; the ``k = y`` term is ``exp(0)``). It is an approximation, not a
certificate.

**RUB** (:func:`rub_vertex_bounds`) bounds, for ``f(x) = V relu(W x + b) + c``
and every class ``k``, the gap ``z_k - z_y`` over a ball around ``x``. With
``v = V_k - V_y``, ``a = W x + b`` and ``s = 1[a > 0]`` the clean activation
pattern, ``relu(g) >= s * g`` gives, for every ``delta``::

    z_k - z_y (x + delta) <= sum_h v_h^+ relu(a_h + w_h delta)
                             - sum_h v_h^- s_h (a_h + w_h delta) + c_k - c_y  =: g_k(delta)

``g_k`` is convex in ``delta``, so over an L1 ball of radius ``r`` its maximum
is at one of the ``2d`` vertices ``+-r e_j``: the official code evaluates
exactly these (``networks/OneLayer.py`` of kimvc7/Robustness), a valid bound
for L1 balls. For the threats robustsk trains against, :func:`rub_bounds`
uses the L1 ball that contains the threat ball (radius ``d eps`` for
L-infinity, ``sqrt(d) eps`` for L2) and, our addition, the maximum over the
threat ball itself of the linear overestimate of ``g_k`` obtained by the chord
of each ReLU between its pre-activation bounds (:func:`rub_box_bounds`), and
takes the smaller of the two valid bounds. An example is certified when every
``k != y`` has a bound ``< 0`` (:func:`certify_rub`).

References
----------
.. [1] Bertsimas, D., Boix, X., Villalobos Carballo, K. and den Hertog, D. "A
   Robust Optimization Approach to Deep Learning." arXiv:2112.09279, 2021;
   code: github.com/kimvc7/Robustness.
"""
import math

import numpy as np
import torch

from ..attacks import check_positive_int, check_threat
from .sdp import one_hidden_layer

__all__ = ["arub_loss", "rub_vertex_bounds", "rub_box_bounds", "rub_bounds", "certify_rub",
           "check_rub_norm"]


def check_rub_norm(norm):
    """``"inf"``, ``"2"`` or ``"1"`` for the accepted spellings (``"1"``: the paper's L1 ball)."""
    if isinstance(norm, str) and norm.lower().strip() in ("1", "l1", "l_1"):
        return "1"
    if not isinstance(norm, str) and not isinstance(norm, bool) and norm == 1:
        return "1"
    return check_threat(0.0, norm)[1]


def _dual_norm(z, norm):
    """``||z||_*`` over the last axis for the ball of ``norm``."""
    if norm == "inf":
        return z.abs().sum(-1)
    if norm == "2":
        return z.pow(2).sum(-1).clamp_min(1e-30).sqrt()
    return z.abs().amax(-1)


def arub_loss(module, x, y, eps, norm="inf", *, create_graph=True):
    """The aRUB loss of a batch and its clean logits.

    Parameters
    ----------
    module : torch.nn.Module
        Any network from inputs to logits (one input gradient per class).
    x : Tensor of shape (n, ...)
    y : LongTensor of shape (n,)
    eps : float
    norm : {"inf", "2", "1"}, default="inf"
    create_graph : bool, default=True
        Keep the graph of the input gradients (to train on the loss).

    Returns
    -------
    loss : 0-d Tensor
    logits : Tensor of shape (n, C)

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 2)
    >>> loss, z = arub_loss(net, torch.zeros(4, 3), torch.tensor([0, 1, 0, 1]), 0.1)
    >>> z.shape
    torch.Size([4, 2])
    """
    norm = check_rub_norm(norm)
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = module(x)
        gaps = logits - logits.gather(1, y[:, None])
        exponents = []
        for k in range(logits.shape[1]):
            grad, = torch.autograd.grad(gaps[:, k].sum(), x, create_graph=create_graph,
                                        retain_graph=True)
            exponents.append(gaps[:, k] + eps * _dual_norm(grad.flatten(1), norm))
        loss = torch.logsumexp(torch.stack(exponents, 1), 1).mean()
    return loss, logits


def _parts(module, x, y):
    W, b, V, c = one_hidden_layer(module)
    x = x.flatten(1).to(W.dtype)
    a = x @ W.T + b                                   # (n, m)
    v = V[None] - V[y][:, None]                       # (n, C, m)
    const = c[None] - c[y][:, None]                   # (n, C)
    return W, a, v, const


def rub_vertex_bounds(module, x, y, radius):
    """RUB bounds on ``z_k - z_y`` over the L1 ball of ``radius``: the paper's (2d vertices).

    Parameters
    ----------
    module : one-hidden-layer network (:func:`~robustsk.certify.sdp.one_hidden_layer`)
    x : Tensor of shape (n, ...)
    y : LongTensor of shape (n,)
    radius : float
        L1 radius (the official code trains with ``sqrt(d) * eps``).

    Returns
    -------
    Tensor of shape (n, C)
        ``max_j max_{+-} g_k(+-radius e_j)`` (0 at ``k = y``); differentiable.
    """
    W, a, v, const = _parts(module, x, y)
    active = (a > 0).to(a.dtype)
    vp, vn = torch.relu(v), torch.relu(-v)
    worst = None
    for sign in (1.0, -1.0):
        g = a[:, None, :] + sign * radius * W.T[None]              # (n, d, m)
        obj = torch.einsum("ndm,ncm->ndc", torch.relu(g), vp) \
            - torch.einsum("ndm,ncm->ndc", g * active[:, None, :], vn)
        obj = obj.amax(1)
        worst = obj if worst is None else torch.maximum(worst, obj)
    return worst + const


def rub_box_bounds(module, x, y, eps, norm="inf"):
    """Bounds on ``z_k - z_y`` over the ``norm`` ball of ``eps``: chord relaxation of ``g_k``.

    Each ``relu(a_h + w_h delta)`` with ``v_h > 0`` is replaced by the chord
    between its pre-activation bounds ``a_h -+ eps ||w_h||_*`` (exact when
    the unit cannot switch), which leaves a linear function of ``delta``
    whose maximum over the ball is exact. Our addition to the paper's bound
    (see the module docstring); valid, and tight when few units can switch.

    Returns
    -------
    Tensor of shape (n, C)
    """
    norm = check_rub_norm(norm)
    W, a, v, const = _parts(module, x, y)
    spread = eps * _dual_norm(W, norm)                  # (m,)
    low, high = a - spread, a + spread
    unstable = (low < 0) & (high > 0)
    slope = torch.where(high <= 0, torch.zeros_like(a),
                        torch.where(low >= 0, torch.ones_like(a),
                                    high / (high - low).clamp_min(1e-30)))
    offset = torch.where(unstable, -slope * low, torch.zeros_like(a))
    active = (a > 0).to(a.dtype)
    vp, vn = torch.relu(v), torch.relu(-v)
    gamma = vp * slope[:, None] - vn * active[:, None]             # (n, C, m)
    value = (gamma * a[:, None]).sum(-1) + (vp * offset[:, None]).sum(-1)
    return value + eps * _dual_norm(gamma @ W, norm) + const


def rub_bounds(module, x, y, eps, norm="inf"):
    """The smallest valid RUB bound on ``z_k - z_y`` over the ``norm`` ball of ``eps``.

    ``norm="1"``: the paper's vertex bound. ``"inf"`` and ``"2"``: the
    smaller of the vertex bound over the enclosing L1 ball (radius ``d eps``
    or ``sqrt(d) eps``) and :func:`rub_box_bounds`.

    Returns
    -------
    Tensor of shape (n, C)
    """
    norm = check_rub_norm(norm)
    d = math.prod(x.shape[1:])
    radius = {"1": eps, "2": math.sqrt(d) * eps, "inf": d * eps}[norm]
    vertex = rub_vertex_bounds(module, x, y, radius)
    if norm == "1":
        return vertex
    return torch.minimum(vertex, rub_box_bounds(module, x, y, eps, norm))


def certify_rub(estimator, X, y, eps, *, norm="inf", batch_size=256):
    """Certify a one-hidden-layer network by its robust upper bound (RUB).

    Parameters
    ----------
    estimator : fitted robustsk estimator with a one-hidden-layer network
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
    eps : float
    norm : {"inf", 2, 1}, default="inf"
        1 is the paper's L1 ball.
    batch_size : int, default=256

    Returns
    -------
    certified : ndarray of bool, shape (n_samples,)
        Every ``k != y`` has a bound ``< 0`` (computed in float64).
    radius : None
        RUB gives no radius in closed form.

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import RobustUpperBoundTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = RobustUpperBoundTraining(method="rub", eps=0.01, max_epochs=2, hidden_units=16,
    ...                                random_state=0).fit(X[:200], y[:200])
    >>> certified, _ = certify_rub(clf, X[200:300], y[200:300], 0.01)
    >>> certified.shape
    (100,)
    """
    eps = check_threat(eps, "inf")[0]
    norm = check_rub_norm(norm)
    batch_size = check_positive_int(batch_size, "batch_size")
    estimator.check_is_fitted()
    module = estimator.module_
    one_hidden_layer(module)
    target = estimator.as_attack_target()
    x = target.prepare_X(X)
    y_t = target.encode_y(y, len(x))
    net, out = _float64(module), []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y_t[start:start + batch_size]
            bounds = rub_bounds(net, xb.to(torch.float64), yb, eps, norm)
            bounds[torch.arange(len(yb), device=bounds.device), yb] = -torch.inf
            out.append((bounds < 0).all(1).cpu().numpy())
    certified = np.concatenate(out) if out else np.zeros(0, dtype=bool)
    return certified, None


def _float64(module):
    """A float64 copy of a one-hidden-layer network (the bound is computed exactly)."""
    W, b, V, c = (p.detach().to(torch.float64) for p in one_hidden_layer(module))
    first = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.float64, device=W.device)
    last = torch.nn.Linear(V.shape[1], V.shape[0], dtype=torch.float64, device=W.device)
    with torch.no_grad():
        for layer, (w, bias) in ((first, (W, b)), (last, (V, c))):
            layer.weight.copy_(w)
            layer.bias.copy_(bias)
    return torch.nn.Sequential(torch.nn.Flatten(), first, torch.nn.ReLU(), last)
