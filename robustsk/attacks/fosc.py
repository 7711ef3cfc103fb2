"""First-order stationary condition (FOSC) and FOSC-stopped PGD (Wang et al., 2019).

``FOSC(x') = eps * ||g||_* - <x' - x, g>`` with ``g`` the per-example CE
gradient at ``x'`` and ``||.||_*`` the dual norm (l1 for an Linf ball, l2 for
an L2 ball). It is the gap of the linearised inner maximisation over the ball
around the clean input ``x``: 0 means ``x'`` is a first-order stationary
point of the attack, larger means less converged. It is never negative for
``x'`` inside the ball.

Centring: the paper defines the ball around the clean input and so do we; the
authors' code (YisenWang/dynamic_adv_training, ``pgd_attack.py``) subtracts the
random start instead, so its values can go negative.
"""
import numpy as np
import torch

from ..modules import module_device
from ._checks import check_labels, check_positive_int, check_threat
from ._primitives import (
    Randomness,
    as_box,
    ascent_step,
    attack_context,
    check_norm,
    clip_box,
    input_gradient,
    project,
    random_start,
)
from ._target import as_target
from .losses import cross_entropy

__all__ = ["fosc", "fosc_pgd", "fosc_values"]


def _dual_scale(grad, eps, norm):
    """``eps * ||grad||_*``: the largest first-order gain inside the ball (FOSC's scale)."""
    g = grad.flatten(1)
    return eps * (g.abs().sum(1) if norm == "inf" else g.norm(p=2, dim=1))


def _fosc_from_grad(grad, x_adv, x, eps, norm):
    return _dual_scale(grad, eps, norm) - ((x_adv - x).flatten(1) * grad.flatten(1)).sum(1)


def fosc_values(model, x_adv, x, y, *, eps, norm="inf", mode="eval"):
    """Per-example FOSC of ``x_adv`` for the ball of radius ``eps`` around the clean ``x``.

    Parameters
    ----------
    model : torch.nn.Module
        Maps inputs to logits.
    x_adv : Tensor of shape (n_samples, ...)
        The points to assess (inside the ball).
    x : Tensor of shape (n_samples, ...)
        The clean inputs: the centre of the ball.
    y : LongTensor of shape (n_samples,)
    eps : float
    norm : {"inf", 2}, default="inf"
        Linf uses the l1 dual norm of the gradient, L2 the l2 norm.
    mode : {"eval", "train", None}, default="eval"
        Mode of the model while the gradient is taken; restored afterwards.

    Returns
    -------
    fosc : Tensor of shape (n_samples,)
        ``eps * ||g||_* - <x_adv - x, g>``, g the gradient of the per-example
        cross-entropy at ``x_adv``; 0 at a first-order stationary point.

    References
    ----------
    .. [1] Wang, Y., Ma, X., Bailey, J., Yi, J., Zhou, B. and Gu, Q. "On the
       Convergence and Robustness of Adversarial Training." ICML, 2019.

    Examples
    --------
    >>> import torch
    >>> from robustsk.attacks import fosc_values
    >>> x, y = torch.rand(3, 4), torch.tensor([0, 1, 0])
    >>> bool((fosc_values(torch.nn.Linear(4, 2), x, x, y, eps=0.1) >= 0).all())
    True
    """
    norm = check_norm(norm)
    with attack_context(model, mode):
        _, _, grad = input_gradient(model, x_adv.detach(), y, cross_entropy)
    return _fosc_from_grad(grad, x_adv.detach(), x.detach(), eps, norm)


