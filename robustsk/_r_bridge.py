"""The Python side of the R wrappers in ``r_compat/R/python.R`` (reticulate).

Every function here takes and returns plain Python objects only: flat lists
of numbers, shapes as lists of int, labels as lists of str or numbers, dicts
of such lists. Arrays are built and taken apart on this side, so the R side
never converts an array through reticulate. That is deliberate: reticulate
1.28 (Debian bookworm) was built against NumPy 1 and fails on NumPy 2 with
"incompatible NumPy binary version" for any matrix or array, and returns
pandas frames unconverted; plain lists and dicts convert with every
reticulate version.

reticulate turns an R vector of length one into a scalar, and R doubles into
Python floats; the helpers below accept scalars where lists are expected and
turn whole-number floats back into int for integer parameters.

Not public API: the R package is the public face. Names may change.
"""
import numbers
import sys

import numpy as np

__all__ = ["DEFENSES", "ATTACKS", "as_array", "load_digits", "fit", "predict", "predict_proba",
           "score_adversarial", "describe", "set_num_threads", "dumps", "loads"]

#: defense names the R side accepts (case-insensitive), mapped to classes lazily
DEFENSES = ("StandardTraining", "AdversarialTraining", "TRADES", "FriendlyAdversarialTraining",
            "FastAdversarialTraining")
#: attack names the R side accepts
ATTACKS = ("pgd", "fgsm", "apgd", "rfgsm", "default")

if "rpy2.rinterface" in sys.modules:
    # reticulate is importing this module into a Python that runs R through rpy2: without
    # the guard, rpy2's exit handler ends R, whose reticulate finalizers then call Python
    # without the GIL ("Fatal Python error: PyThreadState_Get", exit status 134).
    from .r_exit import guard_r_exit

    guard_r_exit()

_INT_PARAMS = {"max_epochs", "batch_size", "n_iter", "n_restarts", "random_state", "verbose"}


def _as_list(value):
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, np.ndarray):
        return value.ravel().tolist()
    return [value]


def as_array(data, shape, dtype=np.float32):
    """A C-order array of ``shape`` from flat ``data`` (R sends ``as.numeric(t(x))``)."""
    flat = np.asarray(_as_list(data), dtype=np.float64)
    shape = tuple(int(s) for s in _as_list(shape))
    if flat.size != int(np.prod(shape)):
        raise ValueError(f"got {flat.size} values for an array of shape {shape} "
                         f"({int(np.prod(shape))} values): check x and image_shape.")
    return flat.reshape(shape).astype(dtype)


def _labels(labels):
    y = _as_list(labels)
    if all(isinstance(v, str) for v in y):
        return np.asarray(y, dtype=object)
    if all(isinstance(v, numbers.Integral) or (isinstance(v, float) and float(v).is_integer())
           for v in y):
        return np.asarray(y, dtype=np.int64)
    return np.asarray(y)


def _plain(values):
    """A numpy vector as a list of Python scalars (str, float, bool). Integers travel as
    floats (exact up to 2**53): R's integers have 32 bits, and reticulate 1.28 wraps a
    larger Python int (3e9 arrived as -1294967296); R casts them back."""
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        values = values.astype(np.float64)
    return values.tolist()


def _coerce(params, defaults):
    out = {}
    for key, value in dict(params or {}).items():
        default = defaults.get(key)
        wants_int = key in _INT_PARAMS or (isinstance(default, numbers.Integral)
                                          and not isinstance(default, bool))
        if wants_int and isinstance(value, float) and value.is_integer():
            value = int(value)
        out[key] = value
    return out


def _defense_class(name):
    from . import defenses
    lookup = {d.lower(): d for d in DEFENSES}
    key = str(name).lower()
    aliases = {"madry": "adversarialtraining", "pgd-at": "adversarialtraining",
               "standard": "standardtraining", "fat": "friendlyadversarialtraining",
               "fast": "fastadversarialtraining"}
    key = aliases.get(key, key)
    if key not in lookup:
        raise ValueError(f"defense={name!r} is not a robustsk defense; expected one of "
                         f"{', '.join(DEFENSES)}.")
    return getattr(defenses, lookup[key])


def set_num_threads(n):
    """Limit torch's intra-op threads (``torch.set_num_threads``); returns the new value."""
    import torch
    torch.set_num_threads(int(n))
    return torch.get_num_threads()


