"""Validation shared by the poisoning attacks."""
import numbers

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import check_consistent_length, column_or_1d

__all__ = ["check_training_set", "check_fraction"]


def check_training_set(X, y):
    """``X`` as a finite float array (n-d allowed) and ``y`` as a 1-d array of equal length."""
    X = check_array(X, allow_nd=True, dtype=[np.float64, np.float32], input_name="X")
    y = column_or_1d(y)
    check_consistent_length(X, y)
    return X, y


def check_fraction(fraction, name="fraction"):
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) \
            or not 0.0 <= fraction <= 1.0:
        raise ValueError(f"{name}={fraction!r}: expected a number in [0, 1].")
    return float(fraction)
