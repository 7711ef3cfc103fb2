"""The SDP certificate of Raghunathan, Steinhardt & Liang (2018) for one hidden layer.

For a network ``f(x) = V relu(W x + b) + c`` (``W`` of shape (m, d), ``V`` of
shape (C, m)) and a pair of classes with ``v = V_i - V_j``, the logit gap
``f_ij = f_i - f_j`` is Lipschitz and piecewise linear, its gradient is
``W^T diag(v) s`` with ``s`` in ``[0, 1]^m`` (the ReLU slopes; the bias ``b``
only moves where they switch). So for every ``x~`` with ``||x~ - x||_inf <= eps``::

    f_ij(x~) <= f_ij(x) + eps * max_{s in [0,1]^m} ||A s||_1,          A = W^T diag(v)
              = f_ij(x) + eps * max_{t in [-1,1]^d, s in [0,1]^m} t^T A s
              = f_ij(x) + (eps / 4) * max_{y in [-1,1]^D} y^T M y      (s = (1 + beta) / 2)

with ``D = 1 + d + m``, ``y = (1, t, beta)`` and the symmetric block matrix::

              1        t (d)       beta (m)
    M = [     0      (A 1_m)^T       0      ]   1
        [   A 1_m        0           A      ]   d
        [     0         A^T          0      ]   m

so that ``y^T M y = 2 t^T A 1_m + 2 t^T A beta = 4 t^T A s``. The homogenising
coordinate couples with the *input* block through ``A 1_m`` (the hidden units'
``1/2`` offset), not with the hidden block: a matrix with ``1_d^T A`` in the
(1, hidden) block instead (as the paper's ``M(v, W)`` is often transcribed;
we could not consult the typeset paper offline) computes
``max_{u in [0,1]^d, beta in [-1,1]^m} u^T A beta``, a different quantity
that can be smaller, hence unsound. The tests compare :func:`sdp_matrix`, and
show the other layout fails, against a brute-force maximum of ``||A s||_1`` to
pin the layout down. The maximum over ``y`` is relaxed to the SDP
``max <M, P> s.t. P psd, diag(P) <= 1``, whose dual gives, for *any* ``c`` in
``R^D``, the certificate (:func:`sdp_dual_bound`)::

    max <M, P> <= D * lambda_max^+(M - diag(c)) + 1^T max(c, 0)

(since ``tr P <= D`` and ``<diag(c), P> <= 1^T max(c, 0)``): valid for every
``c``, differentiable, and independent of ``x``; one bound per pair of classes.
An example ``x`` of class ``y`` is certified at radius ``eps`` when
``f_j(x) - f_y(x) + (eps / 4) B_yj < 0`` for every ``j != y``, so its certified
radius is ``min_j (f_y(x) - f_j(x)) / (B_yj / 4)``.

:func:`certify_sdp_dual` evaluates the dual certificate (at the duals trained
with the network, refined by gradient steps); :func:`certify_sdp_exact` solves
each SDP with a conic solver through cvxpy and evaluates the dual certificate
at the solver's dual variables in float64, so even an inaccurate solver cannot
produce an invalid bound; a solver that fails or reports anything but
``optimal`` gives an infinite bound (nothing certified).

References
----------
.. [1] Raghunathan, A., Steinhardt, J. and Liang, P. "Certified Defenses against
   Adversarial Examples." ICLR, 2018 (arXiv:1801.09344).
"""
import itertools
import math
import warnings

import numpy as np
import torch
from torch import nn

from ..attacks import check_positive_int, check_threat
from ..modules import MLP

__all__ = ["SDPNet", "one_hidden_layer", "class_pairs", "sdp_matrix", "gershgorin_dual",
           "sdp_dual_bound", "optimize_dual", "pairwise_dual_bounds", "solve_sdp",
           "pairwise_exact_bounds", "certify_from_bounds", "certify_sdp_dual",
           "certify_sdp_exact"]


