"""Cost-sensitive adversarial training (Shen et al., 2022; Zhang & Evans, 2019)."""
import numpy as np
import torch
import torch.nn.functional as F

from ..base import RobustClassifier
from ..params import InstanceOf, Interval

__all__ = ["CostSensitiveAdversarialTraining", "cost_sensitive_loss"]


def cost_sensitive_loss(logits_adv, y, cost_matrix):
    """Cost-weighted cross-entropy plus the excess expected cost, on adversarial logits.

    With ``C`` the cost matrix (diagonal ignored), ``K`` classes and
    ``p = softmax(logits_adv)``::

        weight_i  = mean_{j != y_i} C[y_i, j]
        weighted  = mean_i weight_i * CE(logits_adv_i, y_i)
        excess    = mean_i sum_{j != y_i} (C[y_i, j] - weight_i) * p_ij
        loss      = weighted + excess

    ``weighted`` charges an example's errors at its row's mean cost;
    ``excess`` is the expected cost of the prediction at ``x'`` minus what it
    would be if every error of that row cost the mean (``weight_i (1 - p_iy)``),
    so it moves probability towards the cheaper errors of the row. With every
    off-diagonal cost 1 both reduce to cross-entropy. The loss scales with the
    costs (``C`` times ``c`` gives ``c`` times the loss), and it is never
    negative and zero only at ``p_iy = 1``, because
    ``CE >= 1 - p_iy`` and ``excess_i >= -weight_i (1 - p_iy)``: no cost
    matrix makes an error cheaper than the correct class.

    Parameters
    ----------
    logits_adv : Tensor of shape (n, n_classes)
    y : LongTensor of shape (n,)
    cost_matrix : Tensor of shape (n_classes, n_classes)

    Returns
    -------
    loss, weighted, excess : Tensor
        The total loss and its two terms.

    Examples
    --------
    >>> import torch
    >>> z = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    >>> y = torch.tensor([0, 1])
    >>> loss, weighted, excess = cost_sensitive_loss(z, y, 1 - torch.eye(2))
    >>> bool(torch.isclose(loss, torch.nn.functional.cross_entropy(z, y)))
    True
    """
    n_classes = cost_matrix.shape[0]
    off = cost_matrix * (1 - torch.eye(n_classes, dtype=cost_matrix.dtype,
                                       device=cost_matrix.device))
    rows = off[y]
    weight = rows.sum(1) / (n_classes - 1)
    weighted = (weight * F.cross_entropy(logits_adv, y, reduction="none")).mean()
    excess_cost = rows - weight[:, None] * (1 - F.one_hot(y, n_classes).to(rows.dtype))
    excess = (excess_cost * F.softmax(logits_adv, dim=1)).sum(1).mean()
    return weighted + excess, weighted, excess


