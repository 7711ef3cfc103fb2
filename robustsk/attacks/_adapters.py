"""Torch twins of scikit-learn objects, so gradient attacks can differentiate them.

Two kinds of scikit-learn object have an exact differentiable twin:

* affine preprocessing steps (``StandardScaler``, ``MinMaxScaler``,
  ``MaxAbsScaler``, ``PCA``, ``TruncatedSVD``, an identity
  ``FunctionTransformer``, ``'passthrough'``): :func:`affine_map` returns their
  fitted map ``x -> x A^T + c`` in float64;
* linear classifiers (``LogisticRegression``, ``LinearSVC``, ``SGDClassifier``,
  ``RidgeClassifier``, ``Perceptron``, ... any ``LinearClassifierMixin``):
  :func:`linear_scores` returns ``(W, b)`` whose scores ``x W^T + b`` are the
  logits an attack sees. A binary model's one decision value ``d`` becomes the
  two logits ``[0, d]``, so cross-entropy is exactly the logistic loss and
  ``argmax`` agrees with ``predict``; a multiclass model's decision values
  (one-vs-rest or multinomial) are its logits.

Anything else (``Normalizer``, trees, kernel SVMs, nearest neighbours) has no
such twin and the gradient attacks refuse it with a ``TypeError``.
"""
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..modules import module_device

__all__ = ["AffineMap", "affine_map", "is_identity_step", "is_linear_classifier",
           "linear_scores", "linear_module", "LinearScores", "AffineLayer", "Chain",
           "compose_affine", "float64_linear", "NOT_DIFFERENTIABLE_HINT"]

#: appended to every "not differentiable" error
NOT_DIFFERENTIABLE_HINT = (
    "For any other scikit-learn classifier (trees, kernel SVMs, nearest neighbours, "
    "pipelines with non-affine steps) use a gradient-free attack: robustsk.attacks.SPSA "
    "or robustsk.attacks.Square."
)


@dataclass(frozen=True)
class AffineMap:
    """A fitted affine map ``x -> x * scale + bias`` or ``x -> x @ matrix.T + bias``.

    Attributes
    ----------
    matrix : ndarray of shape (n_out, n_in) or None
        None for an elementwise map.
    scale : ndarray of shape (n_in,) or None
        Elementwise factor (when ``matrix`` is None); None means 1.
    bias : ndarray of shape (n_out,) or None
    clip : tuple of float or None
        ``MinMaxScaler(clip=True)``: the output is clipped to this range
        (piecewise affine; its gradient is zero where it clips).
    """

    matrix: object = None
    scale: object = None
    bias: object = None
    clip: object = None

    def dense(self, n_in):
        """``(A, c)`` as dense float64 arrays (the clip is ignored)."""
        if self.matrix is not None:
            A = np.asarray(self.matrix, dtype=np.float64)
        else:
            A = np.diag(np.ones(n_in) if self.scale is None else
                        np.broadcast_to(np.asarray(self.scale, np.float64), (n_in,)))
        c = np.zeros(A.shape[0]) if self.bias is None else \
            np.broadcast_to(np.asarray(self.bias, np.float64), (A.shape[0],)).copy()
        return A, c


def is_identity_step(step):
    """True for ``None``, ``'passthrough'`` and ``FunctionTransformer(func=None)``."""
    from sklearn.preprocessing import FunctionTransformer
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return True
    return isinstance(step, FunctionTransformer) and step.func is None


def _vec(value):
    return None if value is None else np.asarray(value, dtype=np.float64)


