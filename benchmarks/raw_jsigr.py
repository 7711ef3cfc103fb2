"""J-SIGR by hand in plain PyTorch: ``overhead.py``'s ``jsigr`` loop.

Mirrors :class:`robustsk.defenses.JacobianSaliencyRegularization` with its
default parameters (``lambda_jacobian=0.01``, ``lambda_saliency=1.0``,
``n_projections=1``, ``saliency_quantile=0.5``): no attack; on the clean
batch, network in train mode, the loss::

    CE(f(x), y) + 0.01 * C ||v^T J(x)||^2 + 1.0 * ||mask(x) * grad_x CE(f(x), y)||^2

each term averaged over the batch, with ``v`` one standard normal draw of
shape (n, C) from ``gen`` normalised per example (Hoffman et al.'s random
projection of the logits' Jacobian ``J``, robustsk's
``jacobian_frobenius_estimate``) and ``mask`` the features whose detached
``|grad_x CE|`` is at most the example's median (robustsk's
``low_saliency_mask``). Both penalties are trained by double backprop
(``create_graph=True``).

The arithmetic, its order and the random draws from ``gen`` are robustsk's;
``overhead.py --check`` verifies it bit for bit.
"""
import torch
import torch.nn.functional as F

from robustsk.defenses import JacobianSaliencyRegularization

__all__ = ["NAME", "ESTIMATOR", "LAMBDA_JACOBIAN", "LAMBDA_SALIENCY", "QUANTILE", "raw_loss"]

NAME = "jsigr"
ESTIMATOR = JacobianSaliencyRegularization
#: JacobianSaliencyRegularization's defaults (one random projection)
LAMBDA_JACOBIAN, LAMBDA_SALIENCY, QUANTILE = 0.01, 1.0, 0.5


def raw_loss(model, x, t, *, eps, step_size, n_iter, gen, epoch=0):
    """The batch's J-SIGR loss (the threat model is unused: there is no attack)."""
    x_in = x.detach().requires_grad_(True)
    logits = model(x_in)
    ce = F.cross_entropy(logits, t, reduction="none")
    grad, = torch.autograd.grad(ce.sum(), x_in, create_graph=True)
    loss = ce.mean()

    n_classes = logits.shape[1]
    v = torch.randn((len(x), n_classes), generator=gen)
    v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
    x_in = x.detach().requires_grad_(True)
    projection = (model(x_in) * v).sum(1)
    grad_v, = torch.autograd.grad(projection.sum(), x_in, create_graph=True)
    jacobian = (grad_v.flatten(1).pow(2).sum(1) * float(n_classes)).mean()
    loss = loss + LAMBDA_JACOBIAN * jacobian

    saliency = grad.detach().abs().flatten(1)
    mask = (saliency <= torch.quantile(saliency, QUANTILE, dim=1, keepdim=True)).view_as(grad)
    loss = loss + LAMBDA_SALIENCY * (grad * mask).flatten(1).pow(2).sum(1).mean()
    return loss