class SDPNet(MLP):
    """A one-hidden-layer ReLU network with the dual variables of its SDP certificates.

    ``f(x) = V relu(W flatten(x) + b) + c`` (an :class:`~robustsk.modules.MLP`
    with one hidden layer), plus ``dual_offset``, a trainable offset of shape
    (n_pairs, 1 + d + m) added to the Gershgorin duals (:func:`gershgorin_dual`)
    of each pair of classes, in the order of :func:`class_pairs`. Any value is
    a valid dual, so training it only tightens the certificate.

    Parameters
    ----------
    input_shape : tuple of int
    n_classes : int
    hidden_units : int, default=100

    Examples
    --------
    >>> net = SDPNet((4,), 3, hidden_units=5)
    >>> tuple(net.dual_offset.shape)
    (3, 10)
    """

    def __init__(self, input_shape, n_classes, hidden_units=100):
        super().__init__(input_shape, n_classes, hidden_units=(int(hidden_units),))
        n_pairs = n_classes * (n_classes - 1) // 2
        size = 1 + math.prod(input_shape) + int(hidden_units)
        self.dual_offset = nn.Parameter(torch.zeros(n_pairs, size))


def _layers(module):
    if isinstance(module, MLP):
        return list(module.net)
    if isinstance(module, nn.Sequential):
        return list(module)
    return None


def one_hidden_layer(module):
    """``(W, b, V, c)`` of a network ``V relu(W flatten(x) + b) + c``, or a clear error.

    Accepts a :class:`~robustsk.modules.MLP` (or :class:`SDPNet`) with one
    hidden layer and a ``torch.nn.Sequential`` of ``[Flatten,] Linear, ReLU,
    Linear``. The tensors are the module's own parameters (gradients flow).

    Raises
    ------
    TypeError
        For any other network (deeper, convolutional, another activation).

    Examples
    --------
    >>> from robustsk.modules import MLP
    >>> W, b, V, c = one_hidden_layer(MLP((4,), 3, hidden_units=(5,)))
    >>> tuple(W.shape), tuple(V.shape)
    ((5, 4), (3, 5))
    """
    layers = _layers(module)
    if layers is not None and layers and isinstance(layers[0], nn.Flatten):
        layers = layers[1:]
    kinds = None if layers is None else [type(layer).__name__ for layer in layers]
    if kinds != ["Linear", "ReLU", "Linear"]:
        found = (f"a {type(module).__name__} whose layers are {kinds}" if kinds is not None
                 else f"a {type(module).__name__} (not an MLP or nn.Sequential)")
        raise TypeError(
            "This certificate needs a network with exactly one hidden layer, "
            f"[Flatten,] Linear, ReLU, Linear; got {found}. Use module=None (the default "
            "one-hidden-layer network), robustsk.modules.MLP(..., hidden_units=(m,)) or an "
            "nn.Sequential(nn.Flatten(), nn.Linear(d, m), nn.ReLU(), nn.Linear(m, C)).")
    first, last = layers[0], layers[2]
    b = first.bias if first.bias is not None else first.weight.new_zeros(first.out_features)
    c = last.bias if last.bias is not None else last.weight.new_zeros(last.out_features)
    return first.weight, b, last.weight, c


def class_pairs(n_classes):
    """The pairs ``(i, j)``, ``i < j``, in the order of the certificates."""
    return list(itertools.combinations(range(n_classes), 2))


def sdp_matrix(W, v):
    """The matrix ``M`` of the module docstring for ``A = W^T diag(v)``.

    Parameters
    ----------
    W : Tensor of shape (m, d)
    v : Tensor of shape (..., m)
        Differences of output rows, ``V_i - V_j``.

    Returns
    -------
    Tensor of shape (..., D, D), ``D = 1 + d + m``; block order (1, input, hidden).

    Examples
    --------
    >>> import torch
    >>> M = sdp_matrix(torch.eye(2), torch.tensor([1.0, -1.0]))
    >>> M.shape, bool(torch.equal(M, M.T))
    (torch.Size([5, 5]), True)
    """
    A = W.T * v.unsqueeze(-2)                       # (..., d, m)
    d, m = A.shape[-2:]
    a = A.sum(-1, keepdim=True)                     # (..., d, 1)
    batch = A.shape[:-2]
    zero = A.new_zeros
    top = torch.cat([zero(*batch, 1, 1), a.transpose(-1, -2), zero(*batch, 1, m)], -1)
    mid = torch.cat([a, zero(*batch, d, d), A], -1)
    low = torch.cat([zero(*batch, m, 1), A.transpose(-1, -2), zero(*batch, m, m)], -1)
    return torch.cat([top, mid, low], -2)


