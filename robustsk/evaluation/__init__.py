"""Robustness evaluation: worst case over attacks, gradient-masking checks, transfer.

* :func:`evaluate_robustness` -- per-example worst case over an AutoAttack-style
  ensemble (or any list of attacks), over one radius or a grid, with every
  success re-checked and randomized models attacked with expectation over
  transformation; returns a :class:`RobustnessResult` of tidy pandas frames.
* :func:`check_gradient_masking` -- the symptoms of gradient masking, each a
  :class:`GradientMaskingWarning` subclass documented with its cause and fix.
* :func:`transfer_attack`, :func:`transfer_matrix` -- adversarial examples
  crafted on one model and evaluated on others.
"""
from ._models import EOTModule
from ._runner import UnverifiedSuccessWarning
from .evaluate import RobustnessResult, autoattack_ensemble, evaluate_robustness
from .masking import (
                      BlackBoxBeatsWhiteBoxWarning,
                      GradientMaskingWarning,
                      LargeEpsWarning,
                      MaskingFinding,
                      MoreStepsHelpWarning,
                      RandomizedModelWarning,
                      SaturatedCrossEntropyWarning,
                      SoftmaxOutputWarning,
                      ZeroGradientWarning,
                      check_gradient_masking,
)
from .transfer import TransferResult, transfer_attack, transfer_matrix

__all__ = ["evaluate_robustness", "RobustnessResult", "autoattack_ensemble",
           "check_gradient_masking", "MaskingFinding", "GradientMaskingWarning",
           "BlackBoxBeatsWhiteBoxWarning", "MoreStepsHelpWarning", "LargeEpsWarning",
           "ZeroGradientWarning", "RandomizedModelWarning", "SoftmaxOutputWarning",
           "SaturatedCrossEntropyWarning",
           "UnverifiedSuccessWarning", "EOTModule", "transfer_attack", "transfer_matrix",
           "TransferResult"]
