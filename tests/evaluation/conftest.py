"""Fixtures for robustsk.evaluation: tiny digits models, sound and deliberately masked."""
import warnings

import pytest
import torch
from torch import nn

from robustsk.defenses import AdversarialTraining, StandardTraining
from robustsk.modules import SmallCNN

torch.set_num_threads(1)

N_TRAIN, N_TEST = 600, 100
SMALL = dict(module__channels=(8, 16), module__hidden_units=32)
COMMON = dict(clip_min=0.0, clip_max=1.0, eps=0.1, lr=1e-2, batch_size=32, random_state=0)


class _Wrapped(nn.Module):
    """A SmallCNN behind a transformation of the input or the output."""

    def __init__(self, input_shape, n_classes, **kwargs):
        super().__init__()
        self.net = SmallCNN(input_shape, n_classes, **kwargs)


class Quantise(_Wrapped):
    """Quantises inputs to 5 levels: round() has a zero gradient almost everywhere."""

    def forward(self, x):
        return self.net(torch.round(x * 4) / 4)


class Threshold(_Wrapped):
    """Binarises inputs: the comparison cuts the autograd graph."""

    def forward(self, x):
        return self.net((x > 0.5).float())


class SaturatedSoftmax(_Wrapped):
    """Trains on logits, predicts ``softmax(1000 z)`` (as a distilled deployment)."""

    def forward(self, x):
        z = self.net(x)
        return z if self.training else torch.softmax(1000 * z, dim=1)


class Noisy(_Wrapped):
    """Gaussian noise on the input, in train and eval mode (random self-ensemble)."""

    def forward(self, x):
        return self.net(x + 0.3 * torch.randn_like(x))


@pytest.fixture(scope="session")
def data(digits):
    X_tr, X_te, y_tr, y_te = digits
    return X_tr[:N_TRAIN], y_tr[:N_TRAIN], X_te[:N_TEST], y_te[:N_TEST]


def _fit(cls, data, **kwargs):
    X, y, _, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the softmax model warns at fit, by design
        return cls(**COMMON, **kwargs).fit(X, y)


@pytest.fixture(scope="session")
def standard(data):
    return _fit(StandardTraining, data, max_epochs=5, **SMALL)


@pytest.fixture(scope="session")
def adversarial(data):
    return _fit(AdversarialTraining, data, max_epochs=4, n_iter=5, **SMALL)


@pytest.fixture(scope="session")
def masked(data):
    """Deliberately masked models, by name."""
    shape = dict(module__input_shape=(1, 8, 8), module__n_classes=10, **SMALL)
    return {name: _fit(StandardTraining, data, module=module, max_epochs=4, **shape)
            for name, module in [("quantise", Quantise), ("threshold", Threshold),
                                 ("softmax", SaturatedSoftmax), ("noisy", Noisy)]}
