"""Input and parameter validation for robustsk estimators.

Every error names what was received, what was expected and what to do.
"""
import numbers

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d

from .attacks import check_positive_int, check_threat

__all__ = ["check_X", "check_y", "check_box", "check_threat_params", "check_in_box"]


def check_X(X, name="X"):
    """Validate ``X`` (2-d table or n-d array of examples) as finite float32."""
    try:
        return check_array(X, allow_nd=True, dtype=np.float32, ensure_all_finite=True,
                           ensure_min_samples=1, ensure_min_features=1, input_name=name)
    except ValueError as err:
        msg = str(err)
        if "NaN" in msg or "infinity" in msg:
            msg += (" robustsk estimators need finite inputs: impute missing values "
                    "(e.g. sklearn.impute.SimpleImputer in a Pipeline) or drop those rows.")
        raise ValueError(msg) from None


def check_y(y, n_samples):
    """Validate classification targets: 1-d, discrete, of length ``n_samples``."""
    if y is None:
        raise ValueError("This estimator requires y to be passed, but the target y is None: "
                         "robustsk estimators are supervised classifiers; pass the labels y.")
    y = column_or_1d(y, warn=True)
    if len(y) != n_samples:
        raise ValueError(
            f"X has {n_samples} samples but y has {len(y)}: give one label per example.")
    check_classification_targets(y)
    if type_of_target(y) not in ("binary", "multiclass"):
        raise ValueError(f"y of type {type_of_target(y)!r} is not supported: expected binary "
                         "or multiclass labels.")
    return y


def check_box(clip_min, clip_max, input_shape):
    """Validate the input domain: None, scalars or arrays broadcastable to one example."""
    bounds = []
    for name, v in (("clip_min", clip_min), ("clip_max", clip_max)):
        if v is None:
            bounds.append(None)
            continue
        arr = np.asarray(v, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} has non-finite values: use None for an unbounded side.")
        try:
            np.broadcast_to(arr, input_shape)
        except ValueError:
            raise ValueError(
                f"{name} of shape {arr.shape} does not broadcast to one example's shape "
                f"{tuple(input_shape)}: give a scalar or an array of that shape.") from None
        bounds.append(arr)
    lo, hi = bounds
    if lo is not None and hi is not None and np.any(lo > hi):
        raise ValueError(f"clip_min exceeds clip_max somewhere: the box is empty. Got "
                         f"clip_min={clip_min!r}, clip_max={clip_max!r}.")
    return lo, hi


def check_in_box(X, clip_min, clip_max, tol=1e-6):
    """Raise if ``X`` (``(n, *shape)``) lies outside the box the user gave."""
    for name, bound, bad in (("clip_min", clip_min, lambda a, b: a < b - tol),
                             ("clip_max", clip_max, lambda a, b: a > b + tol)):
        if bound is None:
            continue
        if np.any(bad(X, bound)):
            lo_hi = f"[{X.min():.4g}, {X.max():.4g}]"
            raise ValueError(
                f"X has values outside the box given by {name}={np.asarray(bound).tolist() if np.size(bound) < 5 else '...'}: "
                f"the data range is {lo_hi}. Rescale X into the box (e.g. "
                "sklearn.preprocessing.MinMaxScaler, or X / 255 for 8-bit images), or set "
                "clip_min/clip_max to the true input domain (None for unbounded)."
            )


def check_threat_params(est):
    """Validate an estimator's flat threat-model parameters before training."""
    check_threat(est.eps, est.norm, est.step_size)
    check_positive_int(est.n_iter, "n_iter", 0)
    rs = est.random_state
    if rs is not None and not isinstance(rs, (numbers.Integral, np.random.RandomState,
                                              np.random.Generator)):
        raise ValueError(f"random_state={rs!r}: expected None, an int or a numpy RandomState.")
