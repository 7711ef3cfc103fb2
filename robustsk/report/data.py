"""The report's data: digits or Fashion-MNIST images in [0, 1], split and subsampled."""
import numpy as np

from .options import DATASETS, FASHION_MNIST_SIZES, ReportOptionError

__all__ = ["load_report_data", "describe_split"]


def _subsample(X, y, n, seed):
    """A stratified subset of ``n`` examples (every class is kept: n >= n_classes is checked)."""
    if n is None or n >= len(y):
        return X, y
    from sklearn.model_selection import train_test_split
    keep, _, y_keep, _ = train_test_split(np.arange(len(y)), y, train_size=n, stratify=y,
                                          random_state=seed)
    return X[keep], y_keep


def _check_every_class(y, classes, n, flag, dataset):
    """Refuse a subset that lacks a class (a model trained without it cannot be scored on it)."""
    missing = sorted(set(classes.tolist()) - set(np.unique(y).tolist()))
    if missing:
        split = "training" if flag == "--n-train" else "test"
        raise ReportOptionError(
            f"{flag} {n} leaves out the classes {missing} of {dataset}: expected at least one "
            f"{split} image of each of its {len(classes)} classes. Give a larger {flag} "
            "(the subset is the first images of the file; 100 holds every class).")


def _check_available(n, available, flag, dataset):
    """Refuse a subset larger than the split (it was silently cut to the split's size)."""
    if n is not None and n > available:
        split = "training" if flag == "--n-train" else "test"
        raise ReportOptionError(
            f"{flag} {n} is more than the {available} {split} images of {dataset}: expected at "
            f"most {available}. Give {flag} {available} or fewer, or leave it out to use "
            f"{'every image' if dataset == 'digits' else 'the default subset'}.")


def load_report_data(dataset="digits", *, n_train=None, n_test=None, seed=0,
                     test_size=0.25, flatten=False):
    """The train and test images of the report.

    Parameters
    ----------
    dataset : {"digits", "fashion-mnist"}, default="digits"
    n_train, n_test : int or None, default=None
        Subset sizes (stratified for digits; each must hold every class, so
        at least 10 for digits). None: all of digits' split, or
        5,000 and 1,000 images of Fashion-MNIST.
    seed : int, default=0
        Shuffles the digits split and the subsets.
    test_size : float, default=0.25
        Held-out fraction of digits.
    flatten : bool, default=False
        Return flat features of shape (n, H * W) (for tabular models) instead
        of images of shape (n, 1, H, W).

    Returns
    -------
    X_train, y_train, X_test, y_test : ndarrays
        Images of shape (n, 1, H, W) (or flat (n, H * W)) in [0, 1].

    Raises
    ------
    ReportOptionError
        An unknown dataset name, ``n_train`` or ``n_test`` too small to hold
        one image of every class, or larger than the split (1,347 / 450 digits;
        60,000 / 10,000 Fashion-MNIST images).
    FileNotFoundError
        Fashion-MNIST's files are absent (the message says how to get them).

    Examples
    --------
    >>> X_train, y_train, X_test, y_test = load_report_data("digits")
    >>> X_train.shape, X_test.shape
    ((1347, 1, 8, 8), (450, 1, 8, 8))
    >>> load_report_data("digits", flatten=True)[2].shape
    (450, 64)
    """
    from ..datasets import load_digits_images, load_fashion_mnist
    if dataset == "digits":
        from sklearn.model_selection import train_test_split
        X, y = load_digits_images(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=test_size, stratify=y, random_state=seed)
        classes = np.unique(y)
        for n, what in ((n_train, "--n-train"), (n_test, "--n-test")):
            if n is not None and n < len(classes):  # a stratified subset of n >= classes has them all
                split = "training" if what == "--n-train" else "test"
                raise ReportOptionError(
                    f"{what} {n} is fewer than the {len(classes)} classes of digits: expected at "
                    f"least one {split} image of each class. Give {what} {len(classes)} or more.")
        _check_available(n_train, len(y_train), "--n-train", dataset)
        _check_available(n_test, len(y_test), "--n-test", dataset)
        X_train, y_train = _subsample(X_train, y_train, n_train, seed)
        X_test, y_test = _subsample(X_test, y_test, n_test, seed)
    elif dataset == "fashion-mnist":
        n_train = FASHION_MNIST_SIZES[0] if n_train is None else n_train
        n_test = FASHION_MNIST_SIZES[1] if n_test is None else n_test
        X_train, y_train = load_fashion_mnist(subset="train", return_X_y=True)
        X_test, y_test = load_fashion_mnist(subset="test", return_X_y=True)
        _check_available(n_train, len(y_train), "--n-train", dataset)
        _check_available(n_test, len(y_test), "--n-test", dataset)
        X_train, y_train, X_test, y_test = (X_train[:n_train], y_train[:n_train],
                                            X_test[:n_test], y_test[:n_test])
        classes = np.arange(10)  # Fashion-MNIST's ten kinds of clothing
        _check_every_class(y_train, classes, n_train, "--n-train", dataset)
        _check_every_class(y_test, classes, n_test, "--n-test", dataset)
    else:
        raise ReportOptionError(f"unknown dataset {dataset!r}: expected one of "
                                f"{', '.join(DATASETS)}.")
    if flatten:
        X_train = X_train.reshape(len(X_train), -1)
        X_test = X_test.reshape(len(X_test), -1)
    return X_train, y_train, X_test, y_test


def describe_split(dataset):
    """How ``load_report_data`` splits ``dataset`` (for report.json)."""
    if dataset == "digits":
        return "stratified 75/25 of load_digits_images"
    return "first n_train / n_test images of Fashion-MNIST's train / test files"
