"""Ensemble adversarial training: examples crafted on static, pre-trained models (Tramer et al., 2018)."""
import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.utils.validation import check_is_fitted
import torch
from torch import nn

from ..attacks import as_target, attack_context, fgsm, rfgsm
from ..base import RobustClassifier
from ..modules import module_device
from ..params import InstanceOf, Interval, Norm, Options

__all__ = ["EnsembleAdversarialTraining"]

_FROZEN_HINT = ("Wrap fitted models in sklearn.frozen.FrozenEstimator (static_models="
                "[FrozenEstimator(model), ...]) so that clone, GridSearchCV and "
                "cross_validate keep them fitted instead of refitting them.")


def _unfrozen(model):
    while isinstance(model, FrozenEstimator):
        model = model.estimator
    return model


def _input_shape(model):
    """The shape of one example ``model`` was fitted on, and whether it is flat."""
    shape = getattr(model, "input_shape_", None)
    if shape is not None:
        return tuple(shape), len(shape) == 1
    n_features = getattr(model, "n_features_in_", None)
    return (None if n_features is None else (int(n_features),)), True


class EnsembleAdversarialTraining(RobustClassifier):
    """Ensemble adversarial training: half the loss on examples from static models.

    Each batch draws the *source* of its adversarial examples uniformly at
    random (training random stream) from the model being trained and the
    ``static_models``, fitted models that stay fixed. The source's
    single-step attack is run against the source's own predicted labels
    (``argmax`` of its logits on the clean batch, which avoids label leaking):
    R+FGSM (``attack="rfgsm"``, Linf only: a random sign step of ``alpha``,
    then a gradient sign step of ``eps - alpha``) or FGSM (``attack="fgsm"``,
    one step of ``eps``). The loss is ``0.5 * (CE(f(x), y) + CE(f(x'), y))``.
    Decoupling the training examples from the trained model's own gradients
    keeps single-step adversarial training from learning to mask them, so
    the model resists transferred (black-box) attacks.

    Measured on flat digits (``benchmarks/ensemble_at_transfer.py``, MLP, 800
    training images, 40 epochs, eps 0.3, two static ``StandardTraining``
    models, seeds 0-2): FGSM training on the model's own labels ends with no
    white-box robustness (PGD-20 accuracy 0.000), and against PGD-20 examples
    transferred from a held-out model this estimator keeps 0.82-0.84 where
    FGSM training keeps 0.69-0.73. After 10 epochs, or at eps 0.2, FGSM
    training had not yet masked its gradients and the two were alike.

    Static models are any fitted model robustsk's gradient attacks can
    differentiate (:func:`robustsk.attacks.as_target`): robustsk estimators,
    scikit-learn linear classifiers, and pipelines of affine steps ending in
    one, fitted on the same classes and on examples of the same shape (a model
    fitted on flattened examples, e.g. a ``LogisticRegression`` on 64 pixel
    features, is accepted for (1, 8, 8) images: it sees them flattened).
    Pass them wrapped in ``sklearn.frozen.FrozenEstimator``: ``clone`` (and so
    ``GridSearchCV`` and ``cross_validate``) would otherwise replace a fitted
    model by an unfitted copy; ``fit`` refuses an unfitted static model with
    that advice. With no static model every batch uses the model itself
    (single-step adversarial training on the model's predicted labels).

    Every source crafts its examples in eval mode (dropout off, batch-norm
    running statistics), so a static model's fitted state is never touched;
    the official Keras code crafts them in the training phase, where dropout
    is on (networks without dropout or batch norm are unaffected).

    The history records ``train_clean_loss``, ``train_adv_loss`` and
    ``train_static_source`` (the fraction of batches whose examples came from
    a static model).

    Parameters
    ----------
    static_models : list of fitted classifiers, default=None
        The static, pre-trained sources (``FrozenEstimator`` wrapped, ideally).
    attack : {"rfgsm", "fgsm"}, default="rfgsm"
        The single-step attack (R+FGSM, the paper's attack, needs
        ``norm="inf"``). The official MNIST training script
        (``train_adv.py``) crafts plain FGSM examples at eps 0.3:
        ``attack="fgsm"`` reproduces it (with networks in eval mode its
        examples equal the official FGSM's exactly).
    alpha : float, default=None
        R+FGSM's random step, in ``[0, eps)``; ``eps / 2`` when None (the
        paper's ImageNet value; its MNIST runs used 0.05 at eps 0.3).
    **kwargs
        The threat model (``eps``, ``norm``, ``clip_min``, ``clip_max``) and
        every other parameter of :class:`~robustsk.base.RobustClassifier`.
        ``n_iter`` and ``step_size`` are unused.

    Attributes
    ----------
    n_static_ : int
        Number of static models of the last fit.

    References
    ----------
    .. [1] Tramer, F., Kurakin, A., Papernot, N., Goodfellow, I., Boneh, D. and
       McDaniel, P. "Ensemble Adversarial Training: Attacks and Defenses."
       ICLR, 2018. Code: github.com/ftramer/ensemble-adv-training.

    Examples
    --------
    >>> from sklearn.frozen import FrozenEstimator
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import EnsembleAdversarialTraining, StandardTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> static = StandardTraining(max_epochs=2, random_state=1).fit(X[:200], y[:200])
    >>> clf = EnsembleAdversarialTraining(static_models=[FrozenEstimator(static)],
    ...                                   max_epochs=2, clip_min=0, clip_max=1,
    ...                                   random_state=0).fit(X[:200], y[:200])
    >>> clf.n_static_
    1
    """

    _parameter_constraints = {
        "static_models": [None, InstanceOf((list, tuple), "a list of fitted classifiers")],
        "attack": [Options("rfgsm", "fgsm")],
        "alpha": [None, Interval(float, 0, None)],
    }

    def __init__(self, module=None, *, static_models=None, attack="rfgsm", alpha=None,
                 **kwargs):
        super().__init__(module, **kwargs)
        self.static_models = static_models
        self.attack = attack
        self.alpha = alpha

    def _param_hints(self):
        return {**super()._param_hints(),
                "static_models": "Pass a list of fitted classifiers, e.g. static_models="
                                 "[FrozenEstimator(model)], or None. " + _FROZEN_HINT}

    def check_params(self):
        super().check_params()
        if self.attack == "rfgsm" and str(self.norm).lower().strip() not in Norm.INF:
            raise ValueError(f"EnsembleAdversarialTraining got attack='rfgsm' with "
                             f"norm={self.norm!r}: R+FGSM is an Linf attack. Pass attack='fgsm' "
                             "for an L2 threat model, or norm='inf'.")
        if self.attack == "rfgsm" and self.alpha is not None and self.alpha >= self.eps > 0:
            raise ValueError(f"EnsembleAdversarialTraining got alpha={self.alpha!r} with "
                             f"eps={self.eps!r}: expected alpha in [0, eps) (the random step "
                             "uses alpha, the gradient step eps - alpha). Lower alpha or leave "
                             "it None (eps / 2).")

    def _static(self):
        return [_unfrozen(m) for m in (self.static_models or [])]

    def check_data_params(self, classes):
        super().check_data_params(classes)
        for i, model in enumerate(self._static()):
            who = f"static_models[{i}] ({type(model).__name__})"
            try:
                check_is_fitted(model)
            except (NotFittedError, TypeError) as err:
                raise ValueError(f"{who} is not a fitted classifier ({err}). Expected models "
                                 "fitted before this fit. " + _FROZEN_HINT) from None
            try:
                as_target(model)
            except TypeError as err:
                raise ValueError(f"{who} cannot be differentiated, so no adversarial example "
                                 f"can be crafted on it: {err}") from None
            theirs = np.asarray(getattr(model, "classes_", []))
            if theirs.shape != classes.shape or not np.array_equal(theirs, classes):
                raise ValueError(f"{who} was fitted on the classes {theirs.tolist()}, but y has "
                                 f"the classes {classes.tolist()}: expected the same class set. "
                                 "Use static models fitted on the same labels.")

    def check_input_shape(self, input_shape):
        super().check_input_shape(input_shape)
        for i, model in enumerate(self._static()):
            shape, flat = _input_shape(model)
            if shape == tuple(input_shape) or (flat and shape == (int(np.prod(input_shape)),)):
                continue
            raise ValueError(f"static_models[{i}] ({type(model).__name__}) was fitted on "
                             f"examples of shape {shape}, but X has examples of shape "
                             f"{tuple(input_shape)}: expected the same shape (or the same "
                             "number of features, flattened). Use static models fitted on "
                             "data like X.")

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        sources = []
        for model in self._static():
            module = as_target(model).module
            if len(_input_shape(model)[0]) == 1 and len(self.input_shape_) > 1:
                module = nn.Sequential(nn.Flatten(), module)
            sources.append(module)
        self.static_sources_ = sources  # a plain list: skorch does not train them
        self.n_static_ = len(sources)

    def _draw_source(self):
        n = 1 + len(self.static_sources_)
        index = int(torch.randint(n, (1,), generator=self.training_randomness().generator))
        return (self.module_, None) if index == 0 else (self.static_sources_[index - 1], index)

    def adversarial_examples(self, x):
        """Single-step examples of the batch ``x`` from a uniformly drawn source.

        Returns
        -------
        x_adv : Tensor
        static : bool
            Whether the source was a static model.
        """
        source, index = self._draw_source()
        device = module_device(source)
        threat = self.threat_
        xs = x.to(device)
        with attack_context(source, "eval"), torch.no_grad():
            labels = source(xs).argmax(1)
        if self.attack == "rfgsm":
            x_adv = rfgsm(source, xs, labels, eps=threat.eps, alpha=self.alpha,
                          clip_min=threat.clip_min, clip_max=threat.clip_max, return_best=False,
                          random_state=self.training_randomness())
        else:
            x_adv = fgsm(source, xs, labels, eps=threat.eps, norm=threat.norm,
                         clip_min=threat.clip_min, clip_max=threat.clip_max, return_best=False)
        return x_adv.to(x.device), index is not None

    def train_step_single(self, batch, **fit_params):
        x, y = self.unpack_batch(batch)
        x_adv, static = self.adversarial_examples(x)
        clean = self.get_loss(self.infer(x, **fit_params), y, X=x, training=True)
        y_pred = self.infer(x_adv, **fit_params)
        adv = self.get_loss(y_pred, y, X=x_adv, training=True)
        loss = 0.5 * (clean + adv)
        loss.backward()
        self.record_loss("clean_loss", clean)
        self.record_loss("adv_loss", adv)
        self.record_loss("static_source", float(static))
        return {"loss": loss, "y_pred": y_pred}
