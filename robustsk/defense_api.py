"""The public extension API of robustsk's estimators: what a defense author uses.

:class:`DefenseAPI` is a mixin of :class:`robustsk.base.RobustClassifier`
(README, "Writing a defense"; the docs' guide of the same name):

``unpack_batch(batch)``
    The batch as ``(x, y)`` tensors on the estimator's device.
``training_randomness()``
    The training random stream (seeded by ``random_state`` inside ``fit``).
``record_loss(name, value)``
    Named loss terms per batch, averaged into ``train_<name>`` history columns.
``attack_module()``, ``attack_loss()``, ``pgd_examples(x, y)``
    The module attacks differentiate, the loss they climb, Madry's training attack.
``features_and_logits(x)``
    ``(features, logits)`` through the features contract of :mod:`robustsk.modules`.
``extra_modules``, ``extra_optimizers``, ``optimizer_named_parameters(name)``, ``optimizers()``
    More networks and optimizers beside ``module_`` and ``optimizer_``,
    registered with skorch, and one backward pass then every optimizer's step
    in ``train_step``; ``optimizer_names()`` gives the optimizers' parameter names.
``as_attack_target()``
    The fitted network as the target of robustsk's attacks.
"""
import copy

import numpy as np
from skorch.dataset import unpack_data
from skorch.utils import TeeGenerator, to_tensor
import torch

from .attacks import AttackTarget, Randomness, pgd
from .guard import watch_finite
from .modules import check_features, features_and_logits
from .validation import check_box, check_in_box, check_y

__all__ = ["DefenseAPI"]


