"""Validation of threat-model arguments shared by the torch attack functions."""
import numbers

import numpy as np

from ._primitives import check_norm

__all__ = ["check_threat", "check_positive_int"]


def _check_scalar_nonneg(value, name, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name}={value!r} is not a finite number: expected {what}.")
    if value < 0:
        raise ValueError(f"{name}={value!r} is negative: expected {what}. "
                         f"Pass a {name} >= 0.")
    return float(value)


def check_threat(eps, norm, step_size=None, default_step=0.25):
    """Validate ``eps``, ``norm`` and ``step_size``; fill the default step.

    Returns
    -------
    eps : float
    norm : {"inf", "2"}
    step_size : float
        ``default_step * eps`` when ``step_size`` is None.
    """
    if eps is None:
        raise ValueError("eps is None: give the radius of the threat model, e.g. eps=0.1.")
    eps = _check_scalar_nonneg(eps, "eps", "a radius >= 0 in the units of the input")
    norm = check_norm(norm)
    if step_size is None:
        step_size = default_step * eps
    step_size = _check_scalar_nonneg(step_size, "step_size", "a step size >= 0")
    return eps, norm, step_size


def check_positive_int(value, name, minimum=1):
    """Validate an integer count such as ``n_iter`` or ``n_restarts``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral,)) or value < minimum:
        raise ValueError(f"{name}={value!r}: expected an integer >= {minimum}.")
    return int(value)
