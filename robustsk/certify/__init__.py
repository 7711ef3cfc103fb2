"""Certified robustness: proofs that no perturbation within ``eps`` changes a prediction.

An attack shows that a model is *not* robust at a point; a certificate proves
that it *is*. :func:`certify` is the one entry point::

    certify(estimator, X, y, eps, *, norm=None, method=None, **method_params)

returns a :class:`CertificationResult` (per-example ``certified``, the
certified ``radius`` where the method gives one, ``certified_accuracy`` with
a Wilson interval, the method and its parameters). Methods are registered
by name in :data:`METHODS` (:mod:`robustsk.certify.methods`):

``"ibp"``
    Interval bound propagation (Gowal et al., 2018) for any feed-forward ReLU
    network (:mod:`robustsk.certify.ibp`), Linf and L2; the default for
    every robustsk network.
``"smoothing"``
    Randomized smoothing (Cohen et al., 2019) of
    :class:`~robustsk.defenses.RandomizedSmoothingClassifier`, L2; its
    default (``certification_method = "smoothing"``).
``"sdp_dual"``, ``"sdp_exact"``
    The SDP certificate of a one-hidden-layer ReLU network (Raghunathan et
    al., 2018; :mod:`robustsk.certify.sdp`): the differentiable dual bound
    used in training (the default of
    :class:`~robustsk.defenses.SDPCertifiedNetwork`), or the SDP solved
    exactly by cvxpy (the ``certify`` extra); Linf.
``"rub"``
    The exact robust upper bound of a one-hidden-layer ReLU network
    (Bertsimas et al.; :mod:`robustsk.certify.rub`), the default of
    :class:`~robustsk.defenses.RobustUpperBoundTraining`; Linf and L2.

An estimator names its default method in a ``certification_method`` class
attribute (:func:`default_method`).
"""
from .core import CertificationResult, certify, default_method
from .ibp import SUPPORTED_LAYERS, interval_bounds, margin_lower_bounds, network_layers
from .methods import METHOD_NORMS, METHODS, certify_ibp, certify_smoothing, register_method

__all__ = ["certify", "CertificationResult", "default_method", "METHODS", "METHOD_NORMS",
           "register_method", "certify_ibp", "certify_smoothing", "interval_bounds",
           "margin_lower_bounds", "network_layers", "SUPPORTED_LAYERS"]
