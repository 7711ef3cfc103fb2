"""Default networks, chosen at ``fit`` from the shape of ``X``.

Both output logits (no softmax): the loss is cross-entropy on logits and
attacks need logits to be strong.
"""
import math

import torch
from torch import nn

__all__ = ["MLP", "SmallCNN", "default_module"]


class MLP(nn.Module):
    """A fully connected ReLU network for flat (tabular) inputs.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one example; inputs are flattened.
    n_classes : int
    hidden_units : tuple of int, default=(128, 128)

    Examples
    --------
    >>> import torch
    >>> MLP((4,), 3)(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(self, input_shape, n_classes, hidden_units=(128, 128)):
        super().__init__()
        layers, width = [nn.Flatten()], math.prod(input_shape)
        for units in hidden_units:
            layers += [nn.Linear(width, units), nn.ReLU()]
            width = units
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class SmallCNN(nn.Module):
    """A small convolutional network for images of shape (C, H, W) or (H, W).

    Two 3x3 convolutions per stage with max pooling; one stage for inputs smaller
    than 16 pixels a side (``load_digits``'s 8x8), two for larger ones (28x28).

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, H, W)`` or ``(H, W)`` (one channel).
    n_classes : int
    channels : tuple of int, default=(32, 64)
    hidden_units : int, default=128

    Examples
    --------
    >>> import torch
    >>> SmallCNN((1, 8, 8), 10)(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(self, input_shape, n_classes, channels=(32, 64), hidden_units=128):
        super().__init__()
        shape = tuple(input_shape)
        self.add_channel = len(shape) == 2
        c, h, w = (1, *shape) if self.add_channel else shape
        n_stages = 2 if min(h, w) >= 16 else 1
        layers, width = [], c
        for stage in range(n_stages):
            out = channels[min(stage, len(channels) - 1)]
            layers += [nn.Conv2d(width, out, 3, padding=1), nn.ReLU(),
                       nn.Conv2d(out, out, 3, padding=1), nn.ReLU()]
            if min(h, w) >= 2:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            width = out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(width * h * w, hidden_units),
                                        nn.ReLU(), nn.Linear(hidden_units, n_classes))

    def forward(self, x):
        if self.add_channel:
            x = x.unsqueeze(1)
        return self.classifier(self.features(x))


def default_module(input_shape):
    """The default module class for examples of ``input_shape``: CNN for images."""
    if len(input_shape) == 3 or (len(input_shape) == 2 and min(input_shape) >= 4):
        return SmallCNN
    return MLP
