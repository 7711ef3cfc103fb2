"""Save and load fitted models without pickle: ``robustsk.io.save`` / ``robustsk.io.load``.

:func:`save` writes any robustsk estimator (every defense,
:class:`~robustsk.defenses.RandomizedSmoothingClassifier`, ensembles, fitted
or not), and scikit-learn objects that hold them (a ``Pipeline`` with a
scaler, a ``FrozenEstimator``), to one file: weights and arrays with
safetensors, parameters, classes and history as JSON, other scikit-learn
objects in skops' secure format, under a SHA-256 checksum, with the versions
of robustsk, torch, skorch and scikit-learn that wrote it. :func:`load` never
runs code from the file: classes and functions named in it (a module class, a
criterion) are imported only from :data:`DEFAULT_TRUSTED` (robustsk, torch's
modules, optimizers and in-memory data classes, skorch's datasets and its
callbacks that touch no file; functions only from ``torch.nn.functional``,
``torch.nn.init`` and robustsk's computations) and what you pass as
``trusted=``. A truncated or changed file, a file from a newer format
or another major version of robustsk, and a pickle are refused with a
:class:`ModelFileError` (a ``ValueError``) that says what to do.

**Pickle is for trusted files only.** ``pickle`` and ``joblib`` keep working
on robustsk estimators (scikit-learn relies on them: ``clone``,
``GridSearchCV(n_jobs=...)``), but unpickling a file runs any code its author
put in it. Exchange models as :func:`save` files.

Examples
--------
>>> import os, tempfile
>>> from robustsk.datasets import load_digits_images
>>> from robustsk.defenses import TRADES
>>> from robustsk import io as rio
>>> X, y = load_digits_images(return_X_y=True)
>>> clf = TRADES(max_epochs=1, n_iter=2, random_state=0).fit(X[:100], y[:100])
>>> path = os.path.join(tempfile.mkdtemp(), "trades.rsk")
>>> rio.save(clf, path)
>>> back = rio.load(path)
>>> bool((back.predict_proba(X[:20]) == clf.predict_proba(X[:20])).all())
True
"""
from pathlib import Path

from .container import FORMAT_VERSION, pack, sniff, unpack
from .encoding import EstimatorRef, Reader, Writer, load_skops
from .errors import (
    CorruptFileError,
    IncompatibleFileError,
    ModelFileError,
    PickleFileError,
    UnsafeFileError,
)
from .trust import DEFAULT_TRUSTED, trusted_prefixes

__all__ = ["save", "load", "dumps", "loads", "ModelFileError", "CorruptFileError",
           "UnsafeFileError", "PickleFileError", "IncompatibleFileError", "FORMAT_VERSION",
           "DEFAULT_TRUSTED", "EstimatorRef", "versions"]

_SPEC_KEY = "robustsk.spec"


def versions():
    """The versions a file records: robustsk, torch, skorch, scikit-learn, numpy, safetensors."""
    import numpy
    import safetensors
    import sklearn
    import skorch
    import torch

    from .. import __version__
    return {"robustsk": __version__, "torch": torch.__version__, "skorch": skorch.__version__,
            "sklearn": sklearn.__version__, "numpy": numpy.__version__,
            "safetensors": safetensors.__version__}


def dumps(obj):
    """The bytes :func:`save` would write for ``obj``.

    Parameters
    ----------
    obj : estimator
        A robustsk estimator, or a scikit-learn object holding some.

    Returns
    -------
    bytes
    """
    import json

    from safetensors.torch import save as save_tensors
    writer = Writer()
    spec = writer.value(obj, type(obj).__name__)
    payload = save_tensors(writer.tensors, metadata={_SPEC_KEY: json.dumps(spec)})
    return pack({"format": FORMAT_VERSION, "class": type(obj).__name__, **versions()}, payload)


