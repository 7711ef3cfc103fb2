"""PGD adversarial training (Madry et al., 2018)."""
from ..attacks import early_stopped_pgd
from ..base import RobustClassifier
from ..params import Interval, Options
from .speedups import TrainingSpeedups

__all__ = ["AdversarialTraining"]


class AdversarialTraining(TrainingSpeedups, RobustClassifier):
    """PGD adversarial training: minimise the cross-entropy on PGD examples.

    Every batch is replaced by its PGD adversarial examples (``n_iter`` steps of
    ``step_size`` from a uniform random start in the ``eps`` ball, last iterate,
    as in the paper) and the loss is ``CE(f(x'), y)``.

    Parameters
    ----------
    attack_mode : {"eval", "train"}, default="eval"
        Mode of the network while the attack runs. "eval" (most PyTorch ports)
        freezes batch-norm statistics and dropout; "train" is what the original
        CIFAR-10 code does, and it moves batch-norm running statistics during
        the attack's forward passes.
    early_stop : int or None, default=None
        None: the paper's attack (every example takes all ``n_iter`` steps).
        An int ``tau >= 0``: per-example early stopping, a cheaper training
        attack (``early_stopped_pgd`` with ``omega=0``, FAT's rule): an example
        stops stepping at its ``(tau + 1)``-th misclassified iterate and leaves
        the batch, so later steps cost less. ``tau >= n_iter`` never stops
        and gives the paper's attack exactly.
    compile_attack : bool, default=False
        ``torch.compile`` the network for the training attack (opt-in; see
        :mod:`robustsk.defenses.speedups`).
    autocast : {None, "bfloat16"}, default=None
        Run the attack and the loss under bf16 autocast on ``device``.
    channels_last : bool, default=False
        ``torch.channels_last`` weights and images (4-d inputs only).
    **kwargs
        Threat model (``eps``, ``norm``, ``step_size`` = eps/4 by default,
        ``n_iter`` = 10, ``clip_min``, ``clip_max``) and every other parameter of
        :class:`~robustsk.base.RobustClassifier` and skorch.

    References
    ----------
    .. [1] Madry, A., Makelov, A., Schmidt, L., Tsipras, D. and Vladu, A.
       "Towards Deep Learning Models Resistant to Adversarial Attacks." ICLR, 2018.

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import AdversarialTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = AdversarialTraining(eps=0.1, max_epochs=2, clip_min=0, clip_max=1,
    ...                           random_state=0).fit(X[:300], y[:300])
    >>> 0 <= clf.score_adversarial(X[300:350], y[300:350]) <= 1
    True
    """

    _parameter_constraints = {"attack_mode": [Options("eval", "train")],
                              "early_stop": [None, Interval(int, 0, None)]}

    def __init__(self, module=None, *, attack_mode="eval", early_stop=None,
                 compile_attack=False, autocast=None, channels_last=False, **kwargs):
        super().__init__(module, **kwargs)
        self.attack_mode = attack_mode
        self.early_stop = early_stop
        self.compile_attack = compile_attack
        self.autocast = autocast
        self.channels_last = channels_last

    def train_step_single(self, batch, **fit_params):
        x, y = self.unpack_batch(batch)
        x = self.speedup_inputs(x)
        with self.speedup_context():
            if self.early_stop is None:
                x_adv = self.pgd_examples(x, y, mode=self.attack_mode)
            else:
                x_adv = early_stopped_pgd(
                    self.attack_module(), x, y, **self.threat_.attack_kwargs(),
                    n_iter=self.threat_.n_iter, tau=self.early_stop, loss=self.attack_loss(),
                    random_start="uniform", omega=0.0, mode=self.attack_mode,
                    random_state=self.training_randomness())
            y_pred = self.infer(x_adv, **fit_params)
            loss = self.get_loss(y_pred, y, X=x_adv, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}
