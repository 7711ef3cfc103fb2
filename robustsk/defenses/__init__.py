"""Defenses: each a robustsk estimator that overrides one skorch training hook.

:func:`all_defenses` lists every defense class, so tests, benchmarks and
``robustsk report --defenses all`` sweep them all.
"""
import inspect

from ..base import RobustClassifier
from ..criteria import MCELoss
from .afd import AdversarialFeatureDesensitization, pairwise_accuracy
from .cost_sensitive import CostSensitiveAdversarialTraining, cost_sensitive_loss
from .dial import DomainInvariantAdversarialLearning, reversal_schedule
from .dynamic import DynamicAdversarialTraining
from .ensemble_at import EnsembleAdversarialTraining
from .fast import FastAdversarialTraining
from .friendly import FriendlyAdversarialTraining
from .interpolated import InterpolatedAdversarialTraining
from .iwd import IWDAdversarialTraining
from .jsigr import JacobianSaliencyRegularization
from .madry import AdversarialTraining
from .margin_boosting import MarginBoostingEnsemble
from .rub import RobustUpperBoundTraining
from .sdp import SDPCertifiedNetwork
from .smoothing import RandomizedSmoothingClassifier
from .standard import StandardTraining
from .trades import TRADES, trades_loss
from .trs import TRSEnsemble

__all__ = ["StandardTraining", "AdversarialTraining", "TRADES", "FriendlyAdversarialTraining",
           "FastAdversarialTraining", "InterpolatedAdversarialTraining",
           "DynamicAdversarialTraining", "JacobianSaliencyRegularization",
           "CostSensitiveAdversarialTraining", "DomainInvariantAdversarialLearning",
           "AdversarialFeatureDesensitization", "TRSEnsemble", "MarginBoostingEnsemble",
           "EnsembleAdversarialTraining", "IWDAdversarialTraining",
           "RandomizedSmoothingClassifier", "SDPCertifiedNetwork", "RobustUpperBoundTraining",
           "trades_loss", "cost_sensitive_loss", "reversal_schedule", "pairwise_accuracy",
           "MCELoss", "all_defenses"]


def all_defenses():
    """Every defense estimator class of :mod:`robustsk.defenses`, by class name.

    Only :class:`~robustsk.base.RobustClassifier` subclasses: the
    meta-estimator :class:`RandomizedSmoothingClassifier` wraps one of them
    and is not listed.

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