def save(obj, path):
    """Save ``obj`` to ``path`` in robustsk's safe format (see the module docstring).

    The file is written to a temporary name and renamed, so an interrupted
    save never leaves a broken file in place of a good one.

    Parameters
    ----------
    obj : estimator
        A robustsk estimator (fitted or not), or a scikit-learn object holding
        some (a ``Pipeline``).
    path : str or path-like

    Raises
    ------
    TypeError
        If ``obj`` holds something that cannot be saved without pickle (a
        lambda, a module with hooks); the message names it.
    """
    import os
    data = dumps(obj)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def loads(data, *, trusted=None, device=None):
    """Load an object from the bytes of a :func:`save` file (or of a skops file).

    Parameters
    ----------
    data : bytes
    trusted : list of str, modules, classes or functions, default=None
        Further import-path prefixes to trust (e.g. ``["mypackage.nets"]``
        for a module class of your own), besides :data:`DEFAULT_TRUSTED`
        (see :mod:`robustsk.io.trust` for what it holds and why).
    device : str, default=None
        Overrides the saved estimators' ``device`` (e.g. "cpu" for a model
        saved on a GPU; without CUDA such a model is loaded on the CPU with a
        warning).

    Returns
    -------
    The saved object, fitted as it was saved.

    Raises
    ------
    CorruptFileError
        Truncated, changed after it was written, or not a model file.
    UnsafeFileError
        A class or type that is not trusted; :class:`PickleFileError` (a
        subclass) for a pickle, joblib or ``torch.save`` file.
    IncompatibleFileError
        A newer file format or another major version of robustsk.
    """
    import json

    from safetensors import SafetensorError
    from safetensors.torch import load as load_tensors
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes; got {type(data).__name__}. To load a file, use "
                        "robustsk.io.load(path).")
    data = bytes(data)
    _check_device(device)
    prefixes = trusted_prefixes(trusted)
    if sniff(data) == "skops":
        return load_skops(data, prefixes)
    header, payload = unpack(data)
    try:
        tensors = load_tensors(payload)
        metadata = _metadata(payload)
        spec = json.loads(metadata[_SPEC_KEY])
    except (SafetensorError, KeyError, ValueError, TypeError, RecursionError) as exc:
        raise CorruptFileError(f"the file's payload is not a valid robustsk model ({exc}), "
                               "although its checksum matches: it was not written by "
                               "robustsk.io.save.") from None
    try:
        return Reader(tensors, prefixes, device=device).value(spec)
    except ModelFileError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError,
            OverflowError, RuntimeError) as exc:  # RuntimeError: torch refusing a device name
        raise CorruptFileError(f"the model cannot be rebuilt from the file ({type(exc).__name__}: "
                               f"{exc}); it was written by another robustsk, or by hand.") \
            from None


def _check_device(device):
    """Refuse, before reading anything, a device this machine cannot hold."""
    if device is None:
        return
    import torch
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device ({exc}): expected e.g. "
                         "'cpu' or 'cuda', or None for the saved device.") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}, but CUDA is not available on this machine: "
                         "load with device='cpu' (or device=None: a model saved on a GPU then "
                         "loads on the CPU with a warning).")


def _metadata(payload):
    """The JSON metadata of a safetensors buffer (its header's ``__metadata__``)."""
    import json
    import struct
    (size,) = struct.unpack("<Q", payload[:8])
    return json.loads(payload[8:8 + size])["__metadata__"]


def load(path, *, trusted=None, device=None):
    """Load an object saved with :func:`save` (or ``skops.io.dump``) without running its code.

    Parameters
    ----------
    path : str or path-like
    trusted, device
        As in :func:`loads`.

    Returns
    -------
    The saved object.

    Raises
    ------
    FileNotFoundError
    CorruptFileError, UnsafeFileError, IncompatibleFileError
        As in :func:`loads`; the message starts with the path.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        return loads(data, trusted=trusted, device=device)
    except UnsafeFileError as exc:
        raise type(exc)(f"{path}: {exc}", exc.untrusted) from None
    except ModelFileError as exc:
        raise type(exc)(f"{path}: {exc}") from None
