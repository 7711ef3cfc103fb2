"""The registry of certification methods that :func:`robustsk.certify.certify` dispatches to.

A method is a function

``fn(estimator, X, y, eps, *, norm, **params) -> (certified, radius)``

where ``X``, ``y`` are the user's arrays (the method validates and converts
them), ``eps`` a float >= 0 and ``norm`` ``"inf"`` or ``"2"`` (already
validated); ``certified`` is a boolean array of shape (n_samples,): the
prediction at every point of the ball is ``y``; ``radius`` an array of
certified radii (in ``norm``) of the prediction, or None where the method
gives none. A method must raise before doing any work for input it cannot
handle, and must never report certified where its solver failed.

:data:`METHODS` maps names to functions; :data:`METHOD_NORMS` the norms a
method supports (``certify`` refuses others before calling it, and picks the
only one when ``norm=None``). :func:`register_method` adds both.
"""
import numpy as np
import torch

from ..attacks import as_target
from ..validation import check_box
from .ibp import margin_lower_bounds, network_layers
from .rub import certify_rub
from .sdp import certify_sdp_dual, certify_sdp_exact

__all__ = ["METHODS", "METHOD_NORMS", "register_method", "certify_ibp", "certify_smoothing"]

#: name -> ``fn(estimator, X, y, eps, *, norm, **params) -> (certified, radius)``
METHODS = {}
#: name -> tuple of the norms it supports (``"inf"``, ``"2"``); absent: the method checks
METHOD_NORMS = {}


def register_method(name, fn, *, norms=None):
    """Register a certification method under ``name`` (replacing any method of that name).

    Parameters
    ----------
    name : str
    fn : callable
        ``fn(estimator, X, y, eps, *, norm, **params) -> (certified, radius)``.
    norms : tuple of {"inf", "2"}, default=None
        The norms it supports; None leaves the check to ``fn``.

    Returns
    -------
    fn
    """
    if not callable(fn):
        raise TypeError(f"register_method({name!r}, ...) got {fn!r}: expected a function.")
    METHODS[name] = fn
    if norms is not None:
        METHOD_NORMS[name] = tuple(norms)
    return fn


def certify_ibp(estimator, X, y, eps, *, norm, batch_size=256, clip_min=None, clip_max=None):
    """Interval bound propagation (:mod:`robustsk.certify.ibp`) on a fitted network.

    Works on any estimator :func:`robustsk.attacks.as_target` accepts whose
    module is a feed-forward ReLU network (robustsk networks, scikit-learn
    linear classifiers), with the estimator's input box (``clip_min``,
    ``clip_max``) unless one is given. Gives no radius. A scikit-learn model
    (or pipeline) is bounded as it computes, in float64: around ``X`` itself,
    through its preprocessing's and linear model's float64 coefficients; a
    robustsk network around ``X`` in float32, the precision its ``predict``
    reads.

    Parameters
    ----------
    estimator : fitted classifier
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
        True labels.
    eps : float
        Radius of the ball.
    norm : {"inf", "2"}
    batch_size : int, default=256
        Examples bounded at once.
    clip_min, clip_max : float or array-like, default=None
        The input box the ball is intersected with, as an attack's
        (``robustsk.attacks.PGD(clip_min=0, clip_max=1)``); None: the
        estimator's own (a scikit-learn model has none: unbounded).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}: expected an integer >= 1.")
    target = as_target(estimator)
    module = target.module  # a scikit-learn model's layers read their float64 coefficients
    network_layers(module)  # an unsupported layer raises here, before any work
    box = tuple(target.threat_default(name) if given is None else given
                for name, given in (("clip_min", clip_min), ("clip_max", clip_max)))
    x = target.prepare_X(X, box)  # also checks that X lies in the box
    if getattr(estimator, "as_attack_target", None) is None:
        # scikit-learn computes in float64: bound the ball around X itself, not around
        # its float32 copy (features near 1e6 move by 0.06 there)
        x = torch.as_tensor(np.asarray(X, dtype=np.float64).reshape(x.shape), device=x.device)
    y = target.encode_y(y, len(x))
    lo, hi = check_box(*box, tuple(x.shape[1:]))
    lo, hi = (None if b is None else torch.as_tensor(b, device=x.device) for b in (lo, hi))
    was_training = module.training
    module.eval()
    try:
        out = []
        for start in range(0, len(x), batch_size):
            sl = slice(start, start + batch_size)
            bound = margin_lower_bounds(module, x[sl], y[sl].to(x.device), eps, norm=norm,
                                        clip_min=lo, clip_max=hi)
            out.append((bound.min(dim=1).values > 0).cpu())
    finally:
        module.train(was_training)
    certified = torch.cat(out).numpy() if out else np.zeros(0, dtype=bool)
    return certified.astype(bool), None


def certify_smoothing(estimator, X, y, eps, *, norm, **params):
    """Randomized smoothing: the estimator's own Monte Carlo ``certify`` (Cohen et al., 2019).

    Certified where the smoothed prediction is ``y`` and its certified L2
    radius exceeds ``eps``. ``params`` (``n0``, ``n``, ``alpha``,
    ``batch_size``, ``random_state``) override the estimator's.
    """
    if not callable(getattr(estimator, "certify", None)):
        raise TypeError(
            f"method='smoothing' needs a randomized-smoothing classifier with a certify(X) "
            f"method, but got {type(estimator).__name__}: wrap it in "
            "robustsk.defenses.RandomizedSmoothingClassifier(base_estimator=...) and fit that.")
    y = np.asarray(y)
    labels, radius = estimator.certify(X, **params)
    if len(y) != len(labels):
        raise ValueError(f"X has {len(labels)} samples but y has {len(y)}: give one label per "
                         "example.")
    certified = (labels == y) & (radius > eps)
    return np.asarray(certified, dtype=bool), np.asarray(radius, dtype=float)


register_method("ibp", certify_ibp, norms=("inf", "2"))
register_method("smoothing", certify_smoothing, norms=("2",))
register_method("sdp_dual", certify_sdp_dual, norms=("inf",))
register_method("sdp_exact", certify_sdp_exact, norms=("inf",))
register_method("rub", certify_rub, norms=("inf", "2"))
