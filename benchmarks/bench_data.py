"""The data the benchmark scripts share: a digits, Fashion-MNIST or breast-cancer split.

Imported by the scripts beside it (``python benchmarks/<script>.py`` puts this
folder on ``sys.path``).
"""
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

from robustsk.datasets import load_digits_images, load_fashion_mnist

__all__ = ["load_split"]


def load_split(name, n_train, n_test):
    """``X_train, X_test, y_train, y_test`` for "digits", "fashion" or "breast_cancer".

    "digits": sklearn's 8x8 digits, the test suite's stratified 75/25 split
    (``random_state=0``), cut to the first ``n_train`` / ``n_test`` images;
    "fashion": the first ``n_train`` training and ``n_test`` test images of
    Fashion-MNIST (the Debian package ``dataset-fashion-mnist``);
    "breast_cancer": scikit-learn's 569 tumours, 30 features, the same 75/25
    split, scaled to [0, 1] by the training part's range (test values clipped
    into it), float32.
    """
    if name in ("digits", "breast_cancer"):
        load = load_digits_images if name == "digits" else load_breast_cancer
        X, y = load(return_X_y=True)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0,
                                                  stratify=y)
        if name == "breast_cancer":
            scaler = MinMaxScaler(clip=True).fit(X_tr)
            X_tr, X_te = (scaler.transform(v).astype(np.float32) for v in (X_tr, X_te))
        return X_tr[:n_train], X_te[:n_test], y_tr[:n_train], y_te[:n_test]
    X_tr, y_tr = load_fashion_mnist(return_X_y=True, n_samples=n_train)
    X_te, y_te = load_fashion_mnist(subset="test", return_X_y=True, n_samples=n_test)
    return X_tr, X_te, y_tr, y_te
