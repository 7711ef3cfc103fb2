"""Torch wrappers an evaluation puts around a model, and the randomness probe.

:class:`EOTModule` averages the logits of several forward passes, so a
gradient attack on a randomized model follows the gradient of the expected
logits (expectation over transformation, Athalye et al. 2018).
:class:`CountingModule` counts model evaluations (example forwards).
"""
import numpy as np
import torch
from torch import nn

from ..attacks import as_score_target, model_input

__all__ = ["EOTModule", "CountingModule", "is_randomized", "scores"]


class EOTModule(nn.Module):
    """Expectation over transformation: the mean logits of ``eot_iter`` forward passes.

    The gradient of the mean logits is the mean of the ``eot_iter`` sampled
    gradients, so every gradient attack (PGD, APGD, ...) run on this module
    follows the EOT gradient estimate. The wrapped model keeps whatever mode
    the attack puts it in (attacks use eval mode, as ``predict`` does), so the
    randomness averaged over is the randomness ``predict`` sees.

    Parameters
    ----------
    module : torch.nn.Module
        A randomized model returning logits.
    eot_iter : int >= 1
        Forward passes averaged per call.

    References
    ----------
    .. [1] Athalye, A., Engstrom, L., Ilyas, A. and Kwok, K. "Synthesizing Robust
       Adversarial Examples." ICML, 2018.
    .. [2] Athalye, A., Carlini, N. and Wagner, D. "Obfuscated Gradients Give a
       False Sense of Security." ICML, 2018.

    Examples
    --------
    >>> import torch
    >>> noisy = torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.Linear(4, 3)).train()
    >>> EOTModule(noisy, eot_iter=8)(torch.ones(2, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(self, module, eot_iter):
        if isinstance(eot_iter, bool) or not isinstance(eot_iter, (int, np.integer)) \
                or eot_iter < 1:
            # 0 gave -inf logits (0 / 0 of a sum of one pass) and -1 negated
            # logits; 2.7 was truncated to 2
            raise ValueError(
                f"EOTModule got eot_iter={eot_iter!r}: expected an integer >= 1 (forward "
                "passes averaged per call). Pass e.g. eot_iter=20 for a randomized model, "
                "or use the model itself for eot_iter=1.")
        super().__init__()
        self.module = module
        self.eot_iter = int(eot_iter)

    def forward(self, x):
        total = self.module(x)
        for _ in range(self.eot_iter - 1):
            total = total + self.module(x)
        return total / self.eot_iter


class CountingModule(nn.Module):
    """Pass-through wrapper counting the examples it evaluates (``n_forward``).

    ``n_backward`` counts the examples of the forward passes made for a
    gradient (grad mode on and an input that requires grad): each is followed
    by one backward pass through the network.

    Where the model cuts the graph (e.g. a hard threshold ``(x > 0.5).float()``
    whose output does not require grad), the output is joined to the input with
    a zero weight: gradient attacks then see the true, zero, gradient instead
    of failing.
    """

    def __init__(self, module):
        super().__init__()
        self.module = module
        self.n_forward = 0
        self.n_backward = 0

    def forward(self, x):
        self.n_forward += int(x.shape[0])
        if x.requires_grad and torch.is_grad_enabled():
            self.n_backward += int(x.shape[0])
        out = self.module(x)
        if x.requires_grad and not out.requires_grad:
            out = out + 0.0 * x.flatten(1).sum(1, keepdim=True)
        return out


def scores(estimator, X):
    """``predict_proba`` if the estimator has it, else ``decision_function``, else the
    logits of the module the attacks differentiate (a randomized-smoothing classifier's
    noisy base network), as float64."""
    method = getattr(estimator, "predict_proba", None) or \
        getattr(estimator, "decision_function", None)
    if method is not None:
        return np.asarray(method(model_input(estimator, X)), dtype=np.float64)
    target = as_score_target(estimator)
    return target.scores(target.prepare_X(X)).cpu().numpy().astype(np.float64)


def is_randomized(estimator, X, n_examples=64, n_repeats=2):
    """True when repeated predictions on the same inputs differ.

    Compares the scores (``predict_proba`` or ``decision_function``) of
    ``n_repeats`` calls on the first ``n_examples`` rows of ``X``.
    """
    X = X[:n_examples]
    first = scores(estimator, X)
    for _ in range(n_repeats - 1):
        again = scores(estimator, X)
        if first.shape != again.shape or not np.allclose(first, again, rtol=1e-5, atol=1e-7):
            return True
    return False
