"""Validation shared by the poisoning attacks."""
import numbers
import warnings

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import check_consistent_length, column_or_1d

__all__ = ["check_training_set", "check_fraction", "check_number", "capped_count"]


def check_training_set(X, y):
    """``X`` as a finite numeric array (n-d allowed; its own dtype kept, an object array
    becomes float64) and ``y`` as a 1-d array of equal length."""
    X = check_array(X, allow_nd=True, dtype="numeric", input_name="X")
    y = column_or_1d(y)
    check_consistent_length(X, y)
    return X, y


def check_fraction(fraction, name="fraction"):
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) \
            or not 0.0 <= fraction <= 1.0:
        raise ValueError(f"{name}={fraction!r}: expected a number in [0, 1].")
    return float(fraction)


def check_number(value, name, *, positive, what):
    """``value`` as a float, refused unless a finite real number ``> 0`` (``positive``)
    or ``>= 0``; ``what`` says what it is, for the message."""
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) \
        and np.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        raise ValueError(f"{name}={value!r}: expected a finite number "
                         f"{'> 0' if positive else '>= 0'}, {what}.")
    return float(value)


def capped_count(wanted, n_eligible, n_total, *, who, fraction, target_class, what):
    """``wanted``, or the ``n_eligible`` examples not of ``target_class`` with a warning."""
    if wanted <= n_eligible:
        return wanted
    warnings.warn(
        f"{who}(fraction={fraction}) asks for {wanted} {what} of the {n_total} examples, but "
        f"only {n_eligible} are not already labelled target_class={target_class!r}: taking "
        f"those {n_eligible}. Lower fraction to at most {n_eligible / n_total:.3g} to "
        "silence this.", UserWarning, stacklevel=3)
    return n_eligible
