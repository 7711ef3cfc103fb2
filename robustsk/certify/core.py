""":func:`certify` and its result: one entry point to every certification method."""
from dataclasses import dataclass
import difflib
import inspect
import time
from types import MappingProxyType
from typing import Any, Mapping, Optional

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..attacks import check_threat
from ..stats import AccuracyInterval, accuracy_interval
from ..validation import check_labels_known
from .methods import METHOD_NORMS, METHODS

__all__ = ["CertificationResult", "certify", "default_method"]


@dataclass(frozen=True)
class CertificationResult:
    """What :func:`certify` proves about each example.

    Attributes
    ----------
    certified : ndarray of shape (n_samples,), bool
        True where the prediction is the true label at every point of the
        ``eps``-ball (in ``norm``) around the example: a proof, not an attack's
        failure to find a counterexample.
    radius : ndarray of shape (n_samples,) or None
        The certified radius of the prediction where the method gives one
        (randomized smoothing: 0 where it abstains); None otherwise.
    certified_accuracy : float
        The fraction of examples certified; a lower bound of the robust
        accuracy at ``eps`` (for randomized smoothing, with probability at
        least ``1 - alpha`` per example).
    interval : AccuracyInterval
        95% Wilson interval of the certified accuracy (:mod:`robustsk.stats`).
    method : str
    norm : {"inf", "2"}
    eps : float
    params : mapping
        The method's parameters as given (read-only).
    seconds : float
        Wall-clock time of the certification.
    """

    certified: np.ndarray
    radius: Optional[np.ndarray]
    certified_accuracy: float
    interval: AccuracyInterval
    method: str
    norm: str
    eps: float
    params: Mapping[str, Any]
    seconds: float


def default_method(estimator):
    """The certification method ``certify`` uses for ``estimator`` when none is given.

    The estimator's ``certification_method`` attribute if it has one (e.g.
    ``"smoothing"`` for :class:`~robustsk.defenses.RandomizedSmoothingClassifier`),
    else ``"ibp"`` (interval bound propagation, for any feed-forward ReLU network).
    """
    return getattr(estimator, "certification_method", None) or "ibp"


def _check_method(method):
    if isinstance(method, str) and method in METHODS:
        return method
    close = difflib.get_close_matches(str(method), list(METHODS), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"method={method!r} is not a certification method: expected one of "
                     f"{sorted(METHODS)}.{hint}")


def _check_method_params(method, method_params):
    """Refuse keyword arguments the method does not take, before any work."""
    try:
        params = inspect.signature(METHODS[method]).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    accepted = [name for name, p in params.items() if p.kind is p.KEYWORD_ONLY
                or (p.kind is p.POSITIONAL_OR_KEYWORD and p.default is not p.empty)]
    unknown = sorted(set(method_params) - set(accepted) - {"norm"})
    if unknown:
        raise TypeError(f"certify got unexpected keyword arguments {unknown} for "
                        f"method={method!r}, which takes "
                        f"{sorted(set(accepted) - {'norm'})}: pass only those.")


def certify(estimator, X, y, eps, *, norm=None, method=None, **method_params):
    """Prove, per example, that no perturbation within ``eps`` changes the prediction from ``y``.

    Parameters
    ----------
    estimator : fitted classifier
        A robustsk estimator (or one a method accepts: a scikit-learn linear
        classifier for ``"ibp"``, a ``RandomizedSmoothingClassifier`` for
        ``"smoothing"``).
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
        True labels.
    eps : float
        Radius of the ball, >= 0, in the units of ``X``.
    norm : {"inf", 2} or None, default=None
        None: the method's only norm if it has one (2 for smoothing), else the
        estimator's ``norm``, else "inf". (RUB's L1 ball, which the other
        methods lack, is :func:`robustsk.certify.rub.certify_rub` with
        ``norm=1``.)
    method : str or None, default=None
        A name in :data:`robustsk.certify.METHODS` (``"ibp"``, ``"smoothing"``,
        ...); None uses :func:`default_method`.
    **method_params
        Passed to the method (e.g. ``batch_size`` and the input box
        ``clip_min``, ``clip_max`` for ``"ibp"``, default the estimator's own;
        ``n``, ``n0``, ``alpha``, ``random_state`` for ``"smoothing"``).

    Returns
    -------
    CertificationResult

    References
    ----------
    .. [1] Gowal, S. et al. "On the Effectiveness of Interval Bound Propagation
       for Training Verifiably Robust Models." arXiv:1810.12715, 2018.
    .. [2] Cohen, J., Rosenfeld, E. and Kolter, J. Z. "Certified Adversarial
       Robustness via Randomized Smoothing." ICML, 2019.

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import StandardTraining
    >>> from robustsk.certify import certify
    >>> X, y = load_digits_images(return_X_y=True)
    >>> X = X.reshape(len(X), -1)                   # flat features: an MLP
    >>> clf = StandardTraining(max_epochs=5, lr=0.01, clip_min=0, clip_max=1, random_state=0,
    ...                        module__hidden_units=(32,)).fit(X[:300], y[:300])
    >>> res = certify(clf, X[300:400], y[300:400], eps=0.01)
    >>> res.method, res.norm, 0 < res.certified_accuracy <= clf.score(X[300:400], y[300:400])
    ('ibp', 'inf', True)
    """
    method = _check_method(default_method(estimator) if method is None else method)
    supported = METHOD_NORMS.get(method)
    if norm is None:
        norm = supported[0] if supported and len(supported) == 1 else \
            getattr(estimator, "norm", None) or "inf"
    eps, norm, _ = check_threat(eps, norm)
    if supported is not None and norm not in supported:
        shown = " or ".join("'inf'" if s == "inf" else "2" for s in supported)
        raise ValueError(f"norm={norm!r} is not supported by method={method!r}: it certifies "
                         f"norm={shown} balls only. Pass one of those, or another method.")
    if y is None:
        raise ValueError("certify needs the true labels y: a certificate proves that the "
                         "prediction is y at every point of the ball.")
    if isinstance(estimator, BaseEstimator):
        check_is_fitted(estimator)
    _check_method_params(method, method_params)
    classes = getattr(estimator, "classes_", None)
    if classes is not None:
        check_labels_known(y, classes, who=type(estimator).__name__)
    start = time.perf_counter()
    certified, radius = METHODS[method](estimator, X, y, eps, norm=norm, **method_params)
    seconds = time.perf_counter() - start
    certified = np.asarray(certified, dtype=bool)
    if certified.ndim != 1 or len(certified) != len(y):
        raise RuntimeError(f"method {method!r} returned {certified.shape} certificates for "
                           f"{len(y)} examples: expected one per example.")
    return CertificationResult(
        certified=certified, radius=None if radius is None else np.asarray(radius, dtype=float),
        certified_accuracy=float(certified.mean()) if len(certified) else float("nan"),
        interval=accuracy_interval(certified, method="wilson"), method=method, norm=norm,
        eps=eps, params=MappingProxyType(dict(method_params)), seconds=seconds)
