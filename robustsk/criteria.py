"""Training criteria beyond torch's own: the margin-maximising cross-entropy (MCE).

A criterion here is a ``torch.nn.Module`` with torch's ``reduction``
convention, so it plugs into any estimator as ``criterion=MCELoss`` (skorch
routes ``criterion__weight=...``) and :meth:`~robustsk.base.RobustClassifier.attack_loss`
turns a copy of it into the per-example loss training attacks climb.
"""
import numbers

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["MCELoss"]

_VARIANTS = ("mean", "max")
_REDUCTIONS = ("mean", "sum", "none")


class MCELoss(torch.nn.Module):
    """Margin-maximising cross-entropy: ``CE(z, y) + weight * M(z, y)``.

    ``M`` pushes every wrong-class logit down relative to the others through
    the "negated softmax" ``q = softmax(-z)`` over all ``K`` classes (``y``
    included); ``-log q_j = z_j + logsumexp_k(-z_k)`` grows with ``z_j``.

    - ``variant="mean"`` (the official code, ``experiments/main.py``):
      ``M = 1/(K-1) * sum_{j != y} -log q_j``.
    - ``variant="max"`` (the paper's margin ``z_y - max_{j != y} z_j``, which
      looks at the strongest wrong class only): ``M = max_{j != y} -log q_j
      = -log q_{j*}`` with ``j* = argmax_{j != y} z_j`` (``-log q_j`` is
      increasing in ``z_j``, so the largest term is the runner-up class's).
      The paper's formula for this term is not in the code; this is our
      reading of it.

    As ``AdversarialTraining(criterion=MCELoss)`` (single-network MCE
    training), the training PGD starts uniformly in the whole ``eps`` ball;
    the official ``main.py`` starts its PGD in ``eps / 2``
    (``lib/attack/pgd.py``), as :class:`~robustsk.defenses.MarginBoostingEnsemble`
    does. The loss itself is the official one.

    Parameters
    ----------
    weight : float, default=1.0
        Weight ``w >= 0`` of the margin term (the README's runs use 1; 0 is
        plain cross-entropy).
    variant : {"mean", "max"}, default="mean"
        How the wrong classes are combined (see above).
    reduction : {"mean", "sum", "none"}, default="mean"
        As torch's losses: the batch mean, the sum, or one value per example.

    References
    ----------
    .. [1] Zhang, D., Zhang, H., Courville, A., Bengio, Y., Ravikumar, P. and
       Suggala, A. S. "Building Robust Ensembles via Margin Boosting." ICML,
       2022. Code: github.com/zdhNarsil/Margin-Boosting.

    Examples
    --------
    >>> import torch
    >>> loss = MCELoss(weight=1.0, reduction="none")
    >>> loss(torch.zeros(2, 4), torch.tensor([0, 3])).shape
    torch.Size([2])
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import AdversarialTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = AdversarialTraining(criterion=MCELoss, criterion__weight=1.0, eps=0.1,
    ...                           n_iter=2, max_epochs=1, clip_min=0, clip_max=1,
    ...                           random_state=0).fit(X[:200], y[:200])
    >>> clf.predict(X[300:303]).shape
    (3,)
    """

    def __init__(self, weight=1.0, variant="mean", reduction="mean"):
        super().__init__()
        if isinstance(weight, (bool, np.bool_)) or not isinstance(weight, numbers.Real) \
                or not np.isfinite(weight) or weight < 0:
            raise ValueError(
                f"MCELoss got weight={weight!r}: expected a finite number >= 0 (the weight "
                "of the margin term). Pass e.g. weight=1.0 (criterion__weight=1.0), or 0 for "
                "plain cross-entropy.")
        if variant not in _VARIANTS:
            raise ValueError(
                f"MCELoss got variant={variant!r}: expected 'mean' (the official code's "
                "average over wrong classes) or 'max' (the strongest wrong class). Pass "
                "variant='mean' or variant='max' (criterion__variant=...).")
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"MCELoss got reduction={reduction!r}: expected 'mean', 'sum' or 'none', as "
                "torch's losses. Pass one of these.")
        self.weight = float(weight)
        self.variant = variant
        self.reduction = reduction

    def forward(self, logits, y):
        """The loss of ``logits`` of shape (n, K) against labels ``y`` of shape (n,)."""
        loss = F.cross_entropy(logits, y, reduction="none")
        if self.weight:
            loss = loss + self.weight * _margin_term(logits, y, self.variant)
        if self.reduction == "mean":
            return loss.mean()
        if self.reduction == "sum":
            return loss.sum()
        return loss


def _margin_term(logits, y, variant):
    n_classes = logits.shape[1]
    if n_classes < 2:
        raise ValueError(f"MCELoss needs at least 2 classes; the logits have {n_classes}.")
    neg_log_q = -F.log_softmax(-logits, dim=1)
    wrong = torch.ones_like(neg_log_q, dtype=torch.bool).scatter_(1, y[:, None], False)
    if variant == "mean":
        return (neg_log_q * wrong).sum(1) / (n_classes - 1)
    return neg_log_q.masked_fill(~wrong, float("-inf")).amax(dim=1)
