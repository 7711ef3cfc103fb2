"""Input and parameter validation for robustsk estimators.

Every error names what was received, what was expected and what to do.
"""
import numbers

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d
import torch

from .attacks import check_box_order, check_positive_int, check_threat

__all__ = ["check_X", "one_d_error", "check_y", "check_score_y", "check_label_kind",
           "check_box", "check_threat_params", "check_in_box", "check_device",
           "check_labels_known"]


def check_device(device, name="device"):
    """Validate a torch device before any work: it must parse and exist on this machine.

    Parameters
    ----------
    device : str, torch.device or None
        None leaves tensors where they are (skorch's meaning).
    name : str, default="device"
        The parameter's name in the error message.

    Returns
    -------
    device : the value given

    Raises
    ------
    ValueError
        For a string torch does not parse (``"nonsense"``), ``"cuda"`` when
        this torch has no CUDA or the machine no GPU, or a GPU index beyond
        the GPUs present.
    """
    if device is None:
        return device
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"{name}={device!r} (type {type(device).__name__}): expected a string "
                        "such as 'cpu' or 'cuda:0', a torch.device, or None.")
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(f"{name}={device!r} is not a torch device: expected 'cpu', 'cuda', "
                         "'cuda:0', ... (or None).") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{name}={device!r}, but CUDA is not available here (this torch "
                             "has no CUDA or the machine no GPU): use device='cpu'.")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(f"{name}={device!r}, but this machine has "
                             f"{torch.cuda.device_count()} GPU(s): use an index below that.")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{name}={device!r}, but MPS is not available here: use device='cpu'.")
    elif parsed.type == "meta":  # shapes only: training and predictions need values
        raise ValueError(f"{name}={device!r} holds no data (torch's meta device computes "
                         "shapes only): use device='cpu' or 'cuda'.")
    return device


def check_labels_known(y, classes, who="the estimator"):
    """Raise ``ValueError`` if ``y`` holds labels outside ``classes`` (before any work).

    A label the model was never fitted on can never be predicted, so counting
    it as a failure would silently lower every accuracy.
    """
    y = np.asarray(y)
    classes = np.asarray(classes)
    try:
        unknown = ~np.isin(y, classes)
    except TypeError:  # incomparable types (e.g. str labels vs int classes)
        unknown = np.ones(len(y), bool)
    if unknown.any():
        raise ValueError(
            f"y contains labels {np.unique(y[unknown].astype(str))[:10].tolist()} that are not "
            f"among the classes {classes.tolist()[:20]} {who} was fitted on: pass y in the "
            "estimator's label space (the labels given to fit).")


def one_d_error(X, name="X"):
    """The ``ValueError`` for a 1-d ``X``: its shape and the two reshapes that fix it."""
    return ValueError(
        f"{name} is 1-d, of shape {np.shape(X)}: expected one example per row, an array "
        "of shape (n_samples, n_features) or (n_samples, C, H, W). Reshape your data: "
        f"one example as {name}[None] (or {name}.reshape(1, -1)), a single feature as "
        f"{name}.reshape(-1, 1).")


def check_X(X, name="X"):
    """Validate ``X`` (2-d table or n-d array of examples) as finite float32."""
    if X is None:
        raise ValueError(f"{name} is None: expected an array of shape (n_samples, n_features) "
                         "or (n_samples, C, H, W).")
    try:
        return check_array(X, allow_nd=True, dtype=np.float32, ensure_all_finite=True,
                           ensure_min_samples=1, ensure_min_features=1, input_name=name)
    except (ValueError, TypeError) as err:
        msg = str(err).strip()
        if "got 1D array" in msg:  # scikit-learn's message prints the whole array
            raise one_d_error(X, name) from None
        if "NaN" in msg or "infinity" in msg:
            msg += (" robustsk estimators need finite inputs: impute missing values "
                    "(e.g. sklearn.impute.SimpleImputer in a Pipeline) or drop those rows.")
        elif "xpected" not in msg and "required" not in msg:
            dtype = getattr(X, "dtype", None)
            got = f"{type(X).__name__}" + (f" of dtype {dtype}" if dtype is not None else "")
            msg = (f"{name}: {msg.splitlines()[0].rstrip('.')}. Got {got}; expected real numbers (float, "
                   "int or bool) in an array of shape (n_samples, n_features) or "
                   "(n_samples, C, H, W).")
        raise type(err)(msg) from None


