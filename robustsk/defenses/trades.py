"""TRADES (Zhang et al., 2019)."""
import numpy as np
import torch
import torch.nn.functional as F

from ..attacks import Randomness, as_box, attack_context, clip_box, input_gradient, kl_to_clean
from ..attacks.pgd import pgd
from ..base import RobustClassifier
from ..params import InstanceOf, Interval
from .speedups import TrainingSpeedups

__all__ = ["TRADES", "trades_loss", "trades_l2_examples"]


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


def trades_l2_examples(model, x, *, eps, n_iter, step_size=None, clip_min=None, clip_max=None,
                       random_state=None, init_std=0.001, clean_logits=None):
    """TRADES's inner maximisation in the L2 ball, as the authors' code does it.

    The official implementation's L2 variant runs SGD on ``delta`` with a
    renormalised gradient rather than projected gradient ascent: from
    ``delta = init_std * N(0, 1)`` (not clipped), each of ``n_iter`` steps
    adds ``step_size * g / ||g||`` (``g`` the gradient of the summed
    ``KL(f(x) || f(x + delta))``; a standard normal draw instead where
    ``||g|| = 0``), clips ``x + delta`` to the box, then rescales ``delta``
    onto the ball with ``torch.renorm`` (clip first, then rescale). Written
    here because no attack of :mod:`robustsk.attacks` takes these steps (PGD
    projects before it clips and draws no direction for a zero gradient).

    Parameters
    ----------
    model : torch.nn.Module
        Inputs to logits; in eval mode during the attack, restored after.
    x : Tensor of shape (n, ...)
    eps : float
        L2 radius.
    n_iter : int
    step_size : float, default=None
        None: the official ``2 * eps / n_iter`` (the SGD learning rate).
    clip_min, clip_max : float, array-like or None
        The input domain.
    random_state : Randomness, torch.Generator, int or None
    init_std : float, default=0.001
    clean_logits : Tensor of shape (n, n_classes), default=None
        The KL target's logits, if already computed; None: ``model(x)`` in
        eval mode.

    Returns
    -------
    x_adv : Tensor with the shape of ``x``, detached

    References
    ----------
    .. [1] Zhang, H. et al. "Theoretically Principled Trade-off between
       Robustness and Accuracy." ICML, 2019 (and its code, ``trades.py``,
       ``distance='l_2'``).

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(4, 3)
    >>> x_adv = trades_l2_examples(torch.nn.Linear(3, 2), x, eps=0.5, n_iter=3,
    ...                            clip_min=0.0, clip_max=1.0, random_state=0)
    >>> bool(((x_adv - x).norm(dim=1) <= 0.5 + 1e-6).all())
    True
    """
    x = x.detach()
    if n_iter == 0:
        return x.clone()
    rng = Randomness.coerce(random_state, len(x))
    step = 2 * eps / n_iter if step_size is None else step_size
    lo, hi = as_box(clip_min, clip_max, x)
    shape = (-1,) + (1,) * (x.ndim - 1)
    with attack_context(model, "eval"):
        if clean_logits is None:
            with torch.no_grad():
                clean_logits = model(x)
        clean = clean_logits.detach()
        delta = init_std * rng.normal(x)
        for _ in range(n_iter):
            _, _, grad = input_gradient(model, x + delta, None, kl_to_clean, clean_logits=clean)
            norms = grad.flatten(1).norm(p=2, dim=1)
            unit = grad / norms.view(shape)
            zero = norms == 0
            if bool(zero.any()):
                unit[zero] = rng.subset(zero).normal(x[zero])
            delta = delta + step * unit
            delta = clip_box(x + delta, lo, hi) - x
            delta = delta.renorm(p=2, dim=0, maxnorm=eps)
    return (x + delta).detach()