def gershgorin_dual(M):
    """Duals ``c = sum_k |M_ik|``: ``M - diag(c)`` is negative semidefinite (Gershgorin).

    The certificate at these duals is ``sum |M|``; a starting point for
    :func:`optimize_dual`.
    """
    return M.abs().sum(-1)


def sdp_dual_bound(M, c):
    """The dual certificate ``D * lambda_max^+(M - diag(c)) + 1^T max(c, 0)``.

    An upper bound on ``max <M, P>`` over ``P psd, diag(P) <= 1``, hence on
    ``max_{y in [-1,1]^D} y^T M y``, for any ``c``; differentiable in ``M``
    and ``c`` (``torch.linalg.eigvalsh``).

    Parameters
    ----------
    M : Tensor of shape (..., D, D), symmetric
    c : Tensor of shape (..., D)

    Returns
    -------
    Tensor of shape (...)

    Examples
    --------
    >>> import torch
    >>> M = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    >>> float(sdp_dual_bound(M, torch.ones(2)))
    2.0
    """
    size = M.shape[-1]
    top = torch.linalg.eigvalsh(M - torch.diag_embed(c))[..., -1]
    return size * torch.relu(top) + torch.relu(c).sum(-1)


def optimize_dual(M, c0=None, *, n_steps=200, lr=0.05):
    """Tighten the dual certificate of fixed matrices ``M`` by Adam on ``c``.

    Starts from ``c0`` (the Gershgorin duals when None); the steps run in
    float32, and the returned duals are, per matrix, those of the smallest
    certificate seen, re-evaluated in the dtype of ``M`` and never worse
    than the start (any duals give a valid bound). ``lr`` is relative to the
    mean Gershgorin dual.

    Returns
    -------
    c : Tensor of shape (..., D)
    bound : Tensor of shape (...)
        :func:`sdp_dual_bound` at ``c``, in the dtype of ``M``.
    """
    M = M.detach()
    start = (gershgorin_dual(M) if c0 is None else c0).detach().to(M.dtype)
    with torch.no_grad():
        start_bound = sdp_dual_bound(M, start)
    if n_steps == 0:
        return start, start_bound
    M32 = M.to(torch.float32)
    c = start.to(torch.float32).clone().requires_grad_(True)
    with torch.no_grad():
        best_c, best = c.detach().clone(), sdp_dual_bound(M32, c)
    scale = float(gershgorin_dual(M32).mean().clamp_min(1e-12))
    opt = torch.optim.Adam([c], lr=lr * scale)
    for _ in range(n_steps):
        bound = sdp_dual_bound(M32, c)
        opt.zero_grad()
        bound.sum().backward()
        opt.step()
        with torch.no_grad():
            now = sdp_dual_bound(M32, c)
            better = now < best
            best = torch.where(better, now, best)
            best_c[better] = c[better]
    with torch.no_grad():
        best_c = best_c.to(M.dtype)
        final = sdp_dual_bound(M, best_c)
        keep = start_bound <= final
        return (torch.where(keep[..., None], start, best_c),
                torch.where(keep, start_bound, final))


def _pair_matrices(W, V, pairs):
    i, j = (torch.tensor(idx, device=V.device) for idx in zip(*pairs))
    return sdp_matrix(W, V[i] - V[j])


def _trained_duals(module, M):
    c = gershgorin_dual(M)
    offset = getattr(module, "dual_offset", None) if isinstance(module, SDPNet) else None
    if offset is not None and offset.shape == c.shape:
        c = c + offset.to(c.dtype)
    return c


def pairwise_dual_bounds(module, *, n_dual_steps=0, dual_lr=0.05, dtype=torch.float64):
    """Dual certificates of every pair of classes of a one-hidden-layer network.

    Parameters
    ----------
    module : torch.nn.Module
        As accepted by :func:`one_hidden_layer`. For an :class:`SDPNet` the
        trained duals are the start, otherwise the Gershgorin duals.
    n_dual_steps : int, default=0
        Adam steps of :func:`optimize_dual` (0: the bound at the start).
    dual_lr : float, default=0.05
    dtype : torch.dtype or None, default=torch.float64
        None: the module's own dtype (training). The certificate is
        differentiable only with ``n_dual_steps=0``.

    Returns
    -------
    Tensor of shape (n_pairs,)
        Bounds on ``max_y y^T M y`` in the order of :func:`class_pairs`.
    """
    W, _, V, _ = one_hidden_layer(module)
    if dtype is not None:
        W, V = W.to(dtype), V.to(dtype)
    M = _pair_matrices(W, V, class_pairs(V.shape[0]))
    c = _trained_duals(module, M)
    if n_dual_steps:
        return optimize_dual(M, c, n_steps=n_dual_steps, lr=dual_lr)[1]
    return sdp_dual_bound(M, c)


