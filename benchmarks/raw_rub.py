"""aRUB's training loss by hand: ``overhead.py``'s raw loop for ``rub``.

Mirrors one batch of :class:`robustsk.defenses.RobustUpperBoundTraining` with
its default ``method="arub"``: no inner attack; on its own one-hidden-layer
ReLU network over the flattened input (``hidden_units=100``), the
first-order robust upper bound of the cross-entropy for the Linf ball ::

    mean_n log sum_k exp(z_k - z_y + eps * ||grad_x (z_k - z_y)||_1)

with one input gradient per class ``k`` (the gradient of the batch's summed
gap, its graph kept: double backpropagation), in robustsk's order: the
logits once, the gaps, then the classes in order. Adam over the network's
parameters.

Plain torch for the arithmetic: the network class (MLP) is robustsk's,
nothing else is.
"""
import torch

from robustsk.defenses import RobustUpperBoundTraining
from robustsk.modules import MLP

__all__ = ["NAME", "ESTIMATOR", "HIDDEN_UNITS", "estimator_kwargs", "raw_model", "raw_loss"]

NAME = "rub"
ESTIMATOR = RobustUpperBoundTraining
#: width of the hidden layer (robustsk's default, passed explicitly)
HIDDEN_UNITS = 100


def estimator_kwargs(args):
    """aRUB on the default one-hidden-layer network the raw side builds."""
    return {"method": "arub", "hidden_units": HIDDEN_UNITS}


def raw_model(lr, input_shape, n_classes):
    """The one-hidden-layer MLP robustsk builds for RUB, and Adam over it."""
    model = MLP(input_shape, n_classes, hidden_units=(HIDDEN_UNITS,))
    return model, torch.optim.Adam(model.parameters(), lr=lr)


def raw_loss(model, x, t, *, eps, step_size, n_iter, gen, epoch=0):
    """The aRUB loss of one batch (``step_size``, ``n_iter``, ``gen``, ``epoch`` unused)."""
    x = x.detach().requires_grad_(True)
    logits = model(x)
    gaps = logits - logits.gather(1, t[:, None])
    exponents = []
    for k in range(logits.shape[1]):
        grad, = torch.autograd.grad(gaps[:, k].sum(), x, create_graph=True, retain_graph=True)
        exponents.append(gaps[:, k] + eps * grad.flatten(1).abs().sum(-1))
    return torch.logsumexp(torch.stack(exponents, 1), 1).mean()
