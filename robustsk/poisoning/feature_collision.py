"""Clean-label feature-collision poisoning ("Poison Frogs!", Shafahi et al., 2018).

The attacker wants one test image (the target) classified as a base class. It
crafts a poison that looks like a base-class image ``b`` (and keeps its correct
label) but whose feature representation collides with the target's:

    p = argmin_x ||f(x) - f(t)||^2 + beta ||x - b||^2

solved by forward-backward splitting, as in the paper's Algorithm 1: a
gradient step on the feature term, ``x^ = x - lambda grad ||f(x) - f(t)||^2``,
then the proximal step of the distance term,
``x = (x^ + lambda beta b) / (1 + lambda beta)``. ``f`` is the penultimate
layer: the input of the module's last ``nn.Linear``, read by a forward hook.
Retrained on the poisoned set, a model whose features are (nearly) fixed
classifies the target as the base class; a network trained from scratch moves
its features, so the attack is far weaker there (the paper's end-to-end
setting needs many poisons and a watermark, ``opacity``).
"""
from dataclasses import dataclass
import numbers

import numpy as np
import torch
from torch import nn

from ..attacks import (
    ThreatDefaults,
    as_box,
    as_target,
    attack_context,
    check_positive_int,
    clip_box,
    project,
)
from ._checks import check_number

__all__ = ["FeatureCollisionResult", "feature_collision", "penultimate_features"]


@dataclass(frozen=True)
class FeatureCollisionResult:
    """Poisons whose features collide with a target's.

    Attributes
    ----------
    poison : ndarray of shape (n_poisons, ...)
        One poison per base image, labelled ``base_label``.
    base_label : label
    target : ndarray of one example's shape
    feature_distance : ndarray of shape (n_poisons,)
        ``||f(poison) - f(target)||`` at the end, and ...
    initial_feature_distance : ndarray of shape (n_poisons,)
        ... at the start (``||f(base) - f(target)||``).
    X, y : ndarray or None
        The training set with the poisons appended, when one was given.
    poison_indices : ndarray of int or None
        Their rows in ``X``.
    """

    poison: np.ndarray
    base_label: object
    target: np.ndarray
    feature_distance: np.ndarray
    initial_feature_distance: np.ndarray
    X: object = None
    y: object = None
    poison_indices: object = None

    def clean_set(self):
        """The clean training set ``(X, y)`` (None if none was given)."""
        if self.X is None:
            return None
        keep = np.ones(len(self.y), bool)
        keep[self.poison_indices] = False
        return self.X[keep], self.y[keep]


def _last_linear(module):
    last = None
    for m in module.modules():
        if isinstance(m, nn.Linear):
            last = m
    if last is None:
        raise ValueError(f"{type(module).__name__} has no nn.Linear layer: feature collision "
                         "reads the penultimate features as the input of the last Linear.")
    return last


def penultimate_features(module, x):
    """The input of ``module``'s last ``nn.Linear`` for the batch ``x`` (differentiable).

    Parameters
    ----------
    module : torch.nn.Module
    x : Tensor of shape (n, ...)

    Returns
    -------
    features : Tensor of shape (n, n_features)
    """
    captured = []
    handle = _last_linear(module).register_forward_pre_hook(
        lambda _m, inputs: captured.append(inputs[0]))
    try:
        module(x)
    finally:
        handle.remove()
    return captured[-1].flatten(1)


def _check_settings(*, beta, step_size, n_iter, opacity, eps):
    check_positive_int(n_iter, "n_iter", minimum=0)
    check_number(step_size, "step_size", positive=True,
                 what="the starting step of the forward (feature) step, e.g. 0.1")
    check_number(beta, "beta", positive=False, what="the weight of staying close to the "
                 "base image (the paper's beta_0 = 0.25)")
    if isinstance(opacity, bool) or not isinstance(opacity, numbers.Real) \
            or not 0.0 <= opacity < 1.0:
        raise ValueError(f"opacity={opacity!r}: expected a number in [0, 1).")
    if eps is not None:
        check_number(eps, "eps", positive=False, what="the budget, or None for no budget")


