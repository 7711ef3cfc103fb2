"""DIAL's training loss by hand: ``overhead.py``'s raw loop for ``dial``.

Mirrors one batch of :class:`robustsk.defenses.DomainInvariantAdversarialLearning`
with its default ``mode="ce"`` (DIAL-CE): with the SmallCNN in eval mode and
its parameters frozen, PGD from ``x + 0.001 N(0, 1)`` (unclipped), ``n_iter``
signed steps on the summed CE, each projected onto the Linf ball and clipped
to [0, 1], the last iterate; then, in train mode, ::

    CE(f(x), y) + BETA * CE(f(x'), y) + DOMAIN_WEIGHT * (CE(D(R(h))_clean, 0) + CE(D(R(h'))_adv, 1))

where ``h``, ``h'`` are the SmallCNN's features (its last hidden layer, after
the ReLU; the logits are its final linear layer on them), ``D`` a
:class:`~robustsk.heads.DomainHead` reading the clean and adversarial
features as one batch, and ``R`` gradient reversal (identity forward,
``-lambda`` times the gradient backward) with DANN's weight
``lambda = 2 / (1 + exp(-10 p)) - 1`` at ``p = (epoch + 1) / max_epochs``
clipped to [0, 1] (robustsk reads ``len(history)`` during the epoch, and skorch
adds the epoch's row before its first batch, hence ``epoch + 1``). One Adam
trains the SmallCNN and the head, their parameters in that order (robustsk's
``module_`` then ``domain_head_``).

Plain torch for the arithmetic: the network classes (SmallCNN, DomainHead) are
robustsk's, nothing else is.
"""
import math

from raw_loops import frozen
import torch
from torch import nn
import torch.nn.functional as F

from robustsk.defenses import DomainInvariantAdversarialLearning
from robustsk.heads import DomainHead
from robustsk.modules import SmallCNN

__all__ = ["NAME", "ESTIMATOR", "estimator_kwargs", "raw_model", "raw_loss", "robustsk_state",
           "load_robustsk_state", "robustsk_parameters"]

NAME = "dial"
ESTIMATOR = DomainInvariantAdversarialLearning
#: DIAL's weights (robustsk's defaults, the paper's MNIST values), passed explicitly
BETA, DOMAIN_WEIGHT = 6.0, 0.1
#: ``overhead._estimator`` fits with ``max_epochs=1`` (the schedule's denominator)
MAX_EPOCHS = 1
#: scale of the Gaussian start (robustsk's ``init_std``)
INIT_STD = 1e-3


def estimator_kwargs(args):
    """DIAL-CE with the weights the raw loss uses."""
    return {"mode": "ce", "beta": BETA, "domain_weight": DOMAIN_WEIGHT}


class DIALNet(nn.Module):
    """The SmallCNN (``module``) and the domain head on its features (``domain_head``)."""

    def __init__(self, input_shape, n_classes):
        super().__init__()
        self.module = SmallCNN(input_shape, n_classes)
        with torch.no_grad():  # the features' width, as robustsk sizes the head (no draws)
            self.module.eval()
            width = self.module.features(torch.zeros(2, *input_shape)).flatten(1).shape[1]
            self.module.train()
        self.domain_head = DomainHead(width)

    def forward(self, x):
        return self.module(x)


def raw_model(lr, input_shape, n_classes):
    """The network and the domain head (drawn in that order), one Adam over both."""
    model = DIALNet(input_shape, n_classes)
    return model, torch.optim.Adam(model.parameters(), lr=lr)


class _Reverse(torch.autograd.Function):
    """Identity forward; ``-weight`` times the gradient backward."""

    @staticmethod
    def forward(ctx, x, weight):
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.neg() * ctx.weight, None


def reversal_weight(epoch, gamma=10.0):
    """DANN's lambda during the epoch after ``epoch`` finished ones."""
    p = min(max(float((epoch + 1) / MAX_EPOCHS), 0.0), 1.0)
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


def _pgd_normal(net, x, t, eps, step_size, n_iter, gen):
    """PGD on the summed CE from ``x + 0.001 N(0, 1)``, the last iterate."""
    x_adv = x + INIT_STD * torch.randn(x.shape, generator=gen, dtype=torch.float32)
    for _ in range(n_iter):
        x_in = x_adv.detach().requires_grad_(True)
        loss = F.cross_entropy(net(x_in), t, reduction="none")
        grad, = torch.autograd.grad(loss.sum(), x_in)
        x_adv = x_in.detach() + step_size * grad.sign()
        x_adv = (x + (x_adv - x).clamp(-eps, eps)).clamp(0, 1)
    return x_adv.detach()


def raw_loss(model, x, t, *, eps, step_size, n_iter, gen, epoch=0):
    """DIAL-CE's loss of one batch, attack included (``model`` a :class:`DIALNet`)."""
    net = model.module
    net.eval()
    frozen(net, True)
    try:
        x_adv = _pgd_normal(net, x, t, eps, step_size, n_iter, gen)
    finally:
        frozen(net, False)
        net.train()
    h = net.features(x)
    logits = net.head(h)
    h_adv = net.features(x_adv)
    logits_adv = net.head(h_adv)
    natural = F.cross_entropy(logits, t)
    robust = F.cross_entropy(logits_adv, t)
    weight = reversal_weight(epoch)
    both = torch.cat([h, h_adv]).flatten(1)
    d_logits = model.domain_head(_Reverse.apply(both, float(weight)))
    n = len(h)
    clean = torch.zeros(n, dtype=torch.long)
    adv = torch.ones(len(h_adv), dtype=torch.long)
    domain = F.cross_entropy(d_logits[:n], clean) + F.cross_entropy(d_logits[n:], adv)
    return natural + BETA * robust + DOMAIN_WEIGHT * domain


def robustsk_state(clf):
    """``clf``'s (module, optimizer) state dicts, keyed like a :class:`DIALNet`'s."""
    state = {f"module.{k}": v for k, v in clf.module_.state_dict().items()}
    state.update({f"domain_head.{k}": v for k, v in clf.domain_head_.state_dict().items()})
    return state, clf.optimizer_.state_dict()  # one Adam, module_'s parameters first


def load_robustsk_state(clf, module_state, optimizer_state):
    """Load a pair of :func:`robustsk_state` back into ``clf``."""
    for prefix, target in (("module.", clf.module_), ("domain_head.", clf.domain_head_)):
        target.load_state_dict({k[len(prefix):]: v for k, v in module_state.items()
                                if k.startswith(prefix)})
    clf.optimizer_.load_state_dict(optimizer_state)


def robustsk_parameters(clf):
    """``clf``'s parameters, named as a :class:`DIALNet`'s ``named_parameters()``."""
    params = {f"module.{k}": p for k, p in clf.module_.named_parameters()}
    params.update({f"domain_head.{k}": p for k, p in clf.domain_head_.named_parameters()})
    return params
