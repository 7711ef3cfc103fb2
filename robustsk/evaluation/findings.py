"""The gradient-masking warnings, the :class:`MaskingFinding` record, and the tests
that turn counts into findings (:mod:`robustsk.evaluation.masking` runs the attacks).

Each finding constructor returns a :class:`MaskingFinding`, or None when the
check does not fire: the black-box and more-steps checks only when their count
is significantly above the tolerance (one-sided exact binomial test).
"""
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import torch

from .. import base as _base
from ..attacks import attack_context

__all__ = ["GradientMaskingWarning", "BlackBoxBeatsWhiteBoxWarning", "MoreStepsHelpWarning",
           "LargeEpsWarning", "ZeroGradientWarning", "RandomizedModelWarning",
           "SoftmaxOutputWarning", "SaturatedCrossEntropyWarning", "MaskingFinding", "finding",
           "SATURATION_TOL", "SIGNIFICANCE", "beyond_tolerance", "randomized_finding",
           "softmax_finding", "zero_gradient_finding", "black_box_finding",
           "saturation_finding", "more_steps_finding"]

#: the saturated-CE check fires when scale-invariant attacks fool more than this
#: fraction of all examples that the cross-entropy attacks could not
SATURATION_TOL = 0.1


class GradientMaskingWarning(UserWarning):
    """Base class: the evaluation shows a symptom of gradient masking.

    The reported robust accuracy is then likely an overestimate. See the
    subclasses for each symptom's cause and fix.

    References
    ----------
    .. [1] Athalye, A., Carlini, N. and Wagner, D. "Obfuscated Gradients Give a
       False Sense of Security." ICML, 2018.
    .. [2] Carlini, N. et al. "On Evaluating Adversarial Robustness."
       arXiv:1902.06705, 2019.
    .. [3] Croce, F. and Hein, M. "Reliable evaluation of adversarial robustness
       with an ensemble of diverse parameter-free attacks." ICML, 2020.
    """


class BlackBoxBeatsWhiteBoxWarning(GradientMaskingWarning):
    """A gradient-free attack (Square, SPSA) fooled examples the gradient attacks missed.

    Cause: the gradients the white-box attacks follow are uninformative
    (shattered by a non-differentiable layer, quantisation, saturation), so a
    search that only queries predictions does better. Fix: attack a
    differentiable approximation of the broken layer (BPDA, Athalye et al. 2018),
    use loss functions that do not saturate (DLR, margin), and report the
    worst case over white- and black-box attacks, as ``evaluate_robustness`` does.
    """


class MoreStepsHelpWarning(GradientMaskingWarning):
    """More attack steps or restarts lowered accuracy further than the reported attack.

    Cause: the attack had not converged (too few steps, a bad step size, a
    loss landscape with many poor local maxima). Fix: raise ``n_iter`` and
    ``n_restarts`` until the accuracy stops falling, or use APGD, which adapts
    its step size.
    """


class LargeEpsWarning(GradientMaskingWarning):
    """Accuracy does not fall to about zero at a huge radius.

    With ``eps`` as wide as the whole input box (or 10 times the evaluated
    radius when unbounded) every input can be turned into any other, so a
    working attack reaches about 0% accuracy. Cause: the attack cannot use the
    gradient (masking) or the model saturates. Fix: as for
    :class:`BlackBoxBeatsWhiteBoxWarning`; check the box and ``eps`` units too.
    """


class ZeroGradientWarning(GradientMaskingWarning):
    """Input gradients are exactly zero, NaN or vanishing for some examples.

    Cause: a non-differentiable or piecewise-constant layer (rounding,
    quantisation, thresholding), saturated outputs, or dead activations: a
    gradient attack cannot move those examples. Fix: replace the layer by a
    differentiable approximation in the attack (BPDA), remove saturating
    outputs, and rely on gradient-free attacks for those examples.
    """


class RandomizedModelWarning(GradientMaskingWarning):
    """Two predictions on the same input differ: the model is randomized.

    Cause: noise layers, random transformations or dropout active at
    prediction time. A single gradient sample is then a poor ascent direction,
    and one prediction a random draw. Fix: attack with expectation over
    transformation (average ``eot_iter`` gradients, as ``evaluate_robustness``
    does automatically) and report accuracy over several draws.
    """


