"""Networks that sit on a classifier's hidden features, for feature-level games.

Defenses such as DIAL and AFD train a second network on the features
``module.features(x)`` (the features contract of :mod:`robustsk.modules`) to
tell clean from adversarial examples, and train the features to defeat it:

* :func:`grad_reverse`: the gradient-reversal layer of domain-adversarial
  training (identity forward, gradient times ``-weight`` backward);
* :class:`DomainHead`: DIAL's domain classifier (clean = 0, adversarial = 1);
* :class:`FeatureCritic`: AFD's discriminator, a spectrally normalised critic
  with a label-projection term.
"""
import torch
from torch import nn
from torch.nn.utils import spectral_norm

__all__ = ["GradientReversal", "grad_reverse", "DomainHead", "FeatureCritic"]


class GradientReversal(torch.autograd.Function):
    """Identity in the forward pass; the gradient times ``-weight`` in the backward pass.

    Ganin & Lempitsky's gradient-reversal layer: a head trained to minimise its
    loss through it makes the layers below *maximise* that loss, so one
    optimizer plays both sides of the game. Call it through :func:`grad_reverse`.

    References
    ----------
    .. [1] Ganin, Y. and Lempitsky, V. "Unsupervised Domain Adaptation by
       Backpropagation." ICML, 2015.
    """

    @staticmethod
    def forward(ctx, x, weight):
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.neg() * ctx.weight, None


def grad_reverse(x, weight=1.0):
    """``x`` unchanged, with its gradient multiplied by ``-weight`` on the way back.

    Parameters
    ----------
    x : Tensor
    weight : float, default=1.0
        Non-negative scale of the reversed gradient (DIAL's lambda).

    Returns
    -------
    Tensor
        Equal to ``x``.

    Examples
    --------
    >>> import torch
    >>> x = torch.ones(3, requires_grad=True)
    >>> grad_reverse(x, 0.5).sum().backward()
    >>> x.grad
    tensor([-0.5000, -0.5000, -0.5000])
    """
    return GradientReversal.apply(x, float(weight))


class DomainHead(nn.Module):
    """DIAL's domain classifier: Linear, BatchNorm, ReLU, Linear to 2 logits.

    The reference code's ``domain_classifier`` (100 hidden units, BatchNorm);
    logit 0 is "clean", logit 1 "adversarial".

    Parameters
    ----------
    in_features : int
        Width of the features it reads.
    hidden_units : int, default=100
    n_domains : int, default=2
    batch_norm : bool, default=True
        BatchNorm1d after the first layer, as in the reference code.

    Examples
    --------
    >>> import torch
    >>> DomainHead(8)(torch.zeros(4, 8)).shape
    torch.Size([4, 2])
    """

    def __init__(self, in_features, hidden_units=100, n_domains=2, batch_norm=True):
        super().__init__()
        layers = [nn.Flatten(), nn.Linear(in_features, hidden_units)]
        if batch_norm:
            layers.append(nn.BatchNorm1d(hidden_units))
        layers += [nn.ReLU(), nn.Linear(hidden_units, n_domains)]
        self.net = nn.Sequential(*layers)

    def forward(self, h):
        return self.net(h)


class FeatureCritic(nn.Module):
    """AFD's discriminator: a critic score for features ``h`` of examples of class ``y``.

    Two spectrally normalised linear layers of ``hidden_units`` with
    LeakyReLU(0.2), a spectrally normalised linear output, plus the
    projection term ``<embed(y), phi(h)>`` of a spectrally normalised class
    embedding (the reference code's ``SNPDFC3``). The output is an unbounded
    score (a Wasserstein critic), high for clean and low for adversarial
    features once trained.

    Spectral normalisation is torch's ``torch.nn.utils.spectral_norm`` (a
    hook); the ``parametrizations`` version is not used because a module using
    it cannot be pickled, and fitted estimators must be.

    Parameters
    ----------
    in_features : int
        Width of the features it reads.
    n_classes : int
        Number of classes (0: no projection term).
    hidden_units : int or None, default=None
        None uses ``in_features`` (as the reference code does).
    negative_slope : float, default=0.2

    Examples
    --------
    >>> import torch
    >>> FeatureCritic(8, 3)(torch.zeros(4, 8), torch.tensor([0, 1, 2, 0])).shape
    torch.Size([4])
    """

    def __init__(self, in_features, n_classes, hidden_units=None, negative_slope=0.2):
        super().__init__()
        width = in_features if hidden_units is None else hidden_units
        self.body = nn.Sequential(
            nn.Flatten(), spectral_norm(nn.Linear(in_features, width)),
            nn.LeakyReLU(negative_slope), spectral_norm(nn.Linear(width, width)),
            nn.LeakyReLU(negative_slope))
        self.out = spectral_norm(nn.Linear(width, 1))
        nn.init.xavier_uniform_(self.out.weight_orig)
        self.embed = None
        if n_classes > 0:
            self.embed = spectral_norm(nn.Embedding(n_classes, width))
            nn.init.xavier_uniform_(self.embed.weight_orig)

    def forward(self, h, y=None):
        phi = self.body(h)
        score = self.out(phi).squeeze(1)
        if y is not None and self.embed is not None:
            score = score + (self.embed(y) * phi).sum(1)
        return score
