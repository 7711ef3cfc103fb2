"""Validation of threat-model arguments shared by the torch attack functions."""
import numbers

import numpy as np
import torch

from ._primitives import check_norm

__all__ = ["check_threat", "check_positive_int", "check_labels"]


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


def check_labels(y, x, name="y"):
    """``y`` as a LongTensor of one class index per row of ``x`` (None passes), or
    ``ValueError``/``TypeError`` saying what was received; no values are read (no
    host-device synchronisation)."""
    if y is None:
        return None
    if not torch.is_tensor(y):
        raise TypeError(f"{name} is a {type(y).__name__}: expected a tensor of class indices "
                        f"(torch.as_tensor({name})).")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"{name} has shape {tuple(y.shape)} for {len(x)} examples: expected "
                         f"one class index per example, shape ({len(x)},).")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"{name} has dtype {y.dtype}: expected integer class indices "
                        f"({name}.long()).")
    return y if y.dtype == torch.long else y.long()