def fosc_pgd(model, x, y, *, eps, norm="inf", step_size=None, n_iter=10, c=0.0,
             clip_min=None, clip_max=None, mode="eval", random_state=None,
             return_steps=False, return_fosc=False, return_scale=False):
    """PGD on the CE from a uniform random start that stops each example once ``FOSC <= c``.

    The first step is always taken; after every step (after the projection
    and the clip) each active example's FOSC is computed from the gradient at
    its new point (that gradient also drives its next step), and an example
    with ``FOSC <= c`` stops there. At most ``n_iter`` steps.

    Parameters
    ----------
    model : torch.nn.Module
    x : Tensor of shape (n_samples, ...)
        Clean inputs; never modified.
    y : LongTensor of shape (n_samples,)
    eps : float
    norm : {"inf", 2}, default="inf"
    step_size : float, default=None
        ``eps / 4`` when None (the paper's setting).
    n_iter : int, default=10
        Maximum number of steps.
    c : float, default=0.0
        FOSC threshold; ``inf`` stops every example after one step, ``-inf``
        never stops early.
    clip_min, clip_max : float or Tensor, default=None
        The input domain; the random start is clipped to it too (the
        reference code clips only after the first step).
    mode : {"eval", "train", None}, default="eval"
    random_state : int, torch.Generator, Randomness or None
    return_steps : bool, default=False
        Also return the number of steps each example took.
    return_fosc : bool, default=False
        Also return each example's FOSC at its returned point.
    return_scale : bool, default=False
        Also return ``eps * ||g||_*`` at the returned point (see Returns).

    Returns
    -------
    x_adv : Tensor with the shape of ``x``
    steps : LongTensor of shape (n_samples,)
        Only with ``return_steps``.
    fosc : Tensor of shape (n_samples,)
        Only with ``return_fosc`` (after ``steps`` when both are asked).
    scale : Tensor of shape (n_samples,)
        Only with ``return_scale`` (last): ``eps * ||g||_*`` at the returned
        iterate, FOSC's value at the centre of the ball. ``fosc / scale`` is a
        scale-free convergence gap in [0, 2] (0: converged), comparable across
        training although the gradients grow.

    References
    ----------
    .. [1] Wang, Y. et al. "On the Convergence and Robustness of Adversarial
       Training." ICML, 2019.

    Examples
    --------
    >>> import torch
    >>> from robustsk.attacks import fosc_pgd
    >>> x, y = torch.rand(4, 3), torch.tensor([0, 1, 0, 1])
    >>> x_adv, steps = fosc_pgd(torch.nn.Linear(3, 2), x, y, eps=0.1, c=float("inf"),
    ...                         random_state=0, return_steps=True)
    >>> steps.tolist()
    [1, 1, 1, 1]
    """
    eps, norm, step_size = check_threat(eps, norm, step_size)
    n_iter = check_positive_int(n_iter, "n_iter", 0)
    c = float(c)
    if np.isnan(c):
        raise ValueError("c=nan: expected a FOSC threshold (a number, inf or -inf).")
    y = check_labels(y, x)
    x = x.detach()
    steps = torch.zeros(len(x), dtype=torch.long, device=x.device)
    values = torch.zeros(len(x), dtype=x.dtype, device=x.device)
    scales = torch.zeros(len(x), dtype=x.dtype, device=x.device)
    if len(x) == 0:
        result = (x.clone(),) + (steps,) * return_steps + (values,) * return_fosc \
            + (scales,) * return_scale
        return result if len(result) > 1 else result[0]
    box = as_box(clip_min, clip_max, x)
    rng = Randomness.coerce(random_state, len(x))
    with attack_context(model, mode):
        x_adv = clip_box(random_start(x, eps, norm, rng), *box)
        out = x_adv.clone()
        _, _, grad = input_gradient(model, x_adv, y, cross_entropy)
        values = _fosc_from_grad(grad, x_adv, x, eps, norm)
        scales = _dual_scale(grad, eps, norm)
        active = torch.arange(len(x), device=x.device)
        x_a, y_a = x, y
        for _ in range(n_iter):
            x_adv = clip_box(project(ascent_step(x_adv, grad, step_size, norm), x_a, eps, norm),
                             *box)
            steps[active] += 1
            _, _, grad = input_gradient(model, x_adv, y_a, cross_entropy)
            current = _fosc_from_grad(grad, x_adv, x_a, eps, norm)
            out[active], values[active] = x_adv, current
            scales[active] = _dual_scale(grad, eps, norm)
            keep = current > c
            if not keep.all():
                x_adv, x_a, y_a, grad, active = (x_adv[keep], x_a[keep], y_a[keep], grad[keep],
                                                 active[keep])
                if len(active) == 0:
                    break
    result = (out.detach(),)
    if return_steps:
        result += (steps,)
    if return_fosc:
        result += (values.detach(),)
    if return_scale:
        result += (scales.detach(),)
    return result if len(result) > 1 else result[0]


def fosc(estimator_or_module, X_adv, X, y, eps, *, norm="inf", batch_size=256):
    """Per-example FOSC of adversarial examples, a convergence diagnostic of an attack.

    Parameters
    ----------
    estimator_or_module : fitted robustsk estimator or torch.nn.Module
        An estimator is differentiated through its ``attack_module()`` and its
        labels are encoded through ``classes_``; a module takes integer labels
        (class indices).
    X_adv : array-like of shape (n_samples, ...)
        Points inside the ball around ``X``.
    X : array-like of shape (n_samples, ...)
        The clean inputs (the centre of the ball).
    y : array-like of shape (n_samples,)
    eps : float
    norm : {"inf", 2}, default="inf"
    batch_size : int, default=256

    Returns
    -------
    fosc : ndarray of shape (n_samples,)
        0 for a first-order stationary point of the attack; larger is less
        converged (see :func:`fosc_values`).

    References
    ----------
    .. [1] Wang, Y. et al. "On the Convergence and Robustness of Adversarial
       Training." ICML, 2019.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from robustsk.attacks import fosc
    >>> X = np.random.RandomState(0).rand(5, 4).astype(np.float32)
    >>> fosc(torch.nn.Linear(4, 3), X, X, [0, 1, 2, 0, 1], eps=0.1).shape
    (5,)
    """
    eps, norm, _ = check_threat(eps, norm)
    obj = estimator_or_module
    if isinstance(obj, torch.nn.Module):
        device = module_device(obj)
        y = np.asarray(y)
        if y.dtype.kind not in "iu":
            raise ValueError(f"y has dtype {y.dtype}: a torch module needs integer class "
                             "indices; pass a fitted estimator to use its own labels.")
        X_adv, X = np.asarray(X_adv, dtype=np.float32), np.asarray(X, dtype=np.float32)
        if X_adv.shape != X.shape or len(y) != len(X):
            raise ValueError(f"X_adv has shape {X_adv.shape}, X {X.shape} and y {len(y)} "
                             "labels: expected one adversarial example per clean example.")
        model = obj
        x_adv, x = torch.as_tensor(X_adv, device=device), torch.as_tensor(X, device=device)
        y = torch.as_tensor(y, dtype=torch.long, device=device)
    else:  # a fitted estimator or pipeline: its own validation and label encoding
        try:
            target = as_target(obj)
        except TypeError:
            raise TypeError(
                f"fosc got {type(obj).__name__}: expected a fitted robustsk estimator (or "
                "another differentiable classifier) or a torch.nn.Module.") from None
        model = target.module
        x, x_adv = target.prepare_X(X), target.prepare_X(X_adv)
        if x_adv.shape != x.shape:
            raise ValueError(f"X_adv has shape {tuple(x_adv.shape)} and X {tuple(x.shape)}: "
                             "expected one adversarial example per clean example.")
        y = target.encode_y(y, n_samples=len(x))
    out = [fosc_values(model, x_adv[i:i + batch_size], x[i:i + batch_size],
                       y[i:i + batch_size], eps=eps, norm=norm).cpu().numpy()
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
