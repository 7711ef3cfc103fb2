"""Adversarial feature desensitization, AFD (Bashivan et al., 2021)."""
import numpy as np
from skorch.utils import TeeGenerator
import torch

from ..attacks.apgd import apgd
from ..base import RobustClassifier
from ..heads import FeatureCritic
from ..modules import UnitSphereFeatures
from ..params import Callable, InstanceOf

__all__ = ["AdversarialFeatureDesensitization", "pairwise_accuracy"]


def pairwise_accuracy(scores_clean, scores_adv):
    """How often a clean example outscores an adversarial one (ties count half; chance 0.5).

    The area under the ROC curve of a critic whose high scores mean "clean":
    a score has no fixed threshold, so this is its accuracy on (clean,
    adversarial) pairs.

    Parameters
    ----------
    scores_clean, scores_adv : Tensor of shape (n,) and (m,)

    Returns
    -------
    float

    Examples
    --------
    >>> import torch
    >>> pairwise_accuracy(torch.tensor([2.0, 3.0]), torch.tensor([1.0, 2.0]))
    0.875
    """
    diff = scores_clean.reshape(-1, 1) - scores_adv.reshape(1, -1)
    return float(((diff > 0).float() + 0.5 * (diff == 0).float()).mean())


class AdversarialFeatureDesensitization(RobustClassifier):
    """AFD: features trained so that a critic cannot tell clean from adversarial inputs.

    The network is an encoder ``E`` (``module.features``) and a head ``Dc``
    (``module.head``), the features contract of :mod:`robustsk.modules`; the
    discriminator ``Da`` (``discriminator_``, a
    :class:`~robustsk.heads.FeatureCritic`) scores features given the label.
    Per batch, in the order of the reference code (``afd_train.py``):

    1. ``x'`` = APGD-CE on ``Dc(E(.))`` with the network in eval mode
       (``n_iter`` iterations in this fit's threat model, training stream);
    2. ``optimizer_`` updates ``E`` and ``Dc`` on ``CE(Dc(E(x)), y)``, the
       clean cross-entropy (the criterion, cross-entropy by default);
    3. ``optimizer_discriminator_`` updates ``Da`` on
       ``mean Da(E(x'), y) - mean Da(E(x), y)`` (the reference's WGAN critic
       loss; its gradient penalty has weight 0 there and is left out);
    4. ``optimizer_encoder_`` updates ``E`` alone on ``-mean Da(E(x'), y)``:
       adversarial features are pushed to look clean to the critic.

    Three optimizers, each an ordinary parameter with its own settings
    (``optimizer__lr``, ``optimizer_encoder__lr``,
    ``optimizer_discriminator__momentum``, ...) that ``set_params``, ``clone``
    and ``GridSearchCV`` handle. The encoder's parameters are those of
    ``module_`` that ``features`` uses (found by differentiating the features
    once); ``optimizer_`` updates all of ``module_``.

    Choices where the paper leaves room: the discriminator is the reference's
    MNIST ``SNPDFC3`` (width = the features' width); the three optimizers
    default to Adam with torch's ``betas=(0.9, 0.999)`` (the reference's Adam
    setting uses the WGAN-GP convention ``betas=(0.0, 0.9)`` for all three:
    ``optimizer__betas=(0.0, 0.9), optimizer_encoder__betas=(0.0, 0.9),
    optimizer_discriminator__betas=(0.0, 0.9)``; the figures below were not
    measured with it), the critic's at ``10 * lr`` (the ratio of the reference's
    Adam setting, 1e-4 / 1e-4 / 1e-3) and the encoder's at ``lr / 2`` (the
    reference's ratio, 1, made the game collapse the classifier to chance
    here: digits, one seed of three; Fashion-MNIST 1500 images, 2 epochs,
    clean 0.19); a few epochs on small data do not suit the paper's
    100-epoch SGD schedule, which diverged to chance on digits; the paper's
    MNIST setting is
    ``optimizer=SGD, lr=0.1, optimizer__momentum=0.9,
    optimizer__weight_decay=1e-4, optimizer_encoder=SGD,
    optimizer_encoder__lr=0.5, optimizer_encoder__momentum=0.9,
    optimizer_discriminator=SGD, optimizer_discriminator__lr=0.5,
    optimizer_discriminator__momentum=0.9`` with lr x0.1 at epochs 50 and 80
    (a skorch ``LRScheduler`` callback reaches ``optimizer_`` only), eps 0.3
    and APGD iterations 40 (the authors' AutoAttack fork takes ``n_iter``;
    robustsk's default stays 10 for speed). That fork returns the clean
    input for the examples APGD does not fool; robustsk's
    :func:`~robustsk.attacks.apgd` returns their highest-loss point, so the
    critic of step 3 also sees the strongest perturbation of the robust
    examples (only fooled ones differ from the reference). The reference's ``dis_iters`` (update ``E``
    on a random 1/k of batches) is 1 there, so step 4 runs every batch.

    The history records ``train_loss`` (the clean CE of step 2),
    ``train_discriminator_loss`` (step 3), ``train_encoder_loss`` (step 4)
    and ``train_discriminator_acc`` (:func:`pairwise_accuracy` of the critic
    on the batch before its update). :meth:`discriminator_accuracy` measures
    it on held-out data.

    The features live on the unit sphere (``normalize_features=True``): the
    network is wrapped in :class:`~robustsk.modules.UnitSphereFeatures`, so
    the head and the critic both read ``E(x) / ||E(x)||``, as in the reference
    code, whose encoders end in ``F.normalize`` and whose classifier is
    ``Sequential(E, Dc)`` (``LeNetFeats(normalize=True)``, ``ResNet18FeatsNorm``).
    On raw features the encoder wins the game by scaling them, which costs the
    classifier its accuracy (digits, 800 images, 8 epochs, eps 0.1, seeds 0-1:
    clean 0.48-0.55); with only the critic on the sphere and the head on raw
    features, the game left robustness at ``StandardTraining``'s level.

    Measured on digits (``tests/defenses/test_afd.py``, 600 images, eps 0.2,
    APGD-5 in training, 15 epochs, PGD-10 on 150 held-out images, seeds
    0-2): robust accuracy 0.093 / 0.133 / 0.087 against 0.047 / 0.027 / 0.040
    for ``StandardTraining`` and 0.073 / 0.087 / 0.073 with a passive encoder
    (its learning rate 0: same network, no game), at clean accuracy
    0.97-0.98; the critic's held-out pairwise accuracy stays within 0.03-0.05
    of chance on average over the epochs, against 0.11-0.19 for the passive
    encoder's critic (first 8 epochs). Once the encoder plays (a warm start
    after those 8 passive epochs), the critic's accuracy falls from 0.63-0.77
    towards chance, 0.54-0.61 after 10 epochs. With the encoder at ``lr`` seed 1 reached 0.39-0.42
    robust accuracy and seed 2 collapsed to chance: the game is unstable at
    higher encoder rates. On Fashion-MNIST (1500 images, 2 epochs, eps 0.1,
    PGD-20, one seed) the sphere alone does much of the work at that budget:
    0.553 / 0.407 (clean / robust) with the game, 0.663 / 0.447 with a
    passive encoder, 0.670 / 0.303 for ``StandardTraining``. The paper trains
    100 epochs on MNIST (``benchmarks/feature_games.py``).

    Parameters
    ----------
    discriminator : torch.nn.Module class or instance, default=FeatureCritic
        ``Da(h, y) -> (n,)`` scores; built with ``in_features`` (the
        features' width) and ``n_classes`` unless given as an instance;
        ``discriminator__*`` parameters reach it.
    optimizer_discriminator : torch optimizer class, default=torch.optim.Adam
        Trains ``discriminator_`` (``optimizer_discriminator__lr``;
        ``10 * lr`` when not given).
    optimizer_encoder : torch optimizer class, default=torch.optim.Adam
        Trains the encoder against the critic (``optimizer_encoder__lr``;
        ``lr / 2`` when not given).
    normalize_features : bool, default=True
        Put each example's features on the unit sphere before the head and
        the critic read them (``module_`` is then a
        :class:`~robustsk.modules.UnitSphereFeatures` around the network; the
        reference code's normalised encoders); False leaves the network as
        it is and gives the critic its raw features.
    **kwargs
        Threat model (``eps``, ``norm``, ``n_iter`` = 10 APGD iterations,
        ``clip_min``, ``clip_max``; APGD sets its own steps, so ``step_size``
        is unused), ``optimizer`` and ``lr`` (the encoder-and-head optimizer)
        and every parameter of :class:`~robustsk.base.RobustClassifier`.

    Attributes
    ----------
    discriminator_ : torch.nn.Module
    optimizer_encoder_, optimizer_discriminator_ : torch.optim.Optimizer

    References
    ----------
    .. [1] Bashivan, P., Bayat, R., Ibrahim, A., Ahuja, K., Faramarzi, M.,
       Laleh, T., Richards, B. and Rish, I. "Adversarial Feature
       Desensitization." NeurIPS, 2021.
    .. [2] Croce, F. and Hein, M. "Reliable evaluation of adversarial
       robustness with an ensemble of diverse parameter-free attacks." ICML, 2020.

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import AdversarialFeatureDesensitization
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = AdversarialFeatureDesensitization(
    ...     n_iter=2, max_epochs=1, clip_min=0, clip_max=1, random_state=0,
    ...     optimizer_discriminator__lr=1e-2).fit(X[:200], y[:200])
    >>> len(clf.optimizers())
    3
    """

    requires_features = True
    forwards_fit_params = False  # the critic's updates read features, not forward
    extra_modules = {"discriminator": "optimizer_discriminator"}
    extra_optimizers = ("optimizer_encoder",)

    _parameter_constraints = {
        "discriminator": [Callable("a torch.nn.Module class or instance")],
        "optimizer_discriminator": [Callable("a torch optimizer class")],
        "optimizer_encoder": [Callable("a torch optimizer class")],
        "normalize_features": [InstanceOf((bool, np.bool_), "True or False")],
    }

    def __init__(self, module=None, *, discriminator=FeatureCritic,
                 optimizer_discriminator=torch.optim.Adam, optimizer_encoder=torch.optim.Adam,
                 normalize_features=True, **kwargs):
        super().__init__(module, **kwargs)
        self.discriminator = discriminator
        self.optimizer_discriminator = optimizer_discriminator
        self.optimizer_encoder = optimizer_encoder
        self.normalize_features = normalize_features

    def initialize_module(self):
        """The network (on the unit sphere with ``normalize_features``) and the critic."""
        super().initialize_module()
        if self.normalize_features and not isinstance(self.module_, UnitSphereFeatures):
            self.module_ = UnitSphereFeatures(self.module_)
        return self

    def critic_features(self, x):
        """The features the critic reads: ``E(x)``, flattened.

        With ``normalize_features=True`` they lie on the unit sphere
        (``module_`` is a :class:`~robustsk.modules.UnitSphereFeatures`). The
        critic is 1-Lipschitz, so its scores, and the encoder's loss, are then
        bounded; on raw features the encoder can raise the critic's score
        without limit by scaling the features, which wrecks the classifier.
        """
        return self.module_.features(x).flatten(1)

    def _probe_features(self):
        """Features of two zero inputs with the network in eval mode, and the graph kept."""
        training = self.module_.training
        self.module_.eval()
        try:
            h, _ = self.features_and_logits(
                torch.zeros(2, *self.input_shape_, device=self.device))
        finally:
            self.module_.train(training)
        return h

    def extra_module_kwargs(self, name):
        """The discriminator reads the features: their width, and the number of classes."""
        if isinstance(getattr(self, name), torch.nn.Module):
            return {}  # an instance is used as given
        with torch.no_grad():
            h = self._probe_features()
        return {"in_features": int(np.prod(h.shape[1:])), "n_classes": len(self.classes_)}

    def get_params_for_optimizer(self, prefix, named_parameters):
        """skorch's optimizer arguments; the critic's learning rate defaults to ``10 * lr``,
        the encoder's to ``lr / 2``."""
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        default = {"optimizer_discriminator": 10.0, "optimizer_encoder": 0.5}
        if prefix in default and "lr" not in self.get_params_for(prefix):
            kwargs["lr"] = default[prefix] * self.lr
        return args, kwargs

    def optimizer_named_parameters(self, name):
        """The encoder: the parameters of ``module_`` that ``features(x)`` depends on."""
        named = [(n, p) for n, p in self.module_.named_parameters() if p.requires_grad]
        h = self._probe_features()
        grads = torch.autograd.grad(h.sum(), [p for _, p in named], allow_unused=True)
        return [(n, p) for (n, p), g in zip(named, grads) if g is not None]

    def adversarial_examples(self, x, y, random_state=None):
        """AFD's attack on tensors ``x``, ``y``: APGD-CE on the network, in eval mode."""
        rng = self.training_randomness() if random_state is None else random_state
        kwargs = self.threat_.attack_kwargs()
        kwargs.pop("step_size")
        return apgd(self.attack_module(), x, y, **kwargs, n_iter=max(self.threat_.n_iter, 1),
                    loss="ce", mode="eval", random_state=rng).detach()

    def train_step(self, batch, **fit_params):
        """One batch of the three updates, in the paper's order (see the class docstring)."""
        self.module_.train()
        self.discriminator_.train()
        x, y = self.unpack_batch(batch)
        x_adv = self.adversarial_examples(x, y)

        # (2) encoder and head on the clean cross-entropy
        self.optimizer_.zero_grad()
        logits = self.infer(x, **fit_params)
        loss = self.get_loss(logits, y, X=x, training=True)
        loss.backward()
        self.notify("on_grad_computed", batch=batch, training=True,
                    named_parameters=TeeGenerator(self.module_.named_parameters()))
        self.optimizer_.step()

        # (3) the critic: clean features high, adversarial features low
        critic = self.discriminator_
        self.optimizer_discriminator_.zero_grad()
        with torch.no_grad():
            h, h_adv = self.critic_features(x), self.critic_features(x_adv)
        s_clean, s_adv = critic(h, y), critic(h_adv, y)
        loss_d = s_adv.mean() - s_clean.mean()
        loss_d.backward()
        self.optimizer_discriminator_.step()

        # (4) the encoder alone: adversarial features should score as clean
        self.optimizer_encoder_.zero_grad()
        loss_e = -critic(self.critic_features(x_adv), y).mean()
        loss_e.backward()
        self.optimizer_encoder_.step()
        critic.zero_grad(set_to_none=True)

        self.record_loss("discriminator_loss", loss_d)
        self.record_loss("encoder_loss", loss_e)
        self.record_loss("discriminator_acc", pairwise_accuracy(s_clean.detach(), s_adv.detach()))
        return {"loss": loss, "y_pred": logits}

    def discriminator_accuracy(self, X, y, *, random_state=0, batch_size=256):
        """The critic's :func:`pairwise_accuracy` on clean and adversarial features of ``X``.

        The adversarial examples are AFD's training attack with its own seed;
        the network and the critic are in eval mode. 0.5 is chance.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : array-like of shape (n_samples,)
        random_state : int, default=0
            Seed of the attack.
        batch_size : int, default=256

        Returns
        -------
        float
        """
        target = self.as_attack_target()
        x_all = target.prepare_X(X)
        y_all = target.encode_y(y, len(x_all))
        modules = (self.module_, self.discriminator_)
        training = [m.training for m in modules]
        clean, adv = [], []
        try:
            for i in range(0, len(x_all), batch_size):
                x, yb = x_all[i:i + batch_size], y_all[i:i + batch_size]
                x_adv = self.adversarial_examples(x, yb, random_state=random_state + i)
                for m in modules:
                    m.eval()
                with torch.no_grad():
                    clean.append(self.discriminator_(self.critic_features(x), yb))
                    adv.append(self.discriminator_(self.critic_features(x_adv), yb))
        finally:
            for m, mode in zip(modules, training):
                m.train(mode)
        return pairwise_accuracy(torch.cat(clean), torch.cat(adv))
