"""Defenses: each a robustsk estimator that overrides one skorch training hook."""
from ..criteria import MCELoss
from .fast import FastAdversarialTraining
from .friendly import FriendlyAdversarialTraining
from .jsigr import JacobianSaliencyRegularization
from .madry import AdversarialTraining
from .standard import StandardTraining
from .trades import TRADES, trades_loss

__all__ = ["StandardTraining", "AdversarialTraining", "TRADES", "FriendlyAdversarialTraining",
           "FastAdversarialTraining", "JacobianSaliencyRegularization", "MCELoss",
           "trades_loss"]