class TRADES(TrainingSpeedups, RobustClassifier):
    """TRADES: clean cross-entropy plus ``beta`` times the KL to an adversarial example.

    The inner attack maximises ``KL(f(x) || f(x'))`` (not the CE): it starts at
    ``x + 0.001 N(0, 1)`` (no clip before the first step) and takes ``n_iter``
    signed steps of ``step_size``, projecting and clipping after each, with the
    network in eval mode; the loss is computed in train mode. With ``norm=2``
    it follows the authors' L2 code instead (:func:`trades_l2_examples`:
    normalised-gradient steps of ``step_size``, by default ``2 * eps /
    n_iter`` as there, each followed by a clip to the box and a rescaling
    onto the ball). The history
    records ``train_loss`` (the total), ``train_clean_loss`` (the CE term) and
    ``train_robust_loss`` (the KL term, before ``beta``).

    Parameters
    ----------
    beta : float, default=6.0
        Weight of the robust term (1/lambda in the paper); 6 is the paper's
        CIFAR-10 value, 1 the MNIST script's.
    reuse_clean_logits : bool, default=False
        Compute the clean logits once per batch, in train mode and before the
        attack, and use them both as the attack's KL target (detached) and in
        the loss, sparing the attack's own clean forward pass (one of about
        ``2 n_iter + 3`` passes per batch). Exactly the paper's arithmetic for
        networks whose train and eval modes agree (no batch norm or dropout,
        as :class:`~robustsk.modules.SmallCNN`); with batch norm the KL target
        is then the train-mode prediction. The clean forward's graph stays
        alive during the attack (more memory).
    compile_attack : bool, default=False
        ``torch.compile`` the network for the inner attack (opt-in; see
        :mod:`robustsk.defenses.speedups`).
    autocast : {None, "bfloat16"}, default=None
        Run the attack and the loss under bf16 autocast on ``device``.
    channels_last : bool, default=False
        ``torch.channels_last`` weights and images (4-d inputs only).
    **kwargs
        Threat model (``eps``, ``norm``, ``step_size`` = eps/4 by default,
        ``2 * eps / n_iter`` for ``norm=2``,
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

    _parameter_constraints = {
        "beta": [Interval(float, 0, None)],
        "reuse_clean_logits": [InstanceOf((bool, np.bool_), "True or False")],
    }

    def __init__(self, module=None, *, beta=6.0, reuse_clean_logits=False, compile_attack=False,
                 autocast=None, channels_last=False, **kwargs):
        super().__init__(module, **kwargs)
        self.beta = beta
        self.reuse_clean_logits = reuse_clean_logits
        self.compile_attack = compile_attack
        self.autocast = autocast
        self.channels_last = channels_last

    def train_step_single(self, batch, **fit_params):
        x, y = self.unpack_batch(batch)
        x = self.speedup_inputs(x)
        with self.speedup_context():
            logits = self.infer(x, **fit_params) if self.reuse_clean_logits else None
            x_adv = self._inner_examples(x, y, None if logits is None else logits.detach())
            if logits is None:
                logits = self.infer(x, **fit_params)
            logits_adv = self.infer(x_adv, **fit_params)
            loss, natural, robust = trades_loss(logits, logits_adv, y, self.beta)
        loss.backward()
        self.record_loss("clean_loss", natural)
        self.record_loss("robust_loss", robust)
        return {"loss": loss, "y_pred": logits}

    def _inner_examples(self, x, y, clean_logits):
        """The inner maximisation; ``clean_logits`` (or None) is the KL target."""
        threat = self.threat_
        if threat.norm == "2":
            return trades_l2_examples(
                self.attack_module(), x, eps=threat.eps, n_iter=threat.n_iter,
                step_size=self.step_size, clip_min=threat.clip_min, clip_max=threat.clip_max,
                random_state=self.training_randomness(), clean_logits=clean_logits)
        loss = "kl"
        if clean_logits is not None:
            def loss(logits, y_, **_):
                return kl_to_clean(logits, y_, clean_logits=clean_logits)
        return pgd(self.attack_module(), x, y, **threat.attack_kwargs(),
                   n_iter=threat.n_iter, random_start="normal", loss=loss,
                   return_best=False, mode="eval", random_state=self.training_randomness())
