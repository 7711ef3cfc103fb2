"""PGD adversarial training (Madry et al., 2018)."""
from ..base import RobustClassifier
from ..params import Options

__all__ = ["AdversarialTraining"]


class AdversarialTraining(RobustClassifier):
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

    _parameter_constraints = {"attack_mode": [Options("eval", "train")]}

    def __init__(self, module=None, *, attack_mode="eval", **kwargs):
        super().__init__(module, **kwargs)
        self.attack_mode = attack_mode

    def train_step_single(self, batch, **fit_params):
        x, y = self.unpack_batch(batch)
        x_adv = self.pgd_examples(x, y, mode=self.attack_mode)
        y_pred = self.infer(x_adv, **fit_params)
        loss = self.get_loss(y_pred, y, X=x_adv, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}