def _cvxpy():
    try:
        import cvxpy as cp
    except ImportError as err:
        raise ImportError(
            "The exact SDP certificate needs cvxpy and a conic solver, which are not "
            "installed: pip install 'robustsk[certify]' (cvxpy, scs, clarabel), or use "
            "certify_sdp_dual, which needs neither.") from err
    return cp


def check_solver(solver):
    """Refuse a solver name cvxpy does not have installed, before any SDP is built.

    Returns
    -------
    solver : str
        The name as cvxpy spells it (upper case).
    """
    installed = _cvxpy().installed_solvers()
    if not isinstance(solver, str) or solver.upper() not in installed:
        raise ValueError(f"solver={solver!r}: expected the name of an installed cvxpy "
                         f"solver, one of {installed} (SDPs need a conic one: 'SCS' or "
                         "'CLARABEL'). Install it or pass one of these.")
    return solver.upper()


def solve_sdp(M, *, solver="SCS", **solver_kwargs):
    """Solve ``max <M, P> s.t. P psd, diag(P) <= 1`` with cvxpy; a sound bound on it.

    Parameters
    ----------
    M : array-like of shape (D, D), symmetric
    solver : str, default="SCS"
        Any cvxpy SDP solver installed: "SCS" (first-order, fast on these
        sizes) or "CLARABEL" (interior point, more accurate, several times
        slower here).
    **solver_kwargs
        Passed to ``Problem.solve``.

    Returns
    -------
    bound : float
        :func:`sdp_dual_bound` at the solver's dual variables of
        ``diag(P) <= 1``, in float64 (valid whatever the solver's accuracy);
        ``inf`` when the status is not ``"optimal"`` or the solver fails.
    value : float
        The solver's optimal value (``nan`` on failure).
    status : str
    """
    cp = _cvxpy()
    M = np.asarray(M, dtype=np.float64)
    M = (M + M.T) / 2
    size = M.shape[0]
    P = cp.Variable((size, size), PSD=True)
    box = cp.diag(P) <= 1
    problem = cp.Problem(cp.Maximize(cp.sum(cp.multiply(M, P))), [box])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            problem.solve(solver=solver, **solver_kwargs)
    except cp.SolverError as err:
        return math.inf, math.nan, f"solver_error: {err}"
    status = str(problem.status)
    c = box.dual_value
    if status != cp.OPTIMAL or c is None or not np.all(np.isfinite(c)):
        return math.inf, math.nan, status
    c = np.asarray(c, dtype=np.float64).reshape(size)
    top = np.linalg.eigvalsh(M - np.diag(c))[-1]
    bound = size * max(top, 0.0) + np.maximum(c, 0).sum()
    return float(bound), float(problem.value), status


def pairwise_exact_bounds(module, *, solver="SCS", **solver_kwargs):
    """:func:`solve_sdp` for every pair of classes: ``(bounds, values, statuses)``."""
    check_solver(solver)
    W, _, V, _ = one_hidden_layer(module)
    W, V = W.detach().to(torch.float64).cpu(), V.detach().to(torch.float64).cpu()
    M = _pair_matrices(W, V, class_pairs(V.shape[0])).numpy()
    out = [solve_sdp(m, solver=solver, **solver_kwargs) for m in M]
    bounds, values, statuses = zip(*out) if out else ((), (), ())
    return np.array(bounds), np.array(values), list(statuses)