class SoftmaxOutputWarning(GradientMaskingWarning, _base.SoftmaxOutputWarning):
    """The module outputs probabilities (softmax), not logits.

    Cause: a softmax as the last layer; attacks then differentiate a saturated
    function whose gradients vanish, and cross-entropy is applied twice.
    Fix: remove the final softmax so the module returns logits. It is also a
    :class:`robustsk.base.SoftmaxOutputWarning`, so filters on that still apply.
    """


class SaturatedCrossEntropyWarning(GradientMaskingWarning):
    """A scale-invariant attack fooled many examples the cross-entropy attacks could not.

    It fires when the examples fooled by a DLR, targeted-DLR or margin attack
    and by no cross-entropy attack are more than :data:`SATURATION_TOL` (10%)
    of all examples: robust accuracy under the CE attacks alone is then
    overstated by more than 10 points. (AutoAttack reports the worst case over
    both but does not flag this.)

    Cause: the logits are large (multiplied by a constant, as defensive
    distillation or a temperature does; a softmax or other saturating last
    layer), so the softmax saturates and the gradient of cross-entropy
    underflows to zero; the decision function is unchanged. Fix: report robust
    accuracy under scale-invariant attacks (``evaluate_robustness``'s default
    ensemble and ``score_adversarial``'s default attack include one), never
    under CE attacks alone; for training or model selection, use a margin or
    DLR loss, or divide the logits by a temperature before the loss.
    """


@dataclass(frozen=True)
class MaskingFinding:
    """One gradient-masking symptom that was found.

    Attributes
    ----------
    category : type
        The :class:`GradientMaskingWarning` subclass.
    message : str
        What was measured and what to do.
    statistic : float
        The measured value (a fraction of the examples, or 1.0 for yes/no checks).
    threshold : float
        The value above which the check fires.
    eps : float or None
        The radius the check ran at.
    details : mapping
        Further numbers (counts, attack names).
    """

    category: type
    message: str
    statistic: float
    threshold: float
    eps: Any = None
    details: Mapping = field(default_factory=dict)

    @property
    def name(self):
        """The warning's class name, e.g. ``"ZeroGradientWarning"``."""
        return self.category.__name__


def finding(category, message, statistic, threshold, eps=None, **details):
    """A :class:`MaskingFinding` (``details`` frozen)."""
    return MaskingFinding(category, message, float(statistic), float(threshold), eps,
                          MappingProxyType(dict(details)))


# ----------------------------------------------------------------- the checks
def randomized_finding(randomized, eot_iter):
    if not randomized:
        return None
    return finding(RandomizedModelWarning,
                   "Two predictions on the same inputs differ: the model is randomized. Gradient "
                   f"attacks were run with expectation over transformation (eot_iter={eot_iter}); "
                   "report accuracy over several draws.", 1.0, 0.0, eot_iter=eot_iter)