def affine_map(step):
    """The fitted affine map of a preprocessing step, or None for an identity step.

    Parameters
    ----------
    step : fitted transformer, 'passthrough' or None

    Returns
    -------
    map : AffineMap or None

    Raises
    ------
    TypeError
        For a step that is not affine (``Normalizer``, ``PolynomialFeatures``, ...).
    """
    from sklearn.decomposition import PCA, TruncatedSVD
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler
    from sklearn.utils.validation import check_is_fitted

    if is_identity_step(step):
        return None
    if isinstance(step, (StandardScaler, MinMaxScaler, MaxAbsScaler, PCA, TruncatedSVD)):
        check_is_fitted(step)
    if isinstance(step, StandardScaler):
        scale = _vec(step.scale_)
        inv = None if scale is None else 1.0 / scale
        mean = _vec(step.mean_) if step.with_mean else None
        bias = None if mean is None else -mean * (1.0 if inv is None else inv)
        return AffineMap(scale=inv, bias=bias)
    if isinstance(step, MinMaxScaler):
        clip = tuple(step.feature_range) if step.clip else None
        return AffineMap(scale=_vec(step.scale_), bias=_vec(step.min_), clip=clip)
    if isinstance(step, MaxAbsScaler):
        return AffineMap(scale=1.0 / _vec(step.scale_))
    if isinstance(step, PCA):
        comp = _vec(step.components_)
        bias = -comp @ _vec(step.mean_)
        if step.whiten:  # as PCA._transform: divide by the clipped sqrt of the variance
            s = np.sqrt(_vec(step.explained_variance_))
            s[s < np.finfo(s.dtype).eps] = np.finfo(s.dtype).eps
            comp, bias = comp / s[:, None], bias / s
        return AffineMap(matrix=comp, bias=bias)
    if isinstance(step, TruncatedSVD):  # no centering: a linear map
        return AffineMap(matrix=_vec(step.components_))
    raise TypeError(
        f"{type(step).__name__} is not affine, so the pipeline is not "
        "differentiable by the gradient attacks: they differentiate through 'passthrough', "
        "StandardScaler, MinMaxScaler, MaxAbsScaler, PCA, TruncatedSVD and "
        "FunctionTransformer(func=None) steps only. " + NOT_DIFFERENTIABLE_HINT)


def compose_affine(maps, n_in):
    """Compose affine maps applied in order into one dense ``(A, c)`` (float64)."""
    A, c = np.eye(n_in), np.zeros(n_in)
    for m in maps:
        if m.clip is not None:
            raise TypeError("MinMaxScaler(clip=True) is only piecewise affine: the closed "
                            "form needs an affine pipeline. Use clip=False or a gradient "
                            "attack.")
        Am, cm = m.dense(A.shape[0])
        A, c = Am @ A, Am @ c + cm
    return A, c


def is_linear_classifier(estimator):
    """True for a scikit-learn linear classifier (``LinearClassifierMixin`` with ``coef_``)."""
    from sklearn.linear_model._base import LinearClassifierMixin
    return isinstance(estimator, LinearClassifierMixin)


def linear_scores(estimator):
    """``(W, b)`` of shape (n_classes, n_features) and (n_classes,): logits ``x W^T + b``.

    A binary model (one decision value ``d = w.x + b``) gives ``W = [0, w]``,
    ``b = [0, b]``: the logits ``[0, d]``.
    """
    coef = estimator.coef_
    if hasattr(coef, "toarray"):  # after .sparsify()
        coef = coef.toarray()
    W = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    b = np.broadcast_to(np.asarray(estimator.intercept_, dtype=np.float64),
                        (W.shape[0],)).copy()
    if W.shape[0] == 1:
        W = np.vstack([np.zeros_like(W), W])
        b = np.concatenate([[0.0], b])
    return W, b


