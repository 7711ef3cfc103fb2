"""Default networks, chosen at ``fit`` from the shape of ``X``, and the features contract.

Both output logits (no softmax): the loss is cross-entropy on logits and
attacks need logits to be strong.

**Hidden features.** Defenses that work on a hidden representation (manifold
mixup, feature-level games) need ``(features, logits)`` from the network. A
module opts in by having two callables, ``features(x) -> h`` and
``head(h) -> logits``, with ``module(x) == module.head(module.features(x))``:
methods, or submodules named ``features`` and ``head``. :class:`SmallCNN` and
:class:`MLP` do: their features are the last hidden layer (after its ReLU) and
their head is the final linear layer. :func:`features_and_logits` returns both
for any such module, and :func:`check_features` raises a clear error for a
module that has not opted in. A defense that needs features also checks the
equality at ``fit``, on two training rows in eval mode, before any training.

**Certification.** Both networks have ``as_sequential()``: the same layers
(shared parameters) as one ``nn.Sequential``, which is what
:mod:`robustsk.certify`'s interval bound propagation walks. A custom module
can opt in the same way.
"""
import math

import torch
from torch import nn

__all__ = ["MLP", "SmallCNN", "UnitSphereFeatures", "default_module", "has_features",
           "check_features", "features_and_logits", "module_device"]


def module_device(module):
    """The device of ``module``'s first parameter or buffer (CPU for a module with neither).

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    torch.device
    """
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


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

    def as_sequential(self):
        """The same network (shared parameters) as one ``nn.Sequential``, for certification."""
        return self.net

    def features(self, x):
        """The last hidden layer's activations, of shape (n, hidden_units[-1])."""
        return self.net[:-1](x)

    def head(self, h):
        """Logits from the features: the final linear layer."""
        return self.net[-1](h)


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
        self.input_size = (h, w)
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
        self.conv = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(width * h * w, hidden_units),
                                        nn.ReLU(), nn.Linear(hidden_units, n_classes))

    def forward(self, x):
        if self.add_channel:
            x = x.unsqueeze(1)
        return self.classifier(self.conv(x))

    def as_sequential(self):
        """The same network (shared parameters) as one ``nn.Sequential``, for certification.

        Inputs of shape (n, H, W) get their channel axis from an ``nn.Unflatten``.
        """
        front = [nn.Unflatten(1, (1, self.input_size[0]))] if self.add_channel else []
        return nn.Sequential(*front, *self.conv, *self.classifier)

    def features(self, x):
        """The hidden layer before the output, of shape (n, hidden_units), after its ReLU."""
        if self.add_channel:
            x = x.unsqueeze(1)
        return self.classifier[:-1](self.conv(x))

    def head(self, h):
        """Logits from the features: the final linear layer."""
        return self.classifier[-1](h)


def default_module(input_shape):
    """The default module class for examples of ``input_shape``: CNN for images."""
    if len(input_shape) == 3 or (len(input_shape) == 2 and min(input_shape) >= 4):
        return SmallCNN
    return MLP


def has_features(module):
    """Whether ``module`` follows the features contract (callable ``features`` and ``head``)."""
    return callable(getattr(module, "features", None)) and callable(getattr(module, "head", None))


def check_features(module, who="This defense"):
    """Raise ``TypeError`` unless ``module`` exposes ``features(x)`` and ``head(h)``.

    Parameters
    ----------
    module : torch.nn.Module
    who : str
        Named in the message (the defense that needs features).
    """
    if not has_features(module):
        missing = [n for n in ("features", "head") if not callable(getattr(module, n, None))]
        raise TypeError(
            f"{who} needs the network's hidden features, but the module "
            f"{type(module).__name__} has no callable {' and no '.join(missing)}. Expected a "
            "module with features(x) -> h and head(h) -> logits such that "
            "module(x) == module.head(module.features(x)). Add those two methods to your "
            "module (see robustsk.modules.SmallCNN), or use the default module (module=None).")


class UnitSphereFeatures(nn.Module):
    """A network whose features are put on the unit sphere before its head reads them.

    ``features(x)`` is the wrapped module's features divided by their L2 norm
    per example (over all their entries; their shape is kept, so a head that
    reads a feature map still works); ``head`` is the wrapped module's head, so
    ``forward(x) == head(features(x))`` (the features contract). Used by
    :class:`~robustsk.defenses.AdversarialFeatureDesensitization`, whose
    reference encoders end in ``F.normalize`` (Bashivan et al., 2021).

    Parameters
    ----------
    module : torch.nn.Module
        A module with ``features`` and ``head``.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> net = UnitSphereFeatures(MLP((4,), 3, hidden_units=(8,)))
    >>> h = net.features(torch.rand(2, 4))
    >>> [round(float(v), 4) for v in h.detach().norm(dim=1)]
    [1.0, 1.0]
    """

    def __init__(self, module):
        super().__init__()
        check_features(module, "UnitSphereFeatures")
        self.module = module

    def features(self, x):
        """The wrapped module's features, each example's of L2 norm 1 (0 stays 0)."""
        h = self.module.features(x)
        return nn.functional.normalize(h.flatten(1), dim=1).view_as(h)

    def head(self, h):
        """The wrapped module's head: logits from (unit-sphere) features."""
        return self.module.head(h)

    def forward(self, x):
        """Logits: ``head(features(x))``."""
        return self.head(self.features(x))


def features_and_logits(module, x):
    """``(h, logits)`` of ``module`` at ``x`` through the features contract.

    Examples
    --------
    >>> import torch
    >>> h, z = features_and_logits(MLP((4,), 3, hidden_units=(8,)), torch.zeros(2, 4))
    >>> tuple(h.shape), tuple(z.shape)
    ((2, 8), (2, 3))
    """
    check_features(module)
    h = module.features(x)
    return h, module.head(h)