def softmax_finding(module, x, batch_size=256):
    with attack_context(module, "eval"), torch.no_grad():
        out = torch.cat([module(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    if out.ndim != 2 or out.shape[1] < 2:
        return None
    if bool((out >= 0).all() and (out <= 1).all()) and torch.allclose(
            out.sum(1), torch.ones_like(out[:, 0]), atol=1e-4):
        return finding(SoftmaxOutputWarning,
                       "The module's outputs lie in [0, 1] and sum to 1: they are probabilities, "
                       "not logits. Gradients through a softmax vanish and overstate robustness: "
                       "remove the final softmax.", 1.0, 0.0)
    return None


def _margin(logits, y):
    other = logits.clone()
    other.scatter_(1, y[:, None], float("-inf"))
    return other.amax(dim=1) - logits.gather(1, y[:, None]).squeeze(1)


def zero_gradient_finding(module, x, y, batch_size=256, vanishing=1e-8):
    """Fraction of examples whose margin-loss input gradient is zero, NaN or < ``vanishing``.

    The margin ``max_{j != y} z_j - z_y`` is used, not cross-entropy: it does
    not saturate on confident logits, so a zero gradient means the model itself
    blocks the gradient.
    """
    bad = []
    with attack_context(module, "eval"):
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].detach().clone().requires_grad_(True)
            with torch.enable_grad():
                out = module(xb)
                if not out.requires_grad:  # the graph is cut (e.g. a hard threshold)
                    bad.append(torch.ones(len(xb), dtype=torch.bool, device=xb.device))
                    continue
                grad, = torch.autograd.grad(_margin(out, y[i:i + batch_size]).sum(), xb,
                                            allow_unused=True)
            if grad is None:
                bad.append(torch.ones(len(xb), dtype=torch.bool, device=xb.device))
                continue
            flat = grad.flatten(1)
            bad.append(~torch.isfinite(flat).all(1) | (flat.abs().amax(1) < vanishing))
    bad = torch.cat(bad) if bad else torch.zeros(0, dtype=torch.bool, device=x.device)
    n_bad = int(bad.sum())
    if n_bad == 0:
        return None
    frac = n_bad / len(bad)
    return finding(ZeroGradientWarning,
                   f"{n_bad} of {len(bad)} examples ({frac:.0%}) have a zero, NaN or vanishing "
                   "input gradient (of the logit margin): gradient attacks cannot move them. "
                   "Look for non-differentiable or saturating layers; rely on gradient-free "
                   "attacks or BPDA for this model.", frac, 0.0, n_zero=n_bad, n=len(bad))


#: a black-box or more-steps check fires only when its count is significant at this
#: level against ``tol`` (one-sided exact binomial test)
SIGNIFICANCE = 0.05


def beyond_tolerance(count, n, tol, alpha=SIGNIFICANCE):
    """Whether ``count`` of ``n`` examples is significantly more than a fraction ``tol``.

    One-sided exact binomial test of ``count ~ Binomial(n, tol)``: with a few
    dozen examples, 2 of 60 (3.3%) is no evidence of a drop beyond 2%
    (p = 0.34), and a sound model's attack noise fired the check.
    """
    from scipy.stats import binom
    if n <= 0 or count / n <= tol:
        return False
    return bool(binom.sf(count - 1, n, tol) < alpha)


def black_box_finding(n_beaten, n, eps, names, tol):
    frac = n_beaten / max(n, 1)
    if not beyond_tolerance(n_beaten, n, tol):
        return None
    return finding(BlackBoxBeatsWhiteBoxWarning,
                   f"At eps={eps:g} the gradient-free attack ({', '.join(names)}) fooled "
                   f"{n_beaten} of {n} examples (accuracy {frac:.1%} lower) that the gradient attacks "
                   "could not: the gradients are uninformative (gradient masking).",
                   frac, tol, eps=eps, n_beaten=n_beaten, n=n, attacks=tuple(names))


def saturation_finding(n_gap, n, eps, ce_names, invariant_names, tol=SATURATION_TOL):
    """The :class:`SaturatedCrossEntropyWarning` finding, or None below ``tol``.

    Parameters
    ----------
    n_gap : int
        Examples fooled by a scale-invariant attack and by no CE attack.
    n : int
        All examples.
    """
    frac = n_gap / max(n, 1)
    if frac <= tol:
        return None
    return finding(SaturatedCrossEntropyWarning,
                   f"At eps={eps:g} the scale-invariant attacks ({', '.join(invariant_names)}) "
                   f"fooled {n_gap} of {n} examples (accuracy {frac:.1%} lower) that the "
                   f"cross-entropy attacks ({', '.join(ce_names)}) could not: cross-entropy "
                   "saturates on this model (large or scaled logits, a softmax output). "
                   "Report accuracy under DLR/margin attacks, never CE alone.",
                   frac, tol, eps=eps, n_gap=n_gap, n=n, ce_attacks=tuple(ce_names),
                   invariant_attacks=tuple(invariant_names))


def more_steps_finding(n_more, n, eps, tol, steps_factor, extra_restarts):
    frac = n_more / max(n, 1)
    if not beyond_tolerance(n_more, n, tol):
        return None
    return finding(MoreStepsHelpWarning,
                   f"At eps={eps:g}, {steps_factor}x the steps and {extra_restarts} more restarts "
                   f"fooled {n_more} more of {n} examples (accuracy {frac:.1%} lower): the "
                   "reported attack had not converged. Raise n_iter and n_restarts.",
                   frac, tol, eps=eps, n_more=n_more, n=n, steps_factor=steps_factor,
                   extra_restarts=extra_restarts)
