"""Fast adversarial training: FGSM from a random start (Wong, Rice & Kolter, 2020)."""
from ..base import RobustClassifier
from ..params import Options

__all__ = ["FastAdversarialTraining"]


class FastAdversarialTraining(RobustClassifier):
    """"Fast is better than free": one FGSM step from a uniform random start.

    Each batch: ``delta ~ U(-eps, eps)``, one signed-gradient step of size
    ``step_size`` (default ``1.25 * eps``, the paper's alpha), projection onto
    the ball and clip to the box; the loss is ``CE(f(x + delta), y)``. The
    cheap baseline: one extra forward/backward per batch. ``n_iter`` is unused.

    Parameters
    ----------
    attack_mode : {"train", "eval"}, default="train"
        Mode of the network during the FGSM step. "train", as the official
        code (``train_fgsm.py`` keeps ``model.train()`` throughout): batch-norm
        layers use the batch's statistics and move their running statistics
        during the attack's forward pass, and dropout is on. "eval" freezes
        them, as :class:`~robustsk.defenses.AdversarialTraining` does by
        default. The two differ only for networks with such layers (not the
        default :class:`~robustsk.modules.SmallCNN`).
    **kwargs
        Threat model (``eps``, ``norm``, ``step_size``, ``clip_min``, ``clip_max``)
        and every parameter of :class:`~robustsk.base.RobustClassifier`.

    References
    ----------
    .. [1] Wong, E., Rice, L. and Kolter, J. Z. "Fast is better than free:
       Revisiting adversarial training." ICLR, 2020.

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import FastAdversarialTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = FastAdversarialTraining(max_epochs=2, random_state=0).fit(X[:300], y[:300])
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    default_step_fraction = 1.25
    _parameter_constraints = {"attack_mode": [Options("eval", "train")]}

    def __init__(self, module=None, *, attack_mode="train", **kwargs):
        super().__init__(module, **kwargs)
        self.attack_mode = attack_mode

    def train_step_single(self, batch, **fit_params):
        x, y = self.unpack_batch(batch)
        x_adv = self.pgd_examples(x, y, n_iter=1, mode=self.attack_mode)
        y_pred = self.infer(x_adv, **fit_params)
        loss = self.get_loss(y_pred, y, X=x_adv, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}
