"""Defenses: each a robustsk estimator that overrides one skorch training hook.

:func:`all_defenses` lists every defense class, so tests, benchmarks and
``robustsk report --defenses all`` sweep them all.
"""
import inspect

from ..base import RobustClassifier
from ..criteria import MCELoss
from .cost_sensitive import CostSensitiveAdversarialTraining, cost_sensitive_loss
from .dynamic import DynamicAdversarialTraining
from .fast import FastAdversarialTraining
from .friendly import FriendlyAdversarialTraining
from .interpolated import InterpolatedAdversarialTraining
from .iwd import IWDAdversarialTraining
from .jsigr import JacobianSaliencyRegularization
from .madry import AdversarialTraining
from .standard import StandardTraining
from .trades import TRADES, trades_loss

__all__ = ["StandardTraining", "AdversarialTraining", "TRADES", "FriendlyAdversarialTraining",
           "FastAdversarialTraining", "InterpolatedAdversarialTraining",
           "DynamicAdversarialTraining", "JacobianSaliencyRegularization",
           "CostSensitiveAdversarialTraining", "IWDAdversarialTraining", "trades_loss", "cost_sensitive_loss",
           "MCELoss", "all_defenses"]


def all_defenses():
    """Every defense estimator class of :mod:`robustsk.defenses`, by class name.

    Returns
    -------
    dict of str to type
        In the order of ``__all__``.

    Examples
    --------
    >>> "TRADES" in all_defenses()
    True
    """
    found = {}
    for name in __all__:
        obj = globals()[name]
        if inspect.isclass(obj) and issubclass(obj, RobustClassifier):
            found[name] = obj
    return found
