"""Carlini-Wagner L2 (Carlini & Wagner, 2017): the smallest L2 perturbation that fools.

A minimum-norm white-box attack: for a constant ``c`` found by binary search
per example, Adam minimises ``||x' - x||_2^2 + c * max(z_y - max_{j != y} z_j, -kappa)``.
Inside a box, ``x' = lo + (hi - lo) * (tanh(w) + 1) / 2`` keeps every iterate in
the box without clipping (the paper's change of variables); without a box (or
with only one side of it) the perturbation is optimised directly (and clipped
to the side given).

Robust accuracy at a radius: with ``eps`` set, an example counts as fooled only
if its smallest successful perturbation has ``||delta||_2 <= eps``; otherwise
the clean ``x`` is returned for it. With ``eps=None`` every success counts,
whatever its norm (``return_info=True`` reports the norms). CW never inherits
the estimator's ``eps``: that radius usually belongs to another norm.
"""
import math
from numbers import Real

import numpy as np
import torch

from ..params import Interval, Options, validate_params
from ._checks import check_labels, check_positive_int
from ._primitives import as_box, attack_context, clip_box
from ._target import as_target, output_like
from .base import Attack, Threat, project_out
from .runner import run_batches

__all__ = ["carlini_wagner_l2", "CarliniWagnerL2"]


def _other_max(logits, y):
    other = logits.clone()
    other.scatter_(1, y[:, None], float("-inf"))
    return other.amax(dim=1)


def _f(logits, y, y_target, kappa):
    """CW's f6: ``max(z_y - max_other, -kappa)`` (or towards the target), to minimise."""
    if y_target is None:
        gap = logits.gather(1, y[:, None]).squeeze(1) - _other_max(logits, y)
    else:
        gap = _other_max(logits, y_target) - logits.gather(1, y_target[:, None]).squeeze(1)
    return gap.clamp_min(-kappa)


def _fooled(logits, y, y_target, kappa):
    """Success with the confidence margin ``kappa`` (plain argmax when kappa is 0)."""
    z = logits.clone()
    if y_target is None:
        z.scatter_add_(1, y[:, None], torch.full_like(z[:, :1], kappa))
        return z.argmax(dim=1) != y
    z.scatter_add_(1, y_target[:, None], torch.full_like(z[:, :1], -kappa))
    return z.argmax(dim=1) == y_target


