"""aRUB on RUB's default network by hand: ``overhead.py``'s raw loop for ``rub-mlp``.

The loss of ``raw_rub.py`` on the network
:class:`robustsk.defenses.RobustUpperBoundTraining` builds when no ``module``
is given: a one-hidden-layer ReLU MLP over the flattened input
(``hidden_units=100``), and Adam over it.
"""
from raw_rub import raw_loss
import torch

from robustsk.defenses import RobustUpperBoundTraining
from robustsk.modules import MLP

__all__ = ["NAME", "ESTIMATOR", "HIDDEN_UNITS", "estimator_kwargs", "raw_model", "raw_loss"]

NAME = "rub-mlp"
ESTIMATOR = RobustUpperBoundTraining
#: width of the hidden layer (robustsk's default, passed explicitly)
HIDDEN_UNITS = 100


def estimator_kwargs(args):
    """aRUB on the default one-hidden-layer network, which the raw side builds too."""
    return {"method": "arub", "hidden_units": HIDDEN_UNITS}


def raw_model(lr, input_shape, n_classes):
    """The one-hidden-layer MLP robustsk builds for RUB, and Adam over it."""
    model = MLP(input_shape, n_classes, hidden_units=(HIDDEN_UNITS,))
    return model, torch.optim.Adam(model.parameters(), lr=lr)
