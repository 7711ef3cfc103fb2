"""Defenses: each a robustsk estimator that overrides one skorch training hook."""
from .cost_sensitive import CostSensitiveAdversarialTraining, cost_sensitive_loss
from .fast import FastAdversarialTraining
from .friendly import FriendlyAdversarialTraining
from .madry import AdversarialTraining
from .standard import StandardTraining
from .trades import TRADES, trades_loss

__all__ = ["StandardTraining", "AdversarialTraining", "TRADES", "FriendlyAdversarialTraining",
           "FastAdversarialTraining", "CostSensitiveAdversarialTraining", "trades_loss",
           "cost_sensitive_loss"]
