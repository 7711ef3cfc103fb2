"""SDP-certified training by hand: ``overhead.py``'s raw loop for ``sdp``.

Mirrors one batch of :class:`robustsk.defenses.SDPCertifiedNetwork` with its
default parameters (``hidden_units=100``, ``sdp_weight=0.01``, passed
explicitly): no attack; on the clean batch the network
``f(x) = V relu(W flatten(x) + b) + c`` (robustsk's
:class:`~robustsk.certify.sdp.SDPNet`, whose ``dual_offset`` of shape
(45, 885) holds trained offsets of the duals) and the loss::

    CE(f(x), y) + SDP_WEIGHT * ((eps / 4) * sum_{i < j} B_ij)
    B_ij = D relu(lambda_max(M_ij - diag(c_ij))) + sum relu(c_ij)

over the 45 pairs ``i < j`` in ``itertools.combinations`` order, with
``D = 1 + 784 + 100``, ``M_ij`` the block matrix over (1, input, hidden) with
``A = W^T diag(V_i - V_j)``, ``A 1`` coupling the homogenising coordinate to
the input block and ``A`` coupling input and hidden, built by the same
products, sums and concatenations as robustsk's ``sdp_matrix``, and
``c_ij = sum_k |M_ij|_{:k}`` (the Gershgorin duals) plus the trained offset.
Everything in float32 (the module's dtype, as in training: robustsk's
``pairwise_dual_bounds(dtype=None)``), the top eigenvalue from the same
routine, ``torch.linalg.eigvalsh`` on the batch of 45 matrices (with autograd:
the eigenvectors too, for the backward pass). The logits come first, then the
certificate. One Adam over the SDPNet's parameters (``dual_offset`` first, then
the layers), as robustsk's ``module_.parameters()``.

Cost: the certificate does not depend on the batch, but each batch solves 45
symmetric eigenproblems of size 885 and back-propagates through them: about
7-10 s per batch of 64 on one CPU thread here (``eigvalsh`` and its backward
pass are over 95 % of it), against milliseconds for the network, so this row
times eigendecompositions, and ``check_same_arithmetic`` (one batch each side)
takes about 17 s.

Plain torch for the arithmetic: the network class (SDPNet) is robustsk's,
nothing else is.
"""
import itertools

import torch
import torch.nn.functional as F

from robustsk.certify.sdp import SDPNet
from robustsk.defenses import SDPCertifiedNetwork

__all__ = ["NAME", "ESTIMATOR", "HIDDEN_UNITS", "SDP_WEIGHT", "estimator_kwargs", "raw_model",
           "raw_loss"]

NAME = "sdp"
ESTIMATOR = SDPCertifiedNetwork
#: width of the hidden layer and weight of the certificate (robustsk's defaults)
HIDDEN_UNITS, SDP_WEIGHT = 100, 0.01


def estimator_kwargs(args):
    """SDP training of the default SDPNet, with the width and weight the raw side uses."""
    return {"hidden_units": HIDDEN_UNITS, "sdp_weight": SDP_WEIGHT}


def raw_model(lr, input_shape, n_classes):
    """The SDPNet robustsk builds (same class, same draws) and Adam over it."""
    model = SDPNet(input_shape, n_classes, hidden_units=HIDDEN_UNITS)
    return model, torch.optim.Adam(model.parameters(), lr=lr)


def _pair_matrices(W, V):
    """``M_ij`` of every pair ``i < j``: shape (n_pairs, 1 + d + m, 1 + d + m)."""
    i, j = (torch.tensor(idx) for idx in zip(*itertools.combinations(range(V.shape[0]), 2)))
    A = W.T * (V[i] - V[j]).unsqueeze(-2)            # (n_pairs, d, m)
    n_pairs, (d, m) = A.shape[0], A.shape[-2:]
    a = A.sum(-1, keepdim=True)                       # A 1, (n_pairs, d, 1)
    top = torch.cat([A.new_zeros(n_pairs, 1, 1), a.transpose(-1, -2),
                     A.new_zeros(n_pairs, 1, m)], -1)
    mid = torch.cat([a, A.new_zeros(n_pairs, d, d), A], -1)
    low = torch.cat([A.new_zeros(n_pairs, m, 1), A.transpose(-1, -2),
                     A.new_zeros(n_pairs, m, m)], -1)
    return torch.cat([top, mid, low], -2)


def raw_loss(model, x, t, *, eps, step_size, n_iter, gen, epoch=0):
    """CE plus the weighted dual SDP certificate (``step_size``, ``n_iter``, ``gen`` unused)."""
    clean = F.cross_entropy(model(x), t)
    W, V = model.net[1].weight, model.net[3].weight
    M = _pair_matrices(W, V)
    c = M.abs().sum(-1) + model.dual_offset
    top = torch.linalg.eigvalsh(M - torch.diag_embed(c))[..., -1]
    bounds = M.shape[-1] * torch.relu(top) + torch.relu(c).sum(-1)
    return clean + SDP_WEIGHT * ((eps / 4) * bounds.sum())
