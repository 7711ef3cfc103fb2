"""TRS's training loss by hand: ``overhead.py``'s raw loop for ``trs``.

Mirrors one batch of :class:`robustsk.defenses.TRSEnsemble` with its default
parameters (three SmallCNN members, ``coeff=2``, ``lamda=2``, ``scale=5``,
``adv_smoothness=True``, the smoothness PGD's step ``eps / 3`` of its radius
``eps``, the radius ramped from ``eps / 2`` over the fit), all members in
train mode ::

    sum_j CE(f_j(x), y) + SCALE * (COEFF * L_cos + LAMDA * L_smooth)

``g_j`` is the input gradient of member ``j``'s batch-mean CE (its summed CE's
gradient divided by the batch size, the graph kept: double backpropagation,
each member from its own copy of the input); ``L_cos`` is the mean over member
pairs of the batch mean of ``|cos(g_i, g_j)|``; ``L_smooth`` the mean over
members of ``2 * mean_n ||g_j||^2``, taken at ``[first half of the batch,
smoothness PGD points of the second half]``. That PGD starts uniformly in the
ball of this epoch's radius ``eps_t = eps / 2 + (eps / 2) * min(epoch /
max_epochs, 1)`` (clipped to [0, 1]) and takes ``n_iter`` signed steps of
``eps_t / 3`` up the gradient of ``L_smooth`` (of the members' per-batch mean
CE, no division) with the members' parameters frozen, each step projected and
clipped. The random draws from ``gen``: the PGD's uniform start, one per batch.

The ensemble's parameters are the members' in order, as robustsk's
``EnsembleModule`` names them (``members.<j>.``); one Adam over them.

Plain torch for the arithmetic: the network class (SmallCNN) is robustsk's,
nothing else is.
"""
import itertools
import math

from raw_loops import frozen
import torch
from torch import nn
import torch.nn.functional as F

from robustsk.defenses import TRSEnsemble
from robustsk.modules import SmallCNN

__all__ = ["NAME", "ESTIMATOR", "N_MEMBERS", "COEFF", "LAMDA", "SCALE", "STEP_FRACTION",
           "MAX_EPOCHS", "estimator_kwargs", "Members", "raw_model", "smooth_eps",
           "raw_smoothness_points", "raw_loss"]

NAME = "trs"
ESTIMATOR = TRSEnsemble
#: TRS's defaults (the reference MNIST script), passed explicitly
N_MEMBERS, COEFF, LAMDA, SCALE = 3, 2.0, 2.0, 5.0
#: the smoothness PGD's step as a fraction of its radius (TRS's default ``step_size``, eps / 3)
STEP_FRACTION = 1 / 3
#: ``overhead._estimator`` fits with ``max_epochs=1`` (the radius ramp's denominator)
MAX_EPOCHS = 1


def estimator_kwargs(args):
    """TRS with the members and weights the raw loss uses."""
    return {"n_members": N_MEMBERS, "coeff": COEFF, "lamda": LAMDA, "scale": SCALE,
            "adv_smoothness": True}


class Members(nn.Module):
    """``N_MEMBERS`` SmallCNNs (drawn one after another); predicts ``log mean_j softmax(f_j)``."""

    def __init__(self, input_shape, n_classes, n_members=N_MEMBERS):
        super().__init__()
        self.members = nn.ModuleList(SmallCNN(input_shape, n_classes) for _ in range(n_members))

    def forward(self, x):
        logits = torch.stack([member(x) for member in self.members])
        return torch.logsumexp(torch.log_softmax(logits, dim=-1), dim=0) - math.log(len(logits))


def raw_model(lr, input_shape, n_classes):
    """The members and one Adam over their parameters, in order."""
    model = Members(input_shape, n_classes)
    return model, torch.optim.Adam(model.parameters(), lr=lr)


def smooth_eps(eps, epoch):
    """The smoothness PGD's radius in the epoch after ``epoch`` finished ones."""
    init = eps / 2
    return init + (eps - init) * min(epoch / max(MAX_EPOCHS, 1), 1.0)


def _smoothness(grads):
    """``L_smooth``: mean over members of ``2 * mean_n ||g||^2``."""
    return torch.stack([2 * g.pow(2).sum(1).mean() for g in grads]).mean()


def _cosine(grads):
    """``L_cos``: mean over member pairs of the batch mean of ``|cos(g_i, g_j)|``."""
    return torch.stack([F.cosine_similarity(a, b, dim=1).abs().mean()
                        for a, b in itertools.combinations(grads, 2)]).mean()


def _member_gradients(members, x, y):
    """Per member: the logits and the input gradient of its batch-mean CE, graphs kept."""
    logits, grads = [], []
    for member in members:
        x_in = x.detach().requires_grad_(True)
        z = member(x_in)
        loss = F.cross_entropy(z, y, reduction="none")
        grad, = torch.autograd.grad(loss.sum(), x_in, create_graph=True)
        logits.append(z)
        grads.append(grad.flatten(1) / len(x))
    return logits, grads


def raw_smoothness_points(members, x, y, eps, step, n_iter, gen):
    """PGD up ``L_smooth`` from a uniform start in the Linf ball (members used as given)."""
    u = torch.rand(x.shape, generator=gen, dtype=torch.float32)
    x_adv = (x + eps * (-1.0 + 2.0 * u)).clamp(0, 1).detach()
    for _ in range(n_iter):
        x_var = x_adv.requires_grad_(True)
        grads = []
        for member in members:
            loss = F.cross_entropy(member(x_var), y, reduction="none").mean()
            g, = torch.autograd.grad(loss, x_var, create_graph=True)
            grads.append(g.flatten(1))
        grad, = torch.autograd.grad(_smoothness(grads), x_var)
        x_adv = x_adv.detach() + step * grad.sign()
        x_adv = (x + (x_adv - x).clamp(-eps, eps)).clamp(0, 1).detach()
    return x_adv


def raw_loss(model, x, t, *, eps, step_size, n_iter, gen, epoch=0):
    """TRS's loss of one batch (``step_size`` unused: TRS steps ``eps_t / 3``)."""
    members = list(model.members)
    logits, grads = _member_gradients(members, x, t)
    clean = torch.stack([F.cross_entropy(z, t) for z in logits]).sum()
    cos = _cosine(grads)
    eps_t = smooth_eps(eps, epoch)
    if eps_t > 0 and len(x) >= 2:
        half = len(x) // 2
        step = STEP_FRACTION * eps / eps * eps_t
        frozen(model, True)
        try:
            x_far = raw_smoothness_points(members, x[half:], t[half:], eps_t, step, n_iter, gen)
        finally:
            frozen(model, False)
        _, smooth_grads = _member_gradients(members, torch.cat([x[:half], x_far]), t)
    else:
        smooth_grads = grads
    smooth = _smoothness(smooth_grads)
    return clean + SCALE * (COEFF * cos + LAMDA * smooth)