class DefenseAPI:
    """Hooks and helpers for writing a defense (a mixin of ``RobustClassifier``).

    A defense overrides skorch's ``train_step_single`` (or, alternating
    updates between networks, ``train_step``) and builds its batch from these
    methods; everything else (epochs, batching, devices, callbacks, history,
    ``clone``, pickling) stays skorch's and scikit-learn's.
    """

    #: extra networks beside ``module_``: {module parameter: optimizer parameter or None}.
    #: Each ``name`` becomes ``name_`` (built from the parameter ``name`` with
    #: ``name__*`` arguments and :meth:`extra_module_kwargs`); an optimizer
    #: parameter ``opt`` gives it its own optimizer ``opt_`` (``opt__lr``, ...),
    #: None lets the main optimizer train it.
    extra_modules = {}
    #: further optimizers over parameters chosen by the defense (e.g. an encoder
    #: optimizer over part of ``module_``): optimizer parameter names. Each ``opt``
    #: becomes ``opt_``, built from the parameter ``opt`` (``opt__lr``, ...) over
    #: :meth:`optimizer_named_parameters` ``(opt)``; it may share parameters with
    #: ``optimizer_``, and a defense whose optimizers share parameters overrides
    #: ``train_step`` to update them in turn.
    extra_optimizers = ()

    def extra_module_kwargs(self, name):
        """Default keyword arguments of the extra module ``name`` (override to size it).

        Called after ``module_`` is built and moved to ``device``, so sizes can
        come from it, e.g. the width of ``self.features_and_logits(x)[0]`` for
        ``x`` on ``self.device``. ``name__*`` parameters win. Not called when
        the parameter ``name`` holds a module instance: it is used as given.
        """
        return {}

    def initialize_optimizer(self, *args, **kwargs):
        """The main optimizer, and one per extra module that declares its own."""
        owned = {name: opt for name, opt in self.extra_modules.items() if opt}
        if not owned:
            super().initialize_optimizer(*args, **kwargs)
        else:
            excluded = {p for name in owned for p in getattr(self, name + "_").parameters()}
            named = [(n, p) for n, p in self.get_all_learnable_params() if p not in excluded]
            pargs, pkwargs = self.get_params_for_optimizer("optimizer", named)
            self.optimizer_ = self.optimizer(*pargs, **pkwargs)
        for name, opt in owned.items():
            pargs, pkwargs = self.get_params_for_optimizer(
                opt, getattr(self, name + "_").named_parameters())
            setattr(self, opt + "_", getattr(self, opt)(*pargs, **pkwargs))
        for opt in self.extra_optimizers:
            pargs, pkwargs = self.get_params_for_optimizer(
                opt, self.optimizer_named_parameters(opt))
            setattr(self, opt + "_", getattr(self, opt)(*pargs, **pkwargs))
        return self

    def optimizer_named_parameters(self, name):
        """The ``(name, parameter)`` pairs the extra optimizer ``name`` updates (override).

        Called once per optimizer of :attr:`extra_optimizers` after the modules
        are built (and moved to the device), e.g. the parameters of
        ``module_`` that ``features`` uses.

        Parameters
        ----------
        name : str
            An entry of ``extra_optimizers``.

        Returns
        -------
        iterable of (str, torch.nn.Parameter)
        """
        raise NotImplementedError(
            f"{type(self).__name__} declares extra_optimizers={tuple(self.extra_optimizers)!r} "
            f"but does not say which parameters {name!r} updates: override "
            "optimizer_named_parameters(name) to return (name, parameter) pairs.")

    def optimizer_names(self):
        """The optimizer parameters of the fit: ``"optimizer"``, the extra modules' in
        declared order, then :attr:`extra_optimizers`."""
        return ["optimizer", *[opt for opt in self.extra_modules.values() if opt],
                *self.extra_optimizers]

    def set_training(self, training=True):
        """Put every module and criterion (``module_``, the extra modules) in train mode,
        or in eval mode with ``training=False``: the first step of a ``train_step`` that
        alternates updates between networks.

        Parameters
        ----------
        training : bool, default=True

        Returns
        -------
        self
        """
        self._set_training(training)
        return self

    def optimizers(self):
        """Every optimizer of the fit (``name + "_"`` for each of :meth:`optimizer_names`)."""
        return [getattr(self, name + "_") for name in self.optimizer_names()]

    def train_step(self, batch, **fit_params):
        """skorch's step in train mode; with several optimizers, one backward pass, then each steps.

        (skorch would pass the step closure to every optimizer, computing the
        loss once per optimizer.) A defense that alternates updates between
        its networks overrides this method.
        """
        self.set_training(True)  # every module and criterion in train mode
        if not (any(self.extra_modules.values()) or self.extra_optimizers):
            return super().train_step(batch, **fit_params)
        for optimizer in self.optimizers():
            optimizer.zero_grad()
        step = self.train_step_single(batch, **fit_params)
        self.notify("on_grad_computed", batch=batch, training=True,
                    named_parameters=TeeGenerator(self.get_all_learnable_params()))
        for optimizer in self.optimizers():
            optimizer.step()
        return step

    def unpack_batch(self, batch):
        """The batch's inputs and encoded labels as tensors on the estimator's device."""
        Xi, yi = unpack_data(batch)
        return to_tensor(Xi, device=self.device), to_tensor(yi, device=self.device)

    def training_randomness(self):
        """Random draws of training attacks: torch's generator, seeded inside ``fit``.

        Returns
        -------
        Randomness
            Pass it as ``random_state`` to any attack function; a fit with the
            same ``random_state`` draws the same noise.
        """
        return Randomness(generator=torch.default_generator)

    def record_loss(self, name, value):
        """Record a named loss term of the current batch (history column ``train_<name>``).

        The epoch's column is the batch-size-weighted mean, like ``train_loss``.
        ``record_loss("clean_loss", ...)`` also spares the extra forward pass
        that ``record_clean_loss=True`` would otherwise cost.

        Parameters
        ----------
        name : str
        value : float or 0-d Tensor (detached here)
        """
        if torch.is_tensor(value):
            value = value.detach().item()
        self.history.record_batch(f"train_{name}", float(value))

    def attack_loss(self):
        """The per-example loss training attacks climb: the criterion's own.

        ``"ce"`` for the default cross-entropy (the attacks' fast path);
        otherwise a function ``(logits, y, **kw) -> (n,)`` evaluating a copy of
        ``criterion_`` with ``reduction="none"``, so e.g.
        ``AdversarialTraining(criterion=MCELoss)`` attacks the loss it trains on.
        """
        criterion = self.criterion_
        if type(criterion) is torch.nn.CrossEntropyLoss and criterion.weight is None \
                and criterion.label_smoothing == 0 and criterion.ignore_index == -100:
            return "ce"
        if not hasattr(criterion, "reduction"):
            raise TypeError(
                f"criterion {type(criterion).__name__} has no 'reduction' attribute, so the "
                "training attack cannot get one loss per example: give the criterion a "
                "reduction='none' mode (as torch's losses have).")
        per_example = copy.copy(criterion)
        per_example.reduction = "none"

        def loss(logits, y, **_):
            return per_example(logits, y)
        return loss

    def pgd_examples(self, x, y, *, n_iter=None, mode="eval"):
        """Madry et al.'s training attack on a batch, in this fit's threat model.

        PGD from a uniform random start in ``threat_``, climbing
        :meth:`attack_loss` on :meth:`attack_module`, with the training random
        stream; the last iterate. ``n_iter`` defaults to ``threat_.n_iter``;
        ``mode`` is the network's mode during the attack.
        """
        x_adv = pgd(self.attack_module(), x, y, **self.threat_.attack_kwargs(),
                    n_iter=self.threat_.n_iter if n_iter is None else n_iter,
                    random_start="uniform", loss=self.attack_loss(), return_best=False,
                    mode=mode, random_state=self.training_randomness())
        return watch_finite(self, x_adv, "attack iterate")  # checked with the batch's loss

    def attack_module(self):
        """The torch module attacks differentiate: inputs to logits (here ``module_``)."""
        return self.module_

    def features_and_logits(self, x):
        """``(features, logits)`` of the network at ``x`` (see :mod:`robustsk.modules`)."""
        module = self.module_
        check_features(module, who=type(self).__name__)
        return features_and_logits(module, x)

    def on_grad_computed(self, net, named_parameters, batch=None, training=False, **kwargs):
        """With ``record_clean_loss=True``, record the batch's clean loss if the defense did not."""
        if not (training and self.record_clean_loss) or batch is None:
            return
        if "train_clean_loss" in self.history[-1]["batches"][-1]:
            return
        x, y = self.unpack_batch(batch)
        with torch.no_grad():
            loss = self.get_loss(self.infer(x), y, X=x, training=False)
        self.record_loss("clean_loss", loss)

    def as_attack_target(self):
        """The fitted network as an attack target: its module, input preparation and labels."""
        device = self.device

        def prepare_X(X, box=(None, None)):
            X = self._prepare_predict(X, warn_box=False)  # the attack checks its own box
            lo, hi = check_box(*box, self.input_shape_)
            check_in_box(X, lo, hi)
            if isinstance(X, np.ndarray) and not X.flags.writeable:
                X = X.copy()  # a read-only view (pandas' copy-on-write): torch needs its own
            return torch.as_tensor(X, device=device)

        def encode_y(y, n_samples):
            return torch.as_tensor(self._encode(check_y(y, n_samples)), device=device)

        return AttackTarget(module=self.attack_module(), prepare_X=prepare_X, encode_y=encode_y,
                            estimator=self)