class CostSensitiveAdversarialTraining(RobustClassifier):
    """PGD adversarial training whose loss weights errors by a cost matrix.

    Protects chosen classes: adversarial errors on them cost more, so the
    network trades some robustness of the other classes for theirs. Each
    batch is replaced by PGD examples exactly as in
    :class:`~robustsk.defenses.AdversarialTraining` (uniform start, ``n_iter``
    steps climbing the criterion, network in eval mode, last iterate); the
    loss on them is :func:`cost_sensitive_loss`::

        mean_i w(y_i) CE(f(x'_i), y_i) + mean_i sum_{j != y_i} (C[y_i, j] - w(y_i)) p_j(x'_i)

    with ``w(y) = mean_{j != y} C[y, j]``. The first term follows Shen et al.'s
    framework of cost-sensitive classification on adversarial examples (each
    class's examples weighted by the cost of an error on them; the exact form
    of their loss was not confirmed, so this is our reading); the second is
    Zhang & Evans' idea of penalising specific adversarial transitions by their
    cost, here as the expected cost of the adversarial prediction in excess of
    the row's mean cost (an empirical, softmax version of their certified
    cost-weighted robust loss; Zhang & Evans add that to a clean cross-entropy
    on every class, which is why their matrices may have zero rows: here a
    row's costs weight that class's whole adversarial loss, so every row needs
    a positive cost).
    With all off-diagonal costs 1, ``w = 1`` and the second term is 0: the loss
    is plain PGD adversarial training (up to float rounding), and with neither ``protected_classes``
    nor ``cost_matrix`` the fit computes the criterion's loss by the same call
    as :class:`~robustsk.defenses.AdversarialTraining` (same weights, bit for
    bit, for the same ``random_state``). The attack is cost-blind on purpose:
    it is the attack the model will be evaluated against. The history records
    ``train_weighted_loss`` and ``train_excess_cost``.

    Parameters
    ----------
    protected_classes : label or array-like of labels, default=None
        Classes to protect, in the labels given to ``fit``. They become the
        cost matrix ``C[i, j] = protection_weight`` for a protected true class
        ``i`` and any ``j != i``, ``C[i, j] = 1`` for the other off-diagonal
        entries, 0 on the diagonal: an error on a protected example (whatever
        class it is pushed into) costs ``protection_weight`` times an error on
        another. Errors *into* a protected class are not up-weighted; pass
        ``cost_matrix`` for that.
    cost_matrix : array-like of shape (n_classes, n_classes), default=None
        ``C[i, j]`` = cost of classifying an example of true class ``i`` as
        ``j``, rows and columns in the order of ``classes_`` (sorted labels).
        Finite, non-negative, with at least one positive cost in every row
        off the diagonal (a zero row would leave that class out of training);
        the diagonal is ignored. Costs are relative to 1 (the cost of an error
        in plain adversarial training). Mutually exclusive with
        ``protected_classes``.
    protection_weight : float, default=4.0
        Cost of an error on a protected class relative to 1 for the others;
        used only with ``protected_classes``.
    **kwargs
        Threat model (``eps``, ``norm``, ``step_size`` = eps/4 by default,
        ``n_iter`` = 10, ``clip_min``, ``clip_max``) and every other parameter
        of :class:`~robustsk.base.RobustClassifier` and skorch. The training
        attack always climbs the criterion (``attack_loss()``); the criterion
        is also the training loss only without costs, otherwise the loss is
        :func:`cost_sensitive_loss`.

    Attributes
    ----------
    cost_matrix_ : ndarray of shape (n_classes, n_classes)
        The cost matrix of the last fit (float32, zero diagonal), or None when
        neither ``protected_classes`` nor ``cost_matrix`` is given.

    References
    ----------
    .. [1] Shen, H., Chen, S., Wang, R. and Wang, X. "Adversarial Learning
       with Cost-Sensitive Classes." IEEE Transactions on Cybernetics, 2022
       (arXiv:2101.12372). The 'Min-Max' weight property of its defense is
       not implemented.
    .. [2] Zhang, X. and Evans, D. "Cost-Sensitive Robustness against
       Adversarial Examples." ICLR, 2019.

    Examples
    --------
    >>> from robustsk.attacks import PGD
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import CostSensitiveAdversarialTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = CostSensitiveAdversarialTraining(
    ...     protected_classes=[3, 8], eps=0.1, max_epochs=3, n_iter=3, clip_min=0, clip_max=1,
    ...     random_state=0).fit(X[:300], y[:300])
    >>> float(clf.cost_matrix_[3, 5]), float(clf.cost_matrix_[5, 3])
    (4.0, 1.0)
    >>> acc = clf.score_adversarial(X[300:400], y[300:400], PGD(n_iter=10), per_class=True)
    >>> acc.name, len(acc)
    ('robust_accuracy', 10)
    """

    _parameter_constraints = {
        "protected_classes": [None, InstanceOf(object, "a label or an array-like of labels")],
        "cost_matrix": [None, InstanceOf((list, tuple, np.ndarray),
                                         "an array-like of shape (n_classes, n_classes)")],
        "protection_weight": [Interval(float, 0, None, closed="neither")],
    }

    def __init__(self, module=None, *, protected_classes=None, cost_matrix=None,
                 protection_weight=4.0, **kwargs):
        super().__init__(module, **kwargs)
        self.protected_classes = protected_classes
        self.cost_matrix = cost_matrix
        self.protection_weight = protection_weight

    def check_params(self):
        """Both cost parameters given; a cost matrix that is not a finite non-negative square."""
        who = type(self).__name__
        if self.protected_classes is not None and self.cost_matrix is not None:
            raise ValueError(
                f"{who} got both protected_classes and cost_matrix: pass one of them "
                "(protected_classes=[...] builds a cost matrix from protection_weight).")
        if self.protected_classes is not None and len(self._protected()) == 0:
            raise ValueError(f"{who} got protected_classes={self.protected_classes!r}, an "
                             "empty list: pass at least one label, or None for no protection.")
        if self.cost_matrix is None:
            return
        try:
            C = np.asarray(self.cost_matrix, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{who} got a cost_matrix that is not numeric ({err}): pass an "
                             "array of shape (n_classes, n_classes) of costs.") from None
        if C.ndim != 2 or C.shape[0] != C.shape[1] or C.shape[0] < 2:
            raise ValueError(f"{who} got cost_matrix of shape {C.shape}: expected a square "
                             "array (n_classes, n_classes), rows = true class, columns = "
                             "predicted class, in the order of the sorted labels.")
        if not np.all(np.isfinite(C)) or np.any(C < 0):
            bad = np.argwhere(~np.isfinite(C) | (C < 0))[:5].tolist()
            raise ValueError(f"{who} got cost_matrix with negative or non-finite entries at "
                             f"{bad}: costs must be finite and >= 0.")
        off = np.where(np.eye(len(C), dtype=bool), 0.0, C)
        zero_rows = np.flatnonzero(~np.any(off > 0, axis=1))
        if len(zero_rows):
            raise ValueError(
                f"{who} got a cost_matrix whose rows {zero_rows.tolist()[:10]} are zero off the "
                "diagonal: an error on those true classes would cost nothing, so their examples "
                "would not be trained on at all (the network would learn never to predict "
                "them). Give every row a positive cost; 1 is the cost of an error in plain "
                "adversarial training. (Zhang & Evans's matrices with zero rows go with a "
                "clean cross-entropy on every class, which this loss does not have: use 1 "
                "for the classes whose errors have the ordinary cost.)")

    def check_data_params(self, classes):
        """The cost matrix's size, and every protected label, against the fit's classes."""
        who = type(self).__name__
        if self.cost_matrix is not None:
            n = np.shape(self.cost_matrix)[0]
            if n != len(classes):
                raise ValueError(
                    f"{who} got cost_matrix of shape ({n}, {n}), but the data have "
                    f"{len(classes)} classes {classes.tolist()[:20]}: pass a "
                    f"({len(classes)}, {len(classes)}) matrix in the order of these labels.")
        if self.protected_classes is not None:
            _, unknown = self._protected_mask(classes)
            if unknown:
                raise ValueError(
                    f"{who} got protected_classes {unknown} that are not among the classes "
                    f"{classes.tolist()[:20]}: pass labels as they appear in y (or all "
                    "labels with classes=...).")

    def _protected(self):
        labels = self.protected_classes
        if isinstance(labels, (set, frozenset)):
            labels = sorted(labels)
        return np.unique(np.atleast_1d(np.asarray(labels)))

    def _protected_mask(self, classes):
        """Which of ``classes`` are protected, and the protected labels not among them.

        Compared element by element, not with ``np.isin``, which would cast
        ``"8"`` and ``8`` to a common type and call them equal.
        """
        protected = self._protected().tolist()
        found = [[bool(c == p) for c in classes.tolist()] for p in protected]
        unknown = [p for p, hits in zip(protected, found) if not any(hits)]
        return np.any(np.array(found, dtype=bool).reshape(len(protected), -1), axis=0), unknown

    def _resolve_cost_matrix(self):
        n = len(self.classes_)
        if self.cost_matrix is not None:
            C = np.array(self.cost_matrix, dtype=np.float32)
        elif self.protected_classes is not None:
            C = np.ones((n, n), dtype=np.float32)
            C[self._protected_mask(self.classes_)[0]] = self.protection_weight
        else:
            return None
        np.fill_diagonal(C, 0.0)
        return C

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        """Resolve ``cost_matrix_`` once per fit (parameters were validated in ``fit``)."""
        super().on_train_begin(net, X=X, y=y, **kwargs)
        self.cost_matrix_ = self._resolve_cost_matrix()

    def train_step_single(self, batch, **fit_params):
        x, y = self.unpack_batch(batch)
        x_adv = self.pgd_examples(x, y)
        y_pred = self.infer(x_adv, **fit_params)
        if self.cost_matrix_ is None:
            loss = self.get_loss(y_pred, y, X=x_adv, training=True)
        else:
            C = torch.as_tensor(self.cost_matrix_, dtype=y_pred.dtype, device=y_pred.device)
            loss, weighted, excess = cost_sensitive_loss(y_pred, y, C)
            self.record_loss("weighted_loss", weighted)
            self.record_loss("excess_cost", excess)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}
