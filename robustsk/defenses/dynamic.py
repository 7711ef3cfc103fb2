"""Dynamic adversarial training: PGD stopped by a tightening FOSC threshold (Wang et al., 2019)."""
import torch.nn.functional as F

from ..attacks.fosc import fosc_pgd
from ..base import RobustClassifier
from ..params import InstanceOf, Interval

__all__ = ["DynamicAdversarialTraining"]


class DynamicAdversarialTraining(RobustClassifier):
    """Dynamic AT: train on PGD examples whose convergence (FOSC) tightens over the epochs.

    In epoch ``t`` (0-based) each example's PGD stops once its FOSC (see
    :func:`~robustsk.attacks.fosc_values`) is at most
    ``c_t = max(c_max - c_max * t / T', 0)``, ``T' = t_prime * max_epochs``:
    weak, cheap adversarial examples early, fully converged ones late. The
    attack (:func:`~robustsk.attacks.fosc_pgd`) starts uniformly in the ball,
    always takes its first step, checks FOSC after each projected and clipped
    step, and takes at most ``n_iter`` steps of ``step_size`` (network in eval
    mode). The loss is ``CE(f(x'), y)`` (the estimator's criterion).

    The history records per epoch ``train_attack_steps`` (mean steps per
    example), ``train_fosc`` (mean FOSC of the final ``x'``) and
    ``train_fosc_relative`` (mean of FOSC / (eps ||g||_*), a scale-free gap in
    [0, 2]: raw FOSC grows with the input gradients as the network trains, the
    relative gap shows the convergence the schedule asks for). FOSC here is
    centred on the clean input, as in the paper (the reference code centres
    it on the random start).

    Parameters
    ----------
    c_max : float, default=0.5
        The threshold of the first epoch (the paper's value, for inputs in
        [0, 1]); FOSC scales with ``eps`` and the gradient, so other data may
        need another value.
    t_prime : float, default=100/120
        The epoch from which ``c_t = 0``, as a fraction of ``max_epochs`` in
        (0, 1]: the paper's T' = 100 of 120 epochs.
    weight_by_loss : bool, default=False
        From the second epoch (``t >= 1``), weight each example's loss by its
        own adversarial cross-entropy, detached: ``mean_i(w_i * CE_i)`` with
        ``w_i = CE_i`` at the current weights, as the reference code does
        (``train_models.py``: ``sample_weight`` = the CE of ``model.predict``
        on ``x'``; that prediction is in inference mode, ours is the training
        forward pass). The paper does not mention it. Needs a criterion with
        a ``reduction`` attribute.
    **kwargs
        Threat model (``eps``, ``norm``, ``step_size`` = eps/4 by default,
        ``n_iter`` = 10 = the maximum steps, ``clip_min``, ``clip_max``) and every
        parameter of :class:`~robustsk.base.RobustClassifier`.

    References
    ----------
    .. [1] Wang, Y., Ma, X., Bailey, J., Yi, J., Zhou, B. and Gu, Q. "On the
       Convergence and Robustness of Adversarial Training." ICML, 2019.

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import DynamicAdversarialTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = DynamicAdversarialTraining(eps=0.1, n_iter=4, max_epochs=2, clip_min=0,
    ...                                  clip_max=1, random_state=0).fit(X[:300], y[:300])
    >>> clf.current_c(0), clf.current_c(1)
    (0.5, 0.2)
    >>> 1 <= clf.history[-1, "train_attack_steps"] <= 4
    True
    """

    _parameter_constraints = {
        "c_max": [Interval(float, 0, None)],
        "t_prime": [Interval(float, 0, 1, closed="right")],
        "weight_by_loss": [InstanceOf(bool, "True or False")],
    }

    def __init__(self, module=None, *, c_max=0.5, t_prime=100 / 120, weight_by_loss=False,
                 **kwargs):
        super().__init__(module, **kwargs)
        self.c_max = c_max
        self.t_prime = t_prime
        self.weight_by_loss = weight_by_loss

    def _param_hints(self):
        return {**super()._param_hints(),
                "c_max": "Pass a FOSC threshold c_max >= 0, e.g. the paper's c_max=0.5.",
                "t_prime": "Pass the fraction of max_epochs after which c_t = 0, in (0, 1], "
                           "e.g. t_prime=100/120 (the paper's T'=100 of 120 epochs)."}

    def _epoch(self):
        return max(len(self.history) - 1, 0) if self.history is not None else 0

    def current_c(self, epoch=None):
        """The FOSC threshold ``c_t`` of ``epoch`` (0-based; default: the current epoch)."""
        epoch = self._epoch() if epoch is None else epoch
        t_end = self.t_prime * max(self.max_epochs, 1)
        return max(self.c_max - self.c_max * epoch / t_end, 0.0)

    def train_step_single(self, batch, **fit_params):
        x, y = self.unpack_batch(batch)
        x_adv, steps, fosc, scale = fosc_pgd(
            self.attack_module(), x, y, **self.threat_.attack_kwargs(),
            n_iter=self.threat_.n_iter, c=self.current_c(), mode="eval",
            random_state=self.training_randomness(), return_steps=True, return_fosc=True,
            return_scale=True)
        logits = self.infer(x_adv, **fit_params)
        if self.weight_by_loss and self._epoch() >= 1:
            criterion = self.attack_loss()  # the criterion per example ("ce": the fast path)
            losses = (F.cross_entropy(logits, y, reduction="none") if criterion == "ce"
                      else criterion(logits, y))
            loss = (losses.detach() * losses).mean()
        else:
            loss = self.get_loss(logits, y, X=x_adv, training=True)
        loss.backward()
        self.record_loss("attack_steps", steps.float().mean())
        self.record_loss("fosc", fosc.mean())
        self.record_loss("fosc_relative", (fosc / scale.clamp_min(1e-12)).mean())
        return {"loss": loss, "y_pred": logits}