class AffineLayer(nn.Module):
    """A fixed affine map as a torch layer (buffers, no parameters).

    Parameters
    ----------
    affine : AffineMap
    device : str or torch.device
    """

    def __init__(self, affine, device="cpu"):
        super().__init__()
        def buf(v):
            return None if v is None else torch.as_tensor(np.asarray(v), dtype=torch.float32,
                                                            device=device)
        self.register_buffer("matrix", buf(affine.matrix))
        self.register_buffer("scale", buf(affine.scale))
        self.register_buffer("bias", buf(affine.bias))
        self.clip = affine.clip
        # the map in float64, as scikit-learn applies it (interval bounds read it)
        self.affine64 = AffineMap(*(_vec(v) for v in (affine.matrix, affine.scale,
                                                       affine.bias)), affine.clip)

    def forward(self, x):
        x = x.flatten(1)
        if self.matrix is not None:
            x = x @ self.matrix.T
        elif self.scale is not None:
            x = x * self.scale
        if self.bias is not None:
            x = x + self.bias
        if self.clip is not None:
            x = x.clamp(*self.clip)
        return x

    def as_sequential(self):
        """The same map as ``nn.Flatten`` then a float64 ``nn.Linear`` (what interval
        bound propagation reads: the map as scikit-learn applies it); ``TypeError`` for a
        clipping map, which is not affine."""
        if self.clip is not None:
            raise TypeError("the preprocessing clips its output (MinMaxScaler(clip=True)): not "
                            "an affine map, so bounds cannot be propagated through it. Use "
                            "clip=False, or certify the final estimator on transformed data.")
        affine = self.affine64
        if affine.matrix is not None:
            weight = affine.matrix
        else:
            sizes = [np.size(v) for v in (affine.scale, affine.bias) if v is not None]
            if not sizes or max(sizes) == 1:
                raise TypeError("the preprocessing's number of features is unknown (a scalar "
                                "scale and shift): certify the final estimator on transformed "
                                "data instead.")
            n = max(sizes)
            weight = np.eye(n)
            if affine.scale is not None:
                weight = weight * np.broadcast_to(np.reshape(affine.scale, -1), (n,))
        bias = np.zeros(weight.shape[0]) if affine.bias is None else \
            np.broadcast_to(np.reshape(affine.bias, -1), (weight.shape[0],))
        return float64_linear(weight, bias, module_device(self))


class Chain(nn.Sequential):
    """Affine preprocessing layers followed by the classifier's module."""


def float64_linear(weight, bias, device="cpu"):
    """``nn.Flatten`` then a frozen float64 ``nn.Linear`` computing ``x weight^T + bias``.

    The form in which interval bound propagation reads a fixed affine map at the
    precision scikit-learn computes it.
    """
    layer = nn.Linear(weight.shape[1], weight.shape[0], device=device, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(np.asarray(weight), dtype=torch.float64))
        layer.bias.copy_(torch.as_tensor(np.asarray(bias), dtype=torch.float64))
    return nn.Sequential(nn.Flatten(), layer.requires_grad_(False))


class LinearScores(nn.Sequential):
    """A scikit-learn linear classifier's logits: ``nn.Flatten`` then a frozen float32
    ``nn.Linear``, keeping the float64 ``(W, b)`` for :meth:`as_sequential`.

    Parameters
    ----------
    W : ndarray of shape (n_classes, n_features)
    b : ndarray of shape (n_classes,)
    device : str or torch.device
    """

    def __init__(self, W, b, device="cpu"):
        layer = nn.Linear(W.shape[1], W.shape[0], device=device)
        with torch.no_grad():
            layer.weight.copy_(torch.as_tensor(W, dtype=torch.float32))
            layer.bias.copy_(torch.as_tensor(b, dtype=torch.float32))
        super().__init__(nn.Flatten(), layer.requires_grad_(False))
        self.W64, self.b64 = np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)

    def as_sequential(self):
        """The same logits as a float64 ``nn.Sequential``, as scikit-learn computes them
        (what interval bound propagation reads)."""
        return float64_linear(self.W64, self.b64, module_device(self))


def linear_module(estimator, device="cpu"):
    """The logits of a scikit-learn linear classifier as a :class:`LinearScores`."""
    W, b = linear_scores(estimator)
    return LinearScores(W, b, device)