def check_y(y, n_samples):
    """Validate classification targets: 1-d, discrete, of length ``n_samples``."""
    if y is None:
        raise ValueError("This estimator requires y to be passed, but the target y is None: "
                         "robustsk estimators are supervised classifiers; pass the labels y.")
    try:
        y = column_or_1d(y, warn=True)
        if len(y) != n_samples:
            raise ValueError(
                f"X has {n_samples} samples but y has {len(y)}: give one label per example.")
        _check_sortable(y)
        check_classification_targets(y)
    except ValueError as err:
        msg = str(err)
        if "expected" not in msg and "give one label" not in msg:
            msg += (" Expected y: one finite class label (int, str or bool) per example, of "
                    "shape (n_samples,).")
        raise ValueError(msg) from None
    if type_of_target(y) not in ("binary", "multiclass"):
        raise ValueError(f"y of type {type_of_target(y)!r} is not supported: expected binary "
                         "or multiclass labels.")
    return y


def check_label_kind(y, classes, who):
    """Refuse string labels for a model fitted on numbers, and the reverse (scikit-learn
    reports only "Mix of label input types" after predicting)."""
    y, classes = np.asarray(y), np.asarray(classes)
    y_text, fit_text = (a.dtype.kind in "OU" and any(isinstance(v, str) for v in a.ravel()[:1000])
                        for a in (y, classes))
    if y_text != fit_text:
        kinds = ("string", "numeric")
        got, expected = kinds[not y_text], kinds[not fit_text]
        raise ValueError(
            f"y holds {got} labels ({np.unique(y)[:10].tolist()}) but the classes of {who} "
            f"are {expected} ({classes.tolist()[:20]}): give y with labels of the type "
            f"used in fit (e.g. y.astype({'str' if fit_text else 'int'})).")


def check_score_y(estimator, X, y):
    """``y`` of ``score(X, y)``, checked before any prediction: one discrete label per
    row of ``X`` (when ``X`` has a length), of the type of ``estimator.classes_``."""
    if hasattr(X, "__len__"):
        y = check_y(y, len(X))
    check_label_kind(y, estimator.classes_, type(estimator).__name__)
    return y


def _check_sortable(y):
    try:
        np.unique(y)
    except TypeError:  # labels that cannot be ordered: numbers beside strings, say
        kinds = sorted({type(v).__name__ for v in y})
        raise ValueError(f"y mixes labels of the types {kinds}, which cannot be sorted into "
                         "classes: expected labels of one type. Convert them first, e.g. "
                         "y.astype(str).") from None


def check_box(clip_min, clip_max, input_shape):
    """Validate the input domain: None, scalars or arrays broadcastable to one example."""
    bounds = []
    for name, v in (("clip_min", clip_min), ("clip_max", clip_max)):
        if v is None:
            bounds.append(None)
            continue
        raw = np.asarray(v)
        if raw.dtype.kind not in "iuf":
            raise TypeError(f"{name}={v!r} (dtype {raw.dtype}): expected None, a number or an "
                            "array of numbers of one example's shape.")
        arr = raw.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} has non-finite values: use None for an unbounded side.")
        try:
            np.broadcast_to(arr, input_shape)
        except ValueError:
            raise ValueError(
                f"{name} of shape {arr.shape} does not broadcast to one example's shape "
                f"{tuple(input_shape)}: give a scalar or an array of that shape.") from None
        bounds.append(arr)
    check_box_order(clip_min, clip_max)
    return tuple(bounds)


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