def carlini_wagner_l2(model, x, y, *, n_iter=1000, n_binary_steps=9, initial_const=1e-3,
                      kappa=0.0, lr=0.01, eps=None, y_target=None, clip_min=None,
                      clip_max=None, box_method="tanh", mode="eval", return_info=False):
    """Carlini-Wagner L2 attack with a per-example binary search over ``c``.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch of inputs to logits.
    x : Tensor of shape (n_samples, ...)
        Clean inputs; never modified.
    y : LongTensor of shape (n_samples,)
    n_iter : int, default=1000
        Adam steps per binary-search step (the paper's code: 10,000 with early
        abort). What matters is roughly ``n_iter * lr``: on a digits MLP,
        ``n_iter=100, lr=0.05`` found the same norms as ``n_iter=1000,
        lr=0.01`` in a tenth of the time, while ``n_iter=100, lr=0.01`` fell
        short (found no perturbation within L2 1.0 for 27% more examples than
        PGD-L2 did).
    n_binary_steps : int, default=9
        Binary-search steps over ``c`` (the paper's code: 9).
    initial_const : float, default=1e-3
        First ``c`` (the paper's code: 1e-3). Until a success, ``c`` is
        multiplied by 10; afterwards it is bisected.
    kappa : float, default=0.0
        Confidence: success needs a margin of at least ``kappa``.
    lr : float, default=0.01
        Adam learning rate (the paper's code: 0.01).
    eps : float, default=None
        None: return every success. A radius: successes with a larger L2 norm
        are discarded (the clean ``x`` is returned for that example).
    y_target : LongTensor, default=None
        Targets of a targeted attack.
    clip_min, clip_max : float or Tensor, default=None
        Both given: the tanh change of variables. Otherwise the perturbation is
        optimised directly and clipped to the side given, if any.
    box_method : {"tanh", "clip"}, default="tanh"
        How the box is kept: the paper's tanh change of variables, or Adam on
        the perturbation followed by a clip. With short budgets on data with
        many values exactly at the bounds (digits: pixels at 0 and 1), "clip"
        finds smaller perturbations: tanh's derivative vanishes there, so those
        values barely move (on a digits CNN, 100 steps x 5 searches: 67% vs 43%
        of examples fooled within L2 0.5; PGD-L2 fooled 73%).
    mode : {"eval", "train", None}, default="eval"
    return_info : bool, default=False
        Also return a dict: ``"l2"`` (Tensor, the L2 norm of the smallest
        successful perturbation found, ``inf`` where none was) and
        ``"success"`` (BoolTensor, found and within ``eps``).

    Returns
    -------
    x_adv : Tensor with the shape of ``x``
    info : dict, only with ``return_info=True``

    References
    ----------
    .. [1] Carlini, N. and Wagner, D. "Towards Evaluating the Robustness of
       Neural Networks." IEEE Symposium on Security and Privacy, 2017.

    Examples
    --------
    >>> import torch
    >>> from robustsk.attacks.cw import carlini_wagner_l2
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = torch.nn.Linear(4, 3)
    >>> x, y = torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1])
    >>> x_adv, info = carlini_wagner_l2(model, x, y, n_iter=50, n_binary_steps=3,
    ...                                 clip_min=0, clip_max=1, return_info=True)
    >>> x_adv.shape
    torch.Size([5, 4])
    """
    n_iter = check_positive_int(n_iter, "n_iter", 1)
    n_binary_steps = check_positive_int(n_binary_steps, "n_binary_steps", 1)
    for name, value, low in (("initial_const", initial_const, 0.0), ("lr", lr, 0.0)):
        if isinstance(value, bool) or not isinstance(value, Real) or not value > low:
            raise ValueError(f"{name}={value!r}: expected a number > 0.")
    if isinstance(kappa, bool) or not isinstance(kappa, Real) or kappa < 0:
        raise ValueError(f"kappa={kappa!r}: expected a confidence >= 0.")
    initial_const, lr, kappa = float(initial_const), float(lr), float(kappa)
    if eps is not None and (isinstance(eps, bool) or not isinstance(eps, Real)
                            or not eps >= 0):
        raise ValueError(f"eps={eps!r}: expected None (no bound) or a radius >= 0.")
    y = check_labels(y, x)
    y_target = check_labels(y_target, x, "y_target")
    x = x.detach()
    n = len(x)
    best_l2 = torch.full((n,), math.inf, device=x.device)
    best_x = x.clone()
    if n == 0 or eps == 0:
        info = {"l2": best_l2, "success": torch.zeros(n, dtype=torch.bool, device=x.device)}
        return (best_x, info) if return_info else best_x
    lo, hi = as_box(clip_min, clip_max, x)
    if box_method not in ("tanh", "clip"):
        raise ValueError(f"box_method={box_method!r}: expected 'tanh' (the paper's change of "
                         "variables) or 'clip' (optimise the perturbation, clip to the box).")
    tanh = lo is not None and hi is not None and box_method == "tanh"
    if tanh:
        width = (hi - lo).clamp_min(1e-12)
        w0 = torch.atanh(((x - lo) / width * 2 - 1).clamp(-1, 1) * 0.999999)

        def to_x(var):
            return lo + (hi - lo) * (torch.tanh(var) + 1) / 2
    else:
        w0 = torch.zeros_like(x)

        def to_x(var):
            return clip_box(x + var, lo, hi)
    const = torch.full((n,), float(initial_const), device=x.device, dtype=x.dtype)
    lower = torch.zeros_like(const)
    upper = torch.full_like(const, 1e10)
    with attack_context(model, mode):
        for _ in range(n_binary_steps):
            var = w0.clone().requires_grad_(True)
            opt = _Adam(var, lr)
            found = torch.zeros(n, dtype=torch.bool, device=x.device)
            for _ in range(n_iter):
                with torch.enable_grad():
                    x_new = to_x(var)
                    logits = model(x_new)
                    l2sq = ((x_new - x) ** 2).flatten(1).sum(dim=1)
                    loss = (l2sq + const * _f(logits, y, y_target, kappa)).sum()
                    var.grad, = torch.autograd.grad(loss, var)
                with torch.no_grad():  # bookkeeping at the point just scored
                    ok = _fooled(logits.detach(), y, y_target, kappa)
                    l2 = l2sq.detach().sqrt()
                    better = ok & (l2 < best_l2)
                    best_l2 = torch.where(better, l2, best_l2)
                    best_x = torch.where(better.view(-1, *[1] * (x.ndim - 1)),
                                         x_new.detach(), best_x)
                    found |= ok
                # drop this step's graph before the next forward pass
                del x_new, logits, l2sq, loss
                opt.step()
            with torch.no_grad():
                upper = torch.where(found, torch.minimum(upper, const), upper)
                lower = torch.where(found, lower, torch.maximum(lower, const))
                const = torch.where(upper < 1e9, (lower + upper) / 2, const * 10)
    success = torch.isfinite(best_l2)
    if eps is not None:
        success &= best_l2 <= eps
        best_x[~success] = x[~success]
    info = {"l2": best_l2, "success": success}
    return (best_x, info) if return_info else best_x


