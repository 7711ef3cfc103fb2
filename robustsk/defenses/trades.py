"""TRADES (Zhang et al., 2019)."""
import torch.nn.functional as F

from ..attacks.pgd import pgd
from ..base import RobustClassifier
from ..params import Interval

__all__ = ["TRADES", "trades_loss"]


def trades_loss(logits_clean, logits_adv, y, beta):
    """``CE(f(x), y) + beta * KL(softmax f(x) || softmax f(x'))``.

    The KL is summed over classes and averaged over the batch; the clean
    softmax is not detached, so the gradient flows through both terms.

    Parameters
    ----------
    logits_clean, logits_adv : Tensor of shape (n, n_classes)
    y : LongTensor of shape (n,)
    beta : float

    Returns
    -------
    loss, natural, robust : Tensor
        The total loss and its two terms.

    Examples
    --------
    >>> import torch
    >>> z = torch.zeros(2, 3)
    >>> float(trades_loss(z, z, torch.tensor([0, 1]), beta=6.0)[2])
    0.0
    """
    natural = F.cross_entropy(logits_clean, y)
    robust = F.kl_div(F.log_softmax(logits_adv, dim=1), F.softmax(logits_clean, dim=1),
                      reduction="sum") / len(y)
    return natural + beta * robust, natural, robust


class TRADES(RobustClassifier):
    """TRADES: clean cross-entropy plus ``beta`` times the KL to an adversarial example.

    The inner attack maximises ``KL(f(x) || f(x'))`` (not the CE): it starts at
    ``x + 0.001 N(0, 1)`` (no clip before the first step) and takes ``n_iter``
    signed steps of ``step_size``, projecting and clipping after each, with the
    network in eval mode; the loss is computed in train mode. The history
    records ``train_loss`` (the total), ``train_clean_loss`` (the CE term) and
    ``train_robust_loss`` (the KL term, before ``beta``).

    Parameters
    ----------
    beta : float, default=6.0
        Weight of the robust term (1/lambda in the paper); 6 is the paper's
        CIFAR-10 value, 1 the MNIST script's.
    **kwargs
        Threat model (``eps``, ``norm``, ``step_size`` = eps/4 by default,
        ``n_iter`` = 10, ``clip_min``, ``clip_max``) and every parameter of
        :class:`~robustsk.base.RobustClassifier`. The criterion is not used:
        the loss is :func:`trades_loss`.

    References
    ----------
    .. [1] Zhang, H., Yu, Y., Jiao, J., Xing, E. P., El Ghaoui, L. and Jordan,
       M. I. "Theoretically Principled Trade-off between Robustness and
       Accuracy." ICML, 2019.

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import TRADES
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = TRADES(beta=1.0, max_epochs=2, random_state=0).fit(X[:300], y[:300])
    >>> "train_clean_loss" in clf.history[-1]
    True
    """

    _parameter_constraints = {"beta": [Interval(float, 0, None)]}

    def __init__(self, module=None, *, beta=6.0, **kwargs):
        super().__init__(module, **kwargs)
        self.beta = beta

    def train_step_single(self, batch, **fit_params):
        x, y = self.unpack_batch(batch)
        x_adv = pgd(self.attack_module(), x, y, **self.threat_.attack_kwargs(),
                    n_iter=self.threat_.n_iter, random_start="normal", loss="kl",
                    return_best=False, mode="eval", random_state=self.training_randomness())
        logits = self.infer(x, **fit_params)
        logits_adv = self.infer(x_adv, **fit_params)
        loss, natural, robust = trades_loss(logits, logits_adv, y, self.beta)
        loss.backward()
        self.record_loss("clean_loss", natural)
        self.record_loss("robust_loss", robust)
        return {"loss": loss, "y_pred": logits}
