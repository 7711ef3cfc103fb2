"""R+FGSM: a random sign step, then a gradient sign step (Tramer et al., 2018)."""
import torch

from ._checks import check_labels, check_threat
from ._primitives import Randomness, as_box, attack_context, clip_box, input_gradient
from .base import Attack
from .losses import objective
from .tracking import BestIterate

__all__ = ["rfgsm", "RFGSM"]


def _check_alpha(alpha, eps):
    alpha = 0.5 * eps if alpha is None else float(alpha)
    if not 0 <= alpha < eps:
        raise ValueError(
            f"alpha={alpha!r} must lie in [0, eps) with eps={eps}: the random step uses alpha "
            "and the gradient step the rest of the budget, eps - alpha. Pass a smaller alpha "
            "(the default is eps / 2).")
    return alpha


def rfgsm(model, x, y, *, eps, alpha=None, loss="ce", y_target=None, clip_min=None,
          clip_max=None, mode="eval", return_best=True, random_state=None):
    """R+FGSM in the Linf ball: ``x1 = clip(x + alpha sign(N(0, I)))``, then
    ``x' = clip(x1 + (eps - alpha) sign(grad loss(x1)))``.

    Parameters
    ----------
    model : torch.nn.Module
    x : Tensor of shape (n_samples, ...)
    y : LongTensor of shape (n_samples,)
    eps : float
    alpha : float, default=None
        Size of the random step, in ``[0, eps)``; ``eps / 2`` when None.
    loss : str or callable, default="ce"
    y_target : LongTensor, default=None
    clip_min, clip_max : float or Tensor, default=None
    mode : {"eval", "train", None}, default="eval"
    return_best : bool, default=True
        Keep the clean input where the attack did not raise the loss.
    random_state : int, torch.Generator, Randomness or None

    Returns
    -------
    x_adv : Tensor

    References
    ----------
    .. [1] Tramer, F., Kurakin, A., Papernot, N., Goodfellow, I., Boneh, D. and
       McDaniel, P. "Ensemble Adversarial Training: Attacks and Defenses." ICLR, 2018.

    Examples
    --------
    >>> import torch
    >>> from robustsk.attacks import rfgsm
    >>> rfgsm(torch.nn.Linear(4, 2), torch.rand(3, 4), torch.tensor([0, 1, 0]),
    ...       eps=0.1, random_state=0).shape
    torch.Size([3, 4])
    """
    eps, _, _ = check_threat(eps, "inf", 0.0)
    alpha = _check_alpha(alpha, eps) if eps > 0 else 0.0
    y = check_labels(y, x)
    y_target = check_labels(y_target, x, "y_target")
    x = x.detach()
    if eps == 0 or len(x) == 0:
        return x.clone()
    box = as_box(clip_min, clip_max, x)
    rng = Randomness.coerce(random_state, len(x))
    fn = objective(loss, y_target is not None)
    kw = {"y_target": y_target}
    with attack_context(model, mode):
        x1 = clip_box(x + alpha * rng.normal(x).sign(), *box)
        _, _, grad = input_gradient(model, x1, y, fn, **kw)
        x_adv = clip_box(x1 + (eps - alpha) * grad.sign(), *box)
        x_adv = clip_box(torch.min(torch.max(x_adv, x - eps), x + eps), *box)
        if not return_best:
            return x_adv
        with torch.no_grad():
            logits = model(x)
            tracker = BestIterate(x, logits, fn(logits, y, **kw), y, y_target)
            logits = model(x_adv)
            tracker.update(x_adv, logits, fn(logits, y, **kw))
        return tracker.x


class RFGSM(Attack):
    """R+FGSM attack (Linf): a random sign step of ``alpha``, then FGSM with ``eps - alpha``.

    Parameters
    ----------
    eps : float, default=None
        None inherits the estimator's ``eps``.
    alpha : float, default=None
        Random step in ``[0, eps)``; ``eps / 2`` when None.
    loss : str or callable, default="ce"
    clip_min, clip_max : float or array-like, default=None
    batch_size : int, default=256
    random_state : int or None, default=None

    References
    ----------
    .. [1] Tramer, F. et al. "Ensemble Adversarial Training: Attacks and Defenses."
       ICLR, 2018.

    Examples
    --------
    >>> from robustsk.attacks import RFGSM
    >>> RFGSM(eps=0.3, alpha=0.05).alpha
    0.05
    """

    def __init__(self, eps=None, alpha=None, loss="ce", clip_min=None, clip_max=None,
                 batch_size=256, random_state=None):
        self.eps = eps
        self.alpha = alpha
        self.loss = loss
        self.clip_min = clip_min
        self.clip_max = clip_max
        self.batch_size = batch_size
        self.random_state = random_state

    def resolve_threat(self, target):
        threat = super().resolve_threat(target)
        if threat.norm != "inf":
            raise ValueError(f"RFGSM is an Linf attack; the threat model has norm={threat.norm}."
                             " Use PGD(norm=2) for an L2 threat model.")
        return threat

    def perturb(self, model, x, y, *, threat, rng, y_target=None):
        """Run R+FGSM (:func:`rfgsm`) on one batch of tensors.

        Parameters and return value as :meth:`robustsk.attacks.Attack.perturb`.
        """
        return rfgsm(model, x, y, eps=threat.eps, alpha=self.alpha, loss=self.loss,
                     y_target=y_target, clip_min=threat.clip_min, clip_max=threat.clip_max,
                     random_state=rng)
