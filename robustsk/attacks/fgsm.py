"""The fast gradient sign method (Goodfellow et al., 2015) and its L2 twin."""
from .base import Attack
from .pgd import pgd

__all__ = ["fgsm", "FGSM"]


def fgsm(model, x, y, *, eps, norm="inf", loss="ce", y_target=None, clip_min=None,
         clip_max=None, mode="eval", return_best=True):
    """One step of size ``eps`` along the gradient's sign (Linf) or direction (L2).

    Parameters
    ----------
    model : torch.nn.Module
    x : Tensor of shape (n_samples, ...)
    y : LongTensor of shape (n_samples,)
    eps : float
    norm : {"inf", 2}, default="inf"
    loss : str or callable, default="ce"
    y_target : LongTensor, default=None
    clip_min, clip_max : float or Tensor, default=None
    mode : {"eval", "train", None}, default="eval"
    return_best : bool, default=True
        Keep the clean input where it is already misclassified or where the
        step lowered the loss (evaluation); False returns the step.

    Returns
    -------
    x_adv : Tensor

    References
    ----------
    .. [1] Goodfellow, I., Shlens, J. and Szegedy, C. "Explaining and Harnessing
       Adversarial Examples." ICLR, 2015.

    Examples
    --------
    >>> import torch
    >>> from robustsk.attacks import fgsm
    >>> x = torch.rand(3, 4)
    >>> x_adv = fgsm(torch.nn.Linear(4, 2), x, torch.tensor([0, 1, 0]), eps=0.1)
    >>> bool(((x_adv - x).abs() <= 0.1 + 1e-6).all())
    True
    """
    return pgd(model, x, y, eps=eps, norm=norm, step_size=eps, n_iter=1, random_start=None,
               loss=loss, y_target=y_target, clip_min=clip_min, clip_max=clip_max,
               return_best=return_best, mode=mode, random_state=0)


class FGSM(Attack):
    """Fast gradient sign method (single step of size ``eps``).

    Parameters
    ----------
    eps : float, default=None
        None inherits the estimator's ``eps``.
    norm : {"inf", 2}, default=None
        None inherits the estimator's ``norm``; 2 gives the fast gradient method.
    loss : str or callable, default="ce"
    clip_min, clip_max : float or array-like, default=None
        None inherits the estimator's box.
    batch_size : int, default=256

    References
    ----------
    .. [1] Goodfellow, I., Shlens, J. and Szegedy, C. "Explaining and Harnessing
       Adversarial Examples." ICLR, 2015.

    Examples
    --------
    >>> from robustsk.attacks import FGSM
    >>> FGSM(eps=0.1).get_params()["eps"]
    0.1
    """

    def __init__(self, eps=None, norm=None, loss="ce", clip_min=None, clip_max=None,
                 batch_size=256):
        self.eps = eps
        self.norm = norm
        self.loss = loss
        self.clip_min = clip_min
        self.clip_max = clip_max
        self.batch_size = batch_size

    def perturb(self, model, x, y, *, threat, rng, y_target=None):
        """Run FGSM (:func:`fgsm`) on one batch of tensors.

        Parameters and return value as :meth:`robustsk.attacks.Attack.perturb`.
        """
        return fgsm(model, x, y, eps=threat.eps, norm=threat.norm, loss=self.loss,
                    y_target=y_target, clip_min=threat.clip_min, clip_max=threat.clip_max)