class _Adam:
    """``torch.optim.Adam``'s single-tensor update (default betas and eps) on one tensor.

    Written out because torch's Adam reads its step counter with ``.item()``
    every step (a host-device synchronisation on an accelerator) unless
    ``capturable``, which the CPU refuses; here the counter is a Python int.
    """

    def __init__(self, var, lr, betas=(0.9, 0.999), eps=1e-8):
        self.var, self.lr, self.betas, self.eps, self.t = var, lr, betas, eps, 0
        self.m = torch.zeros_like(var)
        self.v = torch.zeros_like(var)

    @torch.no_grad()
    def step(self):
        b1, b2 = self.betas
        grad = self.var.grad
        self.t += 1
        self.m.lerp_(grad, 1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        step_size = self.lr / (1 - b1 ** self.t)
        denom = (self.v.sqrt() / math.sqrt(1 - b2 ** self.t)).add_(self.eps)
        self.var.addcdiv_(self.m, denom, value=-step_size)


class CarliniWagnerL2(Attack):
    """Carlini-Wagner L2: the smallest L2 perturbation found, optionally within ``eps``.

    White-box: needs a robustsk estimator (or a Pipeline ending in one with
    ``"passthrough"`` steps before it).

    Parameters
    ----------
    eps : float, default=None
        None: every success counts, whatever its norm (a minimum-norm attack).
        A radius: only perturbations with ``||delta||_2 <= eps`` count; the
        clean input is returned for the other examples. Not inherited from
        the estimator (whose ``eps`` usually belongs to another norm).
    n_iter : int, default=1000
        Adam steps per binary-search step; see :func:`carlini_wagner_l2` (for
        quick runs, ``n_iter=100, lr=0.05``).
    n_binary_steps : int, default=9
    initial_const : float, default=1e-3
    kappa : float, default=0.0
    lr : float, default=0.01
    clip_min, clip_max : float or array-like, default=None
        None inherits the estimator's box.
    box_method : {"tanh", "clip"}, default="tanh"
        See :func:`carlini_wagner_l2`; "clip" is stronger on short budgets.
    batch_size : int, default=256

    Notes
    -----
    ``generate(estimator, X, y, return_info=True)`` also returns, per example,
    ``"l2"`` (the smallest successful L2 norm found, ``inf`` if none),
    ``"success"`` and ``"queries"`` (forward-backward passes).
    The search is deterministic, so there is no ``random_state``. The paper's
    early abort (of a whole batch) is left out so that results do not depend
    on batching.

    References
    ----------
    .. [1] Carlini, N. and Wagner, D. "Towards Evaluating the Robustness of
       Neural Networks." IEEE Symposium on Security and Privacy, 2017.

    Examples
    --------
    >>> from robustsk.attacks.cw import CarliniWagnerL2
    >>> CarliniWagnerL2(eps=1.0, n_iter=50).set_params(n_binary_steps=5).n_binary_steps
    5
    """

    _parameter_constraints = {
        "eps": [None, Interval(float, 0, None), Options(math.inf)],
        "n_binary_steps": [Interval(int, 1, None)],
        "initial_const": [Interval(float, 0, None, closed="neither")],
        "kappa": [Interval(float, 0, None)],
        "lr": [Interval(float, 0, None, closed="neither")],
        "box_method": [Options("tanh", "clip")],
    }

    def __init__(self, eps=None, n_iter=1000, n_binary_steps=9, initial_const=1e-3, kappa=0.0,
                 lr=0.01, clip_min=None, clip_max=None, box_method="tanh", batch_size=256):
        self.eps = eps
        self.n_iter = n_iter
        self.n_binary_steps = n_binary_steps
        self.initial_const = initial_const
        self.kappa = kappa
        self.lr = lr
        self.clip_min = clip_min
        self.clip_max = clip_max
        self.box_method = box_method
        self.batch_size = batch_size

    def resolve_threat(self, target):
        """An L2 threat with this attack's own ``eps`` (inf when None) and the box."""
        validate_params(self, hints={"eps": "A radius cannot be negative: pass eps >= 0, or "
                                             "None (or inf) for the unbounded attack."})
        if self.eps is not None and (isinstance(self.eps, bool) or
                                     not isinstance(self.eps, (int, float, np.number))
                                     or not self.eps >= 0):
            raise ValueError(f"eps={self.eps!r}: expected None (no bound) or a radius >= 0.")
        box = [self.threat_param(k, target) for k in ("clip_min", "clip_max")]
        eps = math.inf if self.eps is None else float(self.eps)
        return Threat(eps=eps, norm="2", clip_min=box[0], clip_max=box[1])

    def _call(self, model, x, y, threat, y_target=None):
        return carlini_wagner_l2(
            model, x, y, n_iter=self.n_iter, n_binary_steps=self.n_binary_steps,
            initial_const=self.initial_const, kappa=self.kappa, lr=self.lr,
            eps=None if math.isinf(threat.eps) else threat.eps, y_target=y_target,
            clip_min=threat.clip_min, clip_max=threat.clip_max, box_method=self.box_method,
            return_info=True)

    def perturb(self, model, x, y, *, threat, rng=None, y_target=None):
        """Run :func:`carlini_wagner_l2` on one batch of tensors (``rng`` is unused).

        Parameters and return value as :meth:`robustsk.attacks.Attack.perturb`.
        """
        return self._call(model, x, y, threat, y_target)[0]

    def perturb_with_info(self, model, x, y, *, threat, rng=None, y_target=None):
        """:meth:`perturb`, and per example ``"l2"`` (the perturbation's norm,
        inf where none was found) and ``"success"`` (bool)."""
        x_adv, info = self._call(model, x, y, threat, y_target)
        return x_adv, {"l2": info["l2"], "success": info["success"]}

    def generate(self, estimator, X, y, *, y_target=None, return_info=False):
        """Adversarial examples for ``X``: per example the smallest successful one.

        Parameters
        ----------
        estimator : fitted robustsk estimator or Pipeline ending in one
        X : array-like of shape (n_samples, ...)
        y : array-like of shape (n_samples,)
        y_target : array-like of shape (n_samples,), default=None
        return_info : bool, default=False
            Also return a dict of numpy arrays ``"l2"``, ``"success"``, ``"queries"``.

        Returns
        -------
        X_adv : ndarray with the shape and dtype of ``X``
        info : dict, only with ``return_info=True``
        """
        target = as_target(estimator)
        threat, x, y_t, t_t = self._prepare(target, X, y, y_target)
        # CW draws no random numbers: the seed of the (unused) streams is arbitrary
        out, info = run_batches(self, target.module, x, y_t, threat=threat, seed=0,
                                y_target=t_t, batch_size=self.batch_size, return_info=True)
        l2, success = info["l2"], info["success"]
        X_adv = output_like(project_out(X, out, threat), X)
        if not return_info:
            return X_adv
        queries = np.full(len(x), self.n_iter * self.n_binary_steps if threat.eps > 0 else 0)
        return X_adv, {"l2": l2.cpu().numpy(), "success": success.cpu().numpy(),
                       "queries": queries}
