"""skorch callbacks for adversarial training.

:class:`TrainingCheckpoint` (checkpoint and resume) and :class:`TrainingGuard`
(NaN/inf stop, Ctrl-C rollback; a default callback) live in
:mod:`robustsk.checkpoint` and :mod:`robustsk.guard`.
"""
import numpy as np
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
import torch

from .attacks import PGD, as_target, run_batches
from .checkpoint import TrainingCheckpoint
from .guard import TrainingGuard

__all__ = ["RobustAccuracy", "TrainingCheckpoint", "TrainingGuard"]


class RobustAccuracy(Callback):
    """Record robust accuracy on the validation split after every epoch.

    Adds a history column (default ``valid_robust_acc``) and its
    ``..._best`` flag, so ``EarlyStopping(monitor="valid_robust_acc",
    lower_is_better=False)`` or ``Checkpoint(monitor="valid_robust_acc_best")``
    can stop or save on robustness rather than on clean loss. It needs a
    validation split: pass ``train_split=ValidSplit(0.2)`` to the estimator.

    Parameters
    ----------
    attack : Attack, default=None
        The attack; None uses PGD-10 in the estimator's own threat model.
        Parameters left None inherit the estimator's threat model.
    name : str, default="valid_robust_acc"
    max_samples : int or None, default=None
        Attack at most this many validation examples (the first ones), to
        bound the cost per epoch.

    Examples
    --------
    >>> from skorch.dataset import ValidSplit
    >>> from skorch.callbacks import EarlyStopping
    >>> from robustsk.defenses import AdversarialTraining
    >>> clf = AdversarialTraining(
    ...     train_split=ValidSplit(0.2),
    ...     callbacks=[RobustAccuracy(),
    ...                EarlyStopping(monitor="valid_robust_acc", lower_is_better=False)])
    """

    #: read by the estimator: fit refuses to start without a validation split
    needs_valid_split = True

    def __init__(self, attack=None, name="valid_robust_acc", max_samples=None):
        self.attack = attack
        self.name = name
        self.max_samples = max_samples

    def _attack(self):
        return self.attack if self.attack is not None else PGD(n_iter=10)

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        if dataset_valid is None:
            return
        attack = self._attack()
        target = as_target(net) if net.__sklearn_is_fitted__() else None
        if target is None:
            return
        xs, ys = [], []
        for batch in net.get_iterator(dataset_valid, training=False):
            Xi, yi = unpack_data(batch)
            xs.append(torch.as_tensor(Xi))
            ys.append(torch.as_tensor(yi))
        x = torch.cat(xs).to(net.device)
        y = torch.cat(ys).to(net.device)
        if self.max_samples is not None:
            x, y = x[:self.max_samples], y[:self.max_samples]
        threat = attack.resolve_threat(target)
        # one batch (as ever): the whole, possibly max_samples-capped, validation set
        x_adv = run_batches(attack, net.module_, x, y, threat=threat,
                            seed=attack.random_seed(target))
        with torch.no_grad():
            net.module_.eval()
            pred = net.module_(x_adv).argmax(1)
        acc = float((pred == y).double().mean()) if len(y) else float("nan")
        history = net.history
        previous = [row[self.name] for row in history[:-1] if self.name in row]
        history.record(self.name, acc)
        history.record(self.name + "_best", bool(not previous or acc > np.max(previous)))