def feature_collision(estimator, x_target, X_base, *, base_label, beta=0.25, step_size=0.1,
                      n_iter=200, opacity=0.0, eps=None, clip_min=None, clip_max=None,
                      X_train=None, y_train=None):
    """Craft clean-label poisons whose penultimate features collide with a target's.

    Parameters
    ----------
    estimator : fitted robustsk estimator (or Pipeline ending in one)
        The feature extractor (the victim's network, as in the paper's
        transfer-learning setting).
    x_target : array-like of one example's shape
        The test image to be misclassified.
    X_base : array-like of shape (n_poisons, ...)
        Base-class images; each gives one poison.
    base_label : label
        Their (correct) label, given to the poisons.
    beta : float, default=0.25
        ``beta_0`` of the paper; the weight is ``beta_0 * (k / d)^2`` with ``k``
        the feature dimension and ``d`` the input dimension (the paper's
        ``2048^2 / dim_b^2`` rule).
    step_size : float, default=0.1
        ``lambda``, the initial step; per poison it is halved whenever a step
        would raise the objective (that step is undone): a safeguard added to
        the paper's fixed-step Algorithm 1, so a too large ``step_size`` cannot
        diverge.
    n_iter : int, default=200
    opacity : float in [0, 1), default=0.0
        Watermark: each base becomes ``(1 - opacity) b + opacity t`` (the paper
        used 0.3 for end-to-end training).
    eps : float, default=None
        Optional hard Linf budget ``||p - b||_inf <= eps`` around the clean base
        (projection after every step); None relies on ``beta`` alone.
    clip_min, clip_max : float, default=None
        None inherits the estimator's box.
    X_train, y_train : array-like, default=None
        When given, ``result.X``/``result.y`` is this set with the poisons
        appended.

    Returns
    -------
    result : FeatureCollisionResult

    References
    ----------
    .. [1] Shafahi, A., Huang, W. R., Najibi, M., Suciu, O., Studer, C.,
       Dumitras, T. and Goldstein, T. "Poison Frogs! Targeted Clean-Label
       Poisoning Attacks on Neural Networks." NeurIPS, 2018.

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.base import RobustClassifier
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = RobustClassifier(max_epochs=2, random_state=0, clip_min=0, clip_max=1).fit(
    ...     X[:200], y[:200])
    >>> res = feature_collision(clf, X[300], X[y == 0][:2], base_label=0, n_iter=10)
    >>> res.poison.shape
    (2, 1, 8, 8)
    """
    target = as_target(estimator)
    box = ThreatDefaults(target, {"clip_min": clip_min, "clip_max": clip_max})
    lo, hi = box.threat_default("clip_min"), box.threat_default("clip_max")
    X_base = np.asarray(X_base)
    b = target.prepare_X(X_base, box=(lo, hi))
    t = target.prepare_X(np.asarray(x_target)[None], box=(lo, hi))
    _check_settings(beta=beta, step_size=step_size, n_iter=n_iter, opacity=opacity, eps=eps)
    if y_train is None:  # with y_train, base_label is one of its labels (checked below)
        try:
            target.encode_y(np.asarray([base_label]), 1)
        except ValueError:
            raise ValueError(f"base_label={base_label!r} is not a class of the model: pass "
                             "the base images' own class, one of the labels it was fitted "
                             "on (or give the training set, y_train, that holds it).") from None
    if (X_train is None) != (y_train is None):
        raise ValueError("X_train and y_train go together: pass both (the poisons are "
                         "appended to that training set) or neither.")
    if y_train is not None:
        y_train = np.asarray(y_train)
        if np.shape(X_train)[1:] != X_base.shape[1:]:
            raise ValueError(f"X_train has examples of shape {np.shape(X_train)[1:]}, but the "
                             f"base images have shape {X_base.shape[1:]}: the poisons are "
                             "appended to X_train, so give it the base images' shape.")
        if len(y_train) != len(X_train):
            raise ValueError(f"y_train has {len(y_train)} labels but X_train has "
                             f"{len(X_train)} rows: expected one label per row.")
        classes = np.unique(y_train)
        if not np.isin(np.asarray([base_label], dtype=object), classes.astype(object)).all():
            raise ValueError(f"base_label={base_label!r} is not a label of y_train (its labels "
                             f"are {classes.tolist()}): pass the base images' own class.")
    module = target.module
    box = as_box(lo, hi, b)
    with attack_context(module, "eval"):
        with torch.no_grad():
            f_t = penultimate_features(module, t)
            f_b = penultimate_features(module, b)
        base = (1 - opacity) * b + opacity * t
        weight = beta * (f_t.shape[1] / b[0].numel()) ** 2
        # the watermarked start, inside the budget around the clean base as every step
        x = base.clone() if eps is None else clip_box(project(base, b, eps, "inf"), *box)
        lr = torch.full((len(x),) + (1,) * (x.ndim - 1), float(step_size), dtype=x.dtype,
                        device=x.device)

        def objective(z):
            feat = ((penultimate_features(module, z) - f_t) ** 2).flatten(1).sum(1)
            return feat + weight * ((z - base) ** 2).flatten(1).sum(1)

        with torch.no_grad():
            obj = objective(x)
        for _ in range(n_iter):
            x = x.detach().requires_grad_(True)
            with torch.enable_grad():
                loss = ((penultimate_features(module, x) - f_t) ** 2).sum()
                grad, = torch.autograd.grad(loss, x)
            x_hat = x.detach() - lr * grad
            x_new = (x_hat + lr * weight * base) / (1 + lr * weight)
            if eps is not None:
                x_new = project(x_new, b, eps, "inf")
            x_new = clip_box(x_new, *box)
            with torch.no_grad():
                obj_new = objective(x_new)
            # safeguard not in the paper's Algorithm 1 (fixed lambda): a step that
            # raises the objective is undone and that poison's step is halved
            better = obj_new <= obj
            keep = better.view(-1, *[1] * (x.ndim - 1))
            x = torch.where(keep, x_new, x.detach())
            obj = torch.where(better, obj_new, obj)
            lr = torch.where(keep, lr, lr * 0.5)
        with torch.no_grad():
            dist = (penultimate_features(module, x) - f_t).norm(dim=1)
    poison = x.detach().cpu().numpy().astype(X_base.dtype if np.issubdtype(
        X_base.dtype, np.floating) else np.float32).reshape(X_base.shape)
    X_out = y_out = idx = None
    if X_train is not None:
        X_train = np.asarray(X_train)
        y_train = np.asarray(y_train)
        # integer images would truncate the poisons: promote to a float type instead
        X_out = np.concatenate([X_train, poison]).astype(
            np.result_type(X_train.dtype, poison.dtype), copy=False)
        y_out = np.concatenate([y_train, np.full(len(poison), base_label, dtype=object)])
        y_out = y_out.astype(y_train.dtype) if y_train.dtype != object else y_out
        idx = np.arange(len(X_train), len(X_out))
    return FeatureCollisionResult(
        poison=poison, base_label=base_label, target=np.asarray(x_target),
        feature_distance=dist.cpu().numpy(),
        initial_feature_distance=(f_b - f_t).norm(dim=1).cpu().numpy(),
        X=X_out, y=y_out, poison_indices=idx)