def certify_from_bounds(module, x, y, eps, pair_bounds):
    """Certified flags and radii from per-pair bounds on ``max_y y^T M y``.

    Parameters
    ----------
    module : one-hidden-layer network (:func:`one_hidden_layer`)
    x : Tensor of shape (n, ...)
    y : LongTensor of shape (n,)
        Class indices.
    eps : float
    pair_bounds : array-like of shape (n_pairs,)
        In the order of :func:`class_pairs`; ``inf`` certifies nothing.

    Returns
    -------
    certified : ndarray of bool, shape (n,)
        Correct and ``f_j - f_y + (eps / 4) B_yj < 0`` for every ``j != y``.
    radius : ndarray of shape (n,)
        The largest such ``eps`` (0 where misclassified).
    """
    W, b, V, c = (p.detach().to(torch.float64).cpu() for p in one_hidden_layer(module))
    x = x.detach().to(torch.float64).cpu().flatten(1)
    y = y.detach().cpu()
    logits = torch.relu(x @ W.T + b) @ V.T + c
    n_classes = V.shape[0]
    B = torch.zeros(n_classes, n_classes, dtype=torch.float64)
    for (i, j), bound in zip(class_pairs(n_classes), np.asarray(pair_bounds, dtype=np.float64)):
        B[i, j] = B[j, i] = float(bound)
    margin = logits.gather(1, y[:, None]) - logits          # f_y - f_j, (n, C)
    slope = B[y] / 4                                          # (n, C); inf: no certificate
    radius = torch.where(slope > 0, margin / slope, torch.inf)
    radius = torch.where(margin > 0, radius, 0.0)
    radius[torch.arange(len(y)), y] = torch.inf
    radius = radius.min(1).values.numpy()
    return radius > eps, radius


def _prepare(estimator, X, y, eps, norm):
    eps, norm, _ = check_threat(eps, norm)
    if norm != "inf":
        raise ValueError(f"norm={norm!r}: the SDP certificate of Raghunathan et al. bounds "
                         "L-infinity balls only. Pass norm='inf'.")
    estimator.check_is_fitted()
    module = estimator.module_
    one_hidden_layer(module)
    target = estimator.as_attack_target()
    x = target.prepare_X(X)
    return module, x, target.encode_y(y, len(x)), eps


def certify_sdp_dual(estimator, X, y, eps, *, norm="inf", n_dual_steps=100, dual_lr=0.05):
    """Certify by the dual SDP bound (the one :class:`SDPCertifiedNetwork` trains).

    Parameters
    ----------
    estimator : fitted robustsk estimator with a one-hidden-layer network
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
    eps : float
        L-infinity radius.
    norm : {"inf"}, default="inf"
    n_dual_steps : int, default=100
        Adam steps refining the duals from the trained ones (Gershgorin's for
        a network trained otherwise); any duals give a valid bound.
    dual_lr : float, default=0.05

    Returns
    -------
    certified : ndarray of bool, shape (n_samples,)
    radius : ndarray of shape (n_samples,)
        Certified L-infinity radius of each example (0 if misclassified).
    """
    n_dual_steps = check_positive_int(n_dual_steps, "n_dual_steps", 0)
    if isinstance(dual_lr, bool) or not isinstance(dual_lr, (int, float, np.number)) \
            or not np.isfinite(dual_lr) or dual_lr <= 0:
        raise ValueError(f"dual_lr={dual_lr!r}: expected a finite learning rate > 0, "
                         "e.g. dual_lr=0.05.")
    module, x, y_t, eps = _prepare(estimator, X, y, eps, norm)
    with torch.enable_grad():
        bounds = pairwise_dual_bounds(module, n_dual_steps=int(n_dual_steps),
                                      dual_lr=float(dual_lr)).detach()
    return certify_from_bounds(module, x, y_t, eps, bounds.cpu().numpy())


def certify_sdp_exact(estimator, X, y, eps, *, norm="inf", solver="SCS", **solver_kwargs):
    """Certify by the SDP relaxation solved with a conic solver (cvxpy).

    Same contract as :func:`certify_sdp_dual`; one SDP of size
    ``1 + d + m`` per pair of classes (:func:`solve_sdp`). A pair whose solve
    fails or is not ``optimal`` certifies no example of either class.
    """
    module, x, y_t, eps = _prepare(estimator, X, y, eps, norm)
    bounds, _, _ = pairwise_exact_bounds(module, solver=solver, **solver_kwargs)
    return certify_from_bounds(module, x, y_t, eps, bounds)