def load_digits(n_class=10):
    """scikit-learn's digits as ``{"data": flat list, "shape": [n, 64], "target": list}``.

    Pixels are in [0, 1] (grey level / 16); row-major, one row per image.
    """
    from .datasets import load_digits_images
    X, y = load_digits_images(return_X_y=True, n_class=int(n_class))
    X = X.reshape(len(X), -1)
    return {"data": X.ravel().astype(np.float64).tolist(), "shape": list(X.shape),
            "target": _plain(y)}


def fit(defense, data, shape, labels, params=None):
    """Fit a robustsk defense on ``as_array(data, shape)`` and ``labels``; returns it."""
    cls = _defense_class(defense)
    est = cls()
    est.set_params(**_coerce(params, est.get_params(deep=False)))
    return est.fit(as_array(data, shape), _labels(labels))


def predict(model, data, shape):
    """Predicted labels as a list (of the type the labels given to ``fit`` had)."""
    return _plain(model.predict(as_array(data, shape)))


def predict_proba(model, data, shape):
    """``{"data": flat row-major probabilities, "shape": [n, k], "classes": list}``."""
    proba = model.predict_proba(as_array(data, shape)).astype(np.float64)
    return {"data": proba.ravel().tolist(), "shape": list(proba.shape),
            "classes": _plain(model.classes_)}


def _attack(name, eps, params, n_classes=None):
    from . import attacks
    key = str(name).lower()
    if key not in ATTACKS:
        raise ValueError(f"attack={name!r} is not known; expected one of {', '.join(ATTACKS)}.")
    if key == "default":
        attack = attacks.default_attack(n_classes)
        if eps is not None:
            attack.set_params(eps=float(eps))
        if params:
            raise ValueError("attack='default' takes no parameters besides eps; name the attack "
                             "('pgd', 'apgd', ...) to set them.")
        return attack
    cls = {"pgd": attacks.PGD, "fgsm": attacks.FGSM, "apgd": attacks.APGD,
           "rfgsm": attacks.RFGSM}[key]
    attack = cls()
    attack.set_params(**_coerce(params, attack.get_params(deep=False)))
    if eps is not None:
        attack.set_params(eps=float(eps))
    return attack


def score_adversarial(model, data, shape, labels, attack="pgd", eps=None, params=None):
    """Per-example outcomes of ``attack`` at each radius in ``eps``.

    Returns a dict of equal-length lists, the tidy layout of
    :mod:`robustsk.stats`: ``example_id`` (0-based row of ``x``), ``eps``,
    ``attack``, ``clean_correct``, ``correct`` (correct under attack; an
    example misclassified without attack counts as incorrect), ``adv_pred``.
    ``eps=None`` uses the model's own ``eps``.
    """
    X = as_array(data, shape)
    y = _labels(labels)
    clean_correct = model.predict(X) == y
    radii = [None] if eps is None else [float(e) for e in _as_list(eps)]
    out = {k: [] for k in ("example_id", "eps", "attack", "clean_correct", "correct", "adv_pred")}
    for r in radii:
        att = _attack(attack, r, params, len(getattr(model, "classes_", ())) or None)
        adv_pred = model.predict(att.generate(model, X, y))
        radius = float(model.eps) if r is None else r
        out["example_id"] += list(range(len(y)))
        out["eps"] += [radius] * len(y)
        out["attack"] += [str(attack).lower()] * len(y)
        out["clean_correct"] += _plain(clean_correct)
        out["correct"] += _plain(clean_correct & (adv_pred == y))
        out["adv_pred"] += _plain(adv_pred)
    return out


def describe(model):
    """A few fitted facts for R's ``print``: class, classes, input shape, params."""
    params = {k: v for k, v in model.get_params(deep=False).items()
              if isinstance(v, (numbers.Number, str, type(None))) and not k.startswith("_")}
    fitted = model.__sklearn_is_fitted__()
    return {"defense": type(model).__name__,
            "classes": _plain(model.classes_) if fitted else [],
            "input_shape": list(model.input_shape_) if fitted else [],
            "epochs": len(model.history_) if fitted else 0,
            "params": params}


def dumps(model):
    """The model in robustsk's safe format (:func:`robustsk.io.dumps`), as a bytearray.

    reticulate gives a bytearray to R as a raw vector (bytes stay a Python
    object), so an ``rsk_model`` can keep it and survive ``saveRDS``.
    """
    from . import io
    return bytearray(io.dumps(model))


def loads(data):
    """The model back from :func:`dumps`'s bytes (an R raw vector arrives as a bytearray)."""
    from . import io
    return io.loads(bytes(data))
