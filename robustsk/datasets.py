"""Data sets that need no download: scikit-learn's digits and Debian's Fashion-MNIST.

Images come as float32 arrays of shape ``(n, 1, H, W)`` scaled to [0, 1]; use
``clip_min=0, clip_max=1`` on estimators and attacks for them.
"""
import gzip
import numbers
import os
import struct

import numpy as np
from sklearn.datasets import load_digits
from sklearn.utils import Bunch

__all__ = ["load_digits_images", "load_fashion_mnist", "FASHION_MNIST_DIRS",
           "FASHION_MNIST_CLASSES"]

#: Folders searched for Fashion-MNIST's IDX files, in order (after ``path`` and
#: the ``ROBUSTSK_FASHION_MNIST`` environment variable).
FASHION_MNIST_DIRS = ("/usr/share/datasets/fashion-mnist",)

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")


def load_digits_images(*, return_X_y=False, n_class=10):
    """scikit-learn's 8x8 handwritten digits as images in [0, 1].

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.
    n_class : int, default=10
        Number of classes (digits ``0 .. n_class - 1``), as in
        :func:`sklearn.datasets.load_digits`.

    Returns
    -------
    data : Bunch with ``data`` (float32 of shape (n, 1, 8, 8) in [0, 1]),
        ``target`` (int64 of shape (n,)), ``target_names``, ``DESCR``;
        or ``(X, y)`` when ``return_X_y``.

    Examples
    --------
    >>> X, y = load_digits_images(return_X_y=True)
    >>> X.shape, X.dtype, float(X.min()), float(X.max())
    ((1797, 1, 8, 8), dtype('float32'), 0.0, 1.0)
    """
    raw = load_digits(n_class=n_class)
    X = (raw.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = raw.target.astype(np.int64)
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, target_names=raw.target_names,
                 DESCR="scikit-learn's optical digits (8x8, 16 grey levels) scaled to [0, 1], "
                       "shape (n, 1, 8, 8). Use clip_min=0, clip_max=1.")


def _read_idx(path, ndim_expected):
    opener = gzip.open if path.endswith(".gz") else open
    fix = ("Reinstall the files (`apt-get install --reinstall dataset-fashion-mnist`) or "
           "point path= at intact ones.")
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:  # a damaged .gz
        raise ValueError(f"{path} cannot be read ({exc}). {fix}") from None
    if len(data) < 4:
        raise ValueError(f"{path} has {len(data)} bytes: too short for an IDX file. {fix}")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (magic {data[:4]!r}). {fix}")
    if ndim != ndim_expected or len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path} holds a {ndim}-dimensional array; expected {ndim_expected} "
                         f"dimensions ({'images' if ndim_expected == 3 else 'labels'}). {fix}")
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: expected {int(np.prod(shape))} values, "
                         f"found {arr.size}. {fix}")
    return arr.reshape(shape)


def _find(folder, stem):
    for name in (stem + ".gz", stem):
        candidate = os.path.join(folder, name)
        if os.path.exists(candidate):
            return candidate
    return None


def load_fashion_mnist(path=None, subset="train", *, return_X_y=False, n_samples=None):
    """Fashion-MNIST from its IDX files (no download).

    Parameters
    ----------
    path : str, default=None
        Folder holding ``train-images-idx3-ubyte(.gz)`` and friends. None looks
        in ``$ROBUSTSK_FASHION_MNIST`` and then in the folder of Debian's
        ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``).
    subset : {"train", "test"}, default="train"
        The 60,000 training or 10,000 test images.
    return_X_y : bool, default=False
    n_samples : int, default=None
        Keep only the first ``n_samples`` images.

    Returns
    -------
    data : Bunch with ``data`` (float32 of shape (n, 1, 28, 28) in [0, 1]),
        ``target`` (int64), ``target_names``; or ``(X, y)``.

    Raises
    ------
    FileNotFoundError
        When the files are absent, with how to get them.

    Examples
    --------
    >>> X, y = load_fashion_mnist(subset="test", n_samples=100,
    ...                           return_X_y=True)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (100, 1, 28, 28)
    """
    if subset not in ("train", "test"):
        raise ValueError(f"subset={subset!r}: expected 'train' or 'test'.")
    if n_samples is not None and (isinstance(n_samples, bool) or
                                  not isinstance(n_samples, numbers.Integral) or n_samples < 1):
        raise ValueError(f"n_samples={n_samples!r}: expected None (every image) or an integer "
                         ">= 1, the number of images to keep from the start of the set.")
    prefix = "train" if subset == "train" else "t10k"
    folders = [path] if path is not None else \
        [p for p in (os.environ.get("ROBUSTSK_FASHION_MNIST"),) if p] + list(FASHION_MNIST_DIRS)
    for folder in folders:
        images = _find(folder, f"{prefix}-images-idx3-ubyte")
        labels = _find(folder, f"{prefix}-labels-idx1-ubyte")
        if images and labels:
            break
    else:
        raise FileNotFoundError(
            f"Fashion-MNIST {subset} files ({prefix}-images-idx3-ubyte[.gz], "
            f"{prefix}-labels-idx1-ubyte[.gz]) were not found in {folders}. On Debian or "
            "Ubuntu install them with `apt-get install dataset-fashion-mnist`, or pass "
            "path= (or set ROBUSTSK_FASHION_MNIST) to a folder holding the IDX files.")
    X = _read_idx(images, 3)
    y = _read_idx(labels, 1).astype(np.int64)
    if len(X) != len(y):
        raise ValueError(f"{images} has {len(X)} images but {labels} has {len(y)} labels.")
    if n_samples is not None:
        X, y = X[:n_samples], y[:n_samples]
    X = (X.astype(np.float32) / 255.0)[:, None, :, :]
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, target_names=np.array(FASHION_MNIST_CLASSES),
                 DESCR="Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017), 28x28 grey images "
                       "scaled to [0, 1], shape (n, 1, 28, 28). Use clip_min=0, clip_max=1.")
