"""Training-set poisoning attacks and their evaluation.

Each attack returns a frozen result holding the poisoned training set (``X``,
``y``, ``poison_indices``; a backdoor also its ``trigger``);
:func:`poisoning_report` fits a clone of a victim on it and reports clean
accuracy and the attack's success.

* :func:`label_flip`: random or targeted label flipping.
* :func:`gradient_poisoning`: Biggio, Nelson & Laskov (ICML 2012), for
  logistic regression and linear SVMs.
* :func:`badnets`: the BadNets backdoor (Gu et al., 2017).
* :func:`feature_collision`: clean-label "Poison Frogs!" (Shafahi et al.,
  NeurIPS 2018).
"""
from .backdoor import BackdoorResult, Trigger, badnets
from .evaluation import PoisoningReport, poisoning_report
from .feature_collision import FeatureCollisionResult, feature_collision, penultimate_features
from .gradient import GradientPoisoningResult, gradient_poisoning
from .label_flip import LabelFlipResult, label_flip

__all__ = ["label_flip", "LabelFlipResult", "gradient_poisoning", "GradientPoisoningResult",
           "badnets", "Trigger", "BackdoorResult", "feature_collision",
           "FeatureCollisionResult", "penultimate_features", "poisoning_report",
           "PoisoningReport"]
