"""Margin boosting's training batch by hand: ``overhead.py``'s raw loop for ``margin_boosting``.

Mirrors one batch of :class:`robustsk.defenses.MarginBoostingEnsemble` with its
defaults (three SmallCNN members, the members' mean logits as the ensemble's
output, :class:`~robustsk.criteria.MCELoss` with weight 1 and the ``"mean"``
variant, the attack in eval mode), passed explicitly. One fit's training
steps are split into ``N_MEMBERS`` consecutive stages of nearly equal length;
the batch at position ``i`` (counted from 0) of a fit of ``n`` steps trains
member ::

    k = min(i * N_MEMBERS // n, N_MEMBERS - 1)

``overhead.py`` fits with ``max_epochs=1``, so ``n`` is the epoch's number of
batches, ``ceil(n_samples / batch_size)``, and every ``fit`` or
``partial_fit`` (one epoch) runs the whole ladder again from member 0
(robustsk resets its step counts in ``on_train_begin``). On 64 examples (one
batch) only member 0 trains (robustsk warns that the others get no step); 128
examples train members 0 and 1, 256 all three. Then, per batch:

1. ``x'`` = PGD on the mean logits of members ``0..k`` (eval mode, their
   parameters frozen): a uniform start in the Linf ball of radius ``eps / 2``
   (clipped to [0, 1]; the reference code's start), ``n_iter`` signed steps of ``step_size`` up the summed
   per-example MCE, each projected and clipped, the last iterate;
2. member ``k`` in train mode at ``x'``: ``z = f_k(x')``; for ``k > 0`` the
   ensemble's prediction ``(sum_{j<k} f_j(x') + z) / (k + 1)`` with the
   earlier members' logits computed without a graph (robustsk computes it for
   skorch's ``y_pred`` only: the loss does not use it);
3. the loss ``mean_n MCE(z, y) = CE(z, y) + 1/(K-1) sum_{j != y} -log softmax(-z)_j``.

One Adam over the members' parameters in order (robustsk's ``EnsembleModule``
names them ``members.<j>.``); gradients are set to None between batches, so
Adam skips the members outside the current stage (no gradient, no update),
as in robustsk. The random draws from ``gen``: the PGD's uniform start, one
per batch.

The stage needs the batch's position in the epoch and the epoch's number of
batches: ``raw_loss`` declares the ``batch`` keyword, so ``overhead.raw_epoch``
passes ``(index, n_batches)``.

Plain torch for the arithmetic: the network class (SmallCNN) is robustsk's,
nothing else is.
"""
from raw_loops import frozen, mce_per_example, raw_pgd
import torch
from torch import nn

from robustsk.criteria import MCELoss
from robustsk.defenses import MarginBoostingEnsemble
from robustsk.modules import SmallCNN

__all__ = ["NAME", "ESTIMATOR", "N_MEMBERS", "MCE_WEIGHT", "MAX_EPOCHS", "estimator_kwargs",
           "Members", "raw_model", "stage", "raw_loss"]

NAME = "margin_boosting"
ESTIMATOR = MarginBoostingEnsemble
#: robustsk's defaults (the reference code's MCE: weight 1, mean over the wrong classes)
N_MEMBERS, MCE_WEIGHT = 3, 1.0
#: ``overhead._estimator`` fits with ``max_epochs=1`` (the ladder's length in epochs)
MAX_EPOCHS = 1


def estimator_kwargs(args):
    """Margin boosting with the members, criterion and attack mode the raw loss uses."""
    return {"n_members": N_MEMBERS, "attack_mode": "eval", "criterion": MCELoss,
            "criterion__weight": MCE_WEIGHT, "criterion__variant": "mean"}


class Members(nn.Module):
    """``N_MEMBERS`` SmallCNNs (drawn one after another); predicts their mean logits."""

    def __init__(self, input_shape, n_classes, n_members=N_MEMBERS):
        super().__init__()
        self.members = nn.ModuleList(SmallCNN(input_shape, n_classes) for _ in range(n_members))

    def forward(self, x):
        return mean_logits(self.members, x)


def mean_logits(members, x):
    """The members' logits stacked, averaged over the members."""
    return torch.stack([member(x) for member in members]).mean(0)


def raw_model(lr, input_shape, n_classes):
    """The members and one Adam over their parameters, in order."""
    model = Members(input_shape, n_classes)
    return model, torch.optim.Adam(model.parameters(), lr=lr)


def stage(i, n_batches, n_members=N_MEMBERS):
    """The member that step ``i`` of a fit of ``MAX_EPOCHS * n_batches`` steps trains."""
    total = max(MAX_EPOCHS * n_batches, 1)
    return min(i * n_members // total, n_members - 1)


def raw_loss(model, x, t, *, eps, step_size, n_iter, gen, epoch=0, batch=(0, 1)):
    """Margin boosting's loss of one batch, attack included (``epoch`` unused: the ladder
    restarts at every one-epoch fit; ``batch``: this batch's index and the epoch's number
    of batches)."""
    k = stage(*batch, n_members=len(model.members))
    members = list(model.members)[:k + 1]
    for member in members:
        member.eval()
        frozen(member, True)
    try:
        x_adv = raw_pgd(lambda z: mean_logits(members, z), x, t, eps, step_size, n_iter, gen,
                        per_example_loss=mce_per_example, init_eps=eps / 2)
    finally:
        for member in members:
            frozen(member, False)
            member.train()
    new = members[k](x_adv)
    if k:  # the ensemble's prediction: robustsk's y_pred (the loss does not use it)
        with torch.no_grad():
            earlier = torch.stack([member(x_adv) for member in members[:k]]).sum(0)
        (earlier + new) / (k + 1)
    return mce_per_example(new, t, MCE_WEIGHT).mean()
