"""Defenses: each a robustsk estimator that overrides one skorch training hook."""
from .dynamic import DynamicAdversarialTraining
from .fast import FastAdversarialTraining
from .friendly import FriendlyAdversarialTraining
from .interpolated import InterpolatedAdversarialTraining
from .madry import AdversarialTraining
from .standard import StandardTraining
from .trades import TRADES, trades_loss

__all__ = ["StandardTraining", "AdversarialTraining", "TRADES", "FriendlyAdversarialTraining",
           "FastAdversarialTraining", "trades_loss",
           "InterpolatedAdversarialTraining", "DynamicAdversarialTraining"]
