"""Friendly adversarial training: early-stopped PGD (Zhang et al., 2020)."""
from ..attacks.early_stopped import early_stopped_pgd
from ..base import RobustClassifier
from ..params import InstanceOf, Interval, Options
from .trades import trades_loss

__all__ = ["FriendlyAdversarialTraining", "TAU_SCHEDULES"]

#: The papers' tau schedules as (fraction of max_epochs, tau) steps: FAT trained
#: 120 epochs with tau 0/1/2 from epochs 0/50/90; FAT-TRADES 85 epochs with
#: tau 0/1/2/3 from epochs 0/30/50/70.
TAU_SCHEDULES = {
    "ce": ((0.0, 0), (50 / 120, 1), (90 / 120, 2)),
    "trades": ((0.0, 0), (30 / 85, 1), (50 / 85, 2), (70 / 85, 3)),
}


class FriendlyAdversarialTraining(RobustClassifier):
    """FAT: adversarial training on early-stopped PGD examples.

    Each example's PGD stops ``tau`` steps after it first crosses the decision
    boundary ("friendly" adversarial data, the least adversarial among the
    confidently misclassified). With ``loss="ce"`` (FAT) the attack starts at
    ``U(-eps, eps)`` and adds ``omega * N(0, 1)`` at every step, and the outer
    loss is ``CE(f(x'), y)``; with ``loss="trades"`` (FAT for TRADES) it starts
    at ``x + 0.001 N(0, 1)``, climbs the KL, and the outer loss is TRADES's.

    Parameters
    ----------
    tau : int, default=0
        Steps allowed after the first misclassified iterate.
    tau_schedule : None, "paper" or sequence of (fraction, tau), default=None
        None keeps ``tau`` fixed. "paper" raises tau as the authors did, with
        epochs expressed as fractions of ``max_epochs`` so the schedule scales
        to short runs (:data:`TAU_SCHEDULES`).
    loss : {"ce", "trades"}, default="ce"
    beta : float, default=6.0
        TRADES weight (``loss="trades"`` only).
    omega : float, default=0.001
        Gaussian noise added at each attack step (``loss="ce"`` only).
    **kwargs
        Threat model (``eps``, ``norm``, ``step_size`` = eps/4 by default,
        ``n_iter`` = 10 = the maximum steps K, ``clip_min``, ``clip_max``) and
        every parameter of :class:`~robustsk.base.RobustClassifier`.

    References
    ----------
    .. [1] Zhang, J., Xu, X., Han, B., Niu, G., Cui, L., Sugiyama, M. and
       Kankanhalli, M. "Attacks Which Do Not Kill Training Make Adversarial
       Learning Stronger." ICML, 2020.

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import FriendlyAdversarialTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = FriendlyAdversarialTraining(tau=1, max_epochs=2, random_state=0)
    >>> clf.fit(X[:300], y[:300]).predict(X[:2]).shape
    (2,)
    """

    _parameter_constraints = {
        "tau": [Interval(int, 0, None)],
        "tau_schedule": [None, Options("paper"), InstanceOf((list, tuple),
                                                            "a sequence of (fraction, tau) pairs")],
        "loss": [Options("ce", "trades")],
        "beta": [Interval(float, 0, None)],
        "omega": [Interval(float, 0, None)],
    }

    def __init__(self, module=None, *, tau=0, tau_schedule=None, loss="ce", beta=6.0,
                 omega=0.001, **kwargs):
        super().__init__(module, **kwargs)
        self.tau = tau
        self.tau_schedule = tau_schedule
        self.loss = loss
        self.beta = beta
        self.omega = omega

    def current_tau(self, epoch=None):
        """The tau used in ``epoch`` (0-based; default: the current epoch)."""
        if self.tau_schedule is None:
            return self.tau
        if epoch is None:
            epoch = max(len(self.history) - 1, 0) if self.history is not None else 0
        steps = TAU_SCHEDULES[self.loss] if self.tau_schedule == "paper" else self.tau_schedule
        fraction = epoch / max(self.max_epochs, 1)
        current = steps[0][1]
        for start, tau in steps:
            if fraction >= start:
                current = tau
        return current

    def check_params(self):
        schedule = self.tau_schedule
        if isinstance(schedule, (list, tuple)):
            ok = len(schedule) > 0 and all(
                isinstance(step, (list, tuple)) and len(step) == 2
                and Interval(float, 0, 1).accepts(step[0]) and Interval(int, 0).accepts(step[1])
                for step in schedule)
            if not ok:
                raise ValueError(
                    f"{type(self).__name__} got tau_schedule={schedule!r}: expected a non-empty "
                    "sequence of (fraction of max_epochs in [0, 1], tau >= 0) pairs, e.g. "
                    "[(0.0, 0), (0.5, 1)]. Pass such pairs, 'paper' or None.")

    def train_step_single(self, batch, **fit_params):
        x, y = self.unpack_batch(batch)
        trades = self.loss == "trades"
        x_adv = early_stopped_pgd(
            self.attack_module(), x, y, **self.threat_.attack_kwargs(),
            n_iter=self.threat_.n_iter, tau=self.current_tau(),
            loss="kl" if trades else self.attack_loss(),
            random_start="normal" if trades else "uniform", omega=0.0 if trades else self.omega,
            mode="eval", random_state=self.training_randomness())
        if trades:
            logits = self.infer(x, **fit_params)
            loss, natural, robust = trades_loss(logits, self.infer(x_adv, **fit_params), y,
                                                self.beta)
            self.record_loss("clean_loss", natural)
            self.record_loss("robust_loss", robust)
        else:
            logits = self.infer(x_adv, **fit_params)
            loss = self.get_loss(logits, y, X=x_adv, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": logits}
