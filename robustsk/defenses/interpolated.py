"""Interpolated adversarial training: mixup on clean and on PGD data (Lamb et al., 2019)."""
import numpy as np
import torch

from ..base import RobustClassifier
from ..params import Interval, Options

__all__ = ["InterpolatedAdversarialTraining"]


class InterpolatedAdversarialTraining(RobustClassifier):
    """IAT: the mean of a mixup loss on clean data and a mixup loss on PGD data.

    Per batch: ``L_c`` is the mixup loss on the clean batch (``lambda ~
    Beta(alpha, alpha)``, a random permutation ``pi``, inputs
    ``lambda x + (1 - lambda) x[pi]``, loss ``lambda CE(., y) + (1 - lambda)
    CE(., y[pi])``); ``x'`` is PGD on the *unmixed* batch (uniform start,
    ``n_iter`` steps of ``step_size`` on the attack loss, network in eval mode,
    last iterate); ``L_a`` is the mixup loss on ``x'`` with a fresh lambda and
    permutation. The loss is ``(L_c + L_a) / 2``; the history records
    ``train_clean_loss`` (``L_c``) and ``train_adv_loss`` (``L_a``).

    With ``mix="features"`` (the manifold-mixup variant the paper also
    reports) the hidden features ``module.features(x)`` are mixed and
    ``module.head`` maps the mix to logits, so the module must follow the
    features contract of :mod:`robustsk.modules` (the default networks do).

    Randomness: lambda and the permutations come from the training random
    stream (``training_randomness().generator``), so the same ``random_state``
    gives the same weights. ``torch.distributions.Beta`` takes no generator:
    each lambda is drawn by a numpy ``Generator`` seeded with one 63-bit
    integer drawn from that torch stream.

    Parameters
    ----------
    alpha : float, default=1.0
        Parameter of the symmetric Beta distribution of lambda (> 0); 1 is
        uniform on [0, 1], the value of the public port cited in METHODS.md.
    mix : {"input", "features"}, default="input"
        Where to interpolate: the inputs (mixup) or the last hidden layer
        (manifold mixup).
    **kwargs
        Threat model (``eps``, ``norm``, ``step_size`` = eps/4 by default,
        ``n_iter`` = 10, ``clip_min``, ``clip_max``) and every other parameter of
        :class:`~robustsk.base.RobustClassifier` and skorch. The criterion
        (cross-entropy by default) is applied to each of the two labels.

    References
    ----------
    .. [1] Lamb, A., Verma, V., Kannala, J. and Bengio, Y. "Interpolated
       Adversarial Training: Achieving Robust Neural Networks without
       Sacrificing Too Much Accuracy." AISec (ACM CCS workshop), 2019.
    .. [2] Zhang, H., Cisse, M., Dauphin, Y. N. and Lopez-Paz, D. "mixup:
       Beyond Empirical Risk Minimization." ICLR, 2018.

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import InterpolatedAdversarialTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = InterpolatedAdversarialTraining(eps=0.1, n_iter=3, max_epochs=2, clip_min=0,
    ...                                       clip_max=1, random_state=0).fit(X[:300], y[:300])
    >>> sorted(k for k in clf.history[-1] if k.endswith("_loss"))
    ['train_adv_loss', 'train_clean_loss', 'train_loss']
    """

    _parameter_constraints = {
        "alpha": [Interval(float, 0, None, closed="neither")],
        "mix": [Options("input", "features")],
    }

    def __init__(self, module=None, *, alpha=1.0, mix="input", **kwargs):
        super().__init__(module, **kwargs)
        self.alpha = alpha
        self.mix = mix

    @property
    def requires_features(self):
        """Manifold mixup needs ``module.features`` and ``module.head``."""
        return self.mix == "features"

    def _param_hints(self):
        return {**super()._param_hints(),
                "alpha": "Pass alpha > 0, e.g. alpha=1.0 (lambda uniform on [0, 1]).",
                "mix": "Pass mix='input' (mixup) or mix='features' (manifold mixup)."}

    def _draw_mix(self, n, device):
        """One lambda ~ Beta(alpha, alpha) and one permutation from the training stream."""
        gen = self.training_randomness().generator
        seed = int(torch.randint(0, 2**63 - 1, (1,), generator=gen))
        lam = float(np.random.default_rng(seed).beta(self.alpha, self.alpha))
        perm = torch.randperm(n, generator=gen).to(device)
        return lam, perm

    def _mixup_loss(self, x, y, **fit_params):
        lam, perm = self._draw_mix(len(x), x.device)
        if self.mix == "features":
            h = self.module_.features(x)
            logits = self.module_.head(lam * h + (1 - lam) * h[perm])
        else:
            x_mix = lam * x + (1 - lam) * x[perm]
            logits = self.infer(x_mix, **fit_params)
        loss = (lam * self.get_loss(logits, y, X=x, training=True)
                + (1 - lam) * self.get_loss(logits, y[perm], X=x, training=True))
        return loss, logits

    def train_step_single(self, batch, **fit_params):
        x, y = self.unpack_batch(batch)
        clean_loss, _ = self._mixup_loss(x, y, **fit_params)
        x_adv = self.pgd_examples(x, y)
        adv_loss, logits = self._mixup_loss(x_adv, y, **fit_params)
        loss = (clean_loss + adv_loss) / 2
        loss.backward()
        self.record_loss("clean_loss", clean_loss)
        self.record_loss("adv_loss", adv_loss)
        return {"loss": loss, "y_pred": logits}
