"""Fixtures for the robustsk.attacks tests: small fitted estimators on load_digits."""
from pathlib import Path
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits
import torch

try:  # let the suite run from a plain checkout (no pip install)
    import robustsk.attacks  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from robustsk.base import RobustClassifier

# Tiny models on 2 cores: one intra-op thread avoids oversubscription when
# other processes share the machine (it changes speed only, not results).
torch.set_num_threads(1)

N_TRAIN, N_TEST = 300, 100


@pytest.fixture(scope="session")
def digits():
    """Digits as float32 in [0, 1]: images (n, 1, 8, 8), flat features and labels."""
    data = load_digits()
    order = np.random.RandomState(0).permutation(len(data.target))
    flat = (data.data[order] / 16.0).astype(np.float32)
    return flat.reshape(-1, 1, 8, 8), flat, data.target[order].astype(np.int64)


def _fit(X, y, **module):
    return RobustClassifier(max_epochs=10, lr=1e-2, batch_size=32, random_state=0, eps=0.1,
                            clip_min=0.0, clip_max=1.0, **module).fit(X, y)


@pytest.fixture(scope="session")
def image_data(digits):
    images, _, y = digits
    return images[:N_TRAIN], y[:N_TRAIN], images[-N_TEST:], y[-N_TEST:]


@pytest.fixture(scope="session")
def image_clf(image_data):
    """A 10-class small CNN on 8x8 digits (Linf eps 0.1, box [0, 1])."""
    X, y, _, _ = image_data
    return _fit(X, y, module__channels=(8, 16), module__hidden_units=32)


def _subset(digits, classes, n_train, n_test):
    _, flat, y = digits
    mask = np.isin(y, classes)
    X, y = flat[mask], y[mask]
    return X[:n_train], y[:n_train], X[n_train:n_train + n_test], y[n_train:n_train + n_test]


@pytest.fixture(scope="session")
def binary_data(digits):
    return _subset(digits, [3, 8], 200, 80)


@pytest.fixture(scope="session")
def binary_clf(binary_data):
    """A 2-class MLP on flat digits 3 vs 8."""
    X, y, _, _ = binary_data
    return _fit(X, y, module__hidden_units=(32,))


@pytest.fixture(scope="session")
def three_class_clf(digits):
    """A 3-class MLP (too few classes for the targeted DLR loss)."""
    X, y, _, _ = _subset(digits, [0, 1, 2], 150, 0)
    return _fit(X, y, module__hidden_units=(32,))
