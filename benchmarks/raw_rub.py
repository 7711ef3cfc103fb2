"""aRUB's training loss by hand: ``overhead.py``'s raw loop for ``rub`` (and ``rub-mlp``).

Mirrors one batch of :class:`robustsk.defenses.RobustUpperBoundTraining` with
its default ``method="arub"``: no inner attack; the first-order robust upper
bound of the cross-entropy for the Linf ball ::

    mean_n log sum_k exp(z_k - z_y + eps * ||grad_x (z_k - z_y)||_1)

with one input gradient per class ``k`` (the gradient of the batch's summed
gap, its graph kept: double backpropagation), in robustsk's order: the
logits once, the gaps, then the classes in order. Adam over the network's
parameters.

``rub`` trains the benchmark's SmallCNN (``module=SmallCNN``: aRUB trains any
network), as every other row of the table does; ``rub-mlp``
(``raw_rub_mlp.py``) RUB's own default, a one-hidden-layer ReLU network over
the flattened input (``hidden_units=100``), whose batch costs about 12 ms
here: there skorch's and the guard's fixed cost per batch and per call weighs
more than on a CNN.

Plain torch for the arithmetic: the network classes are robustsk's,
nothing else is.
"""
import torch

from robustsk.defenses import RobustUpperBoundTraining
from robustsk.modules import SmallCNN

__all__ = ["NAME", "ESTIMATOR", "estimator_kwargs", "raw_loss"]

NAME = "rub"
ESTIMATOR = RobustUpperBoundTraining


def estimator_kwargs(args):
    """aRUB on the SmallCNN the raw side builds by default (same class, same seed)."""
    return {"method": "arub", "module": SmallCNN, "module__input_shape": (1, 28, 28),
            "module__n_classes": 10}


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
