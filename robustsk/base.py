"""The skorch-based estimator every robustsk defense shares, and its extension API.

:class:`RobustClassifier` is a ``skorch.NeuralNetClassifier`` that behaves as
a scikit-learn classifier: it validates ``X``, ``y`` and its declared
parameters once in ``fit``, encodes labels of any type (``predict`` returns
the original ones), chooses a default network from the shape of ``X``, seeds
initialisation, shuffling and training attacks from ``random_state``, and
carries a flat threat model (``eps``, ``norm``, ``step_size``, ``n_iter``,
``clip_min``, ``clip_max``) used by its defense and by ``score_adversarial``.

A defense subclasses it and overrides one skorch hook, usually
``train_step_single``; skorch keeps the epoch loop, batching, devices,
callbacks and history. What a defense author uses is public (README, "Writing
a defense"); the methods come from two mixins, :class:`robustsk.defense_api.DefenseAPI`
(the hooks below) and :class:`robustsk.fit_checks.FitChecks` (the checks ``fit``
runs before any work, with their override points ``check_params``,
``check_data_params`` and ``check_input_shape``):

``threat_``
    The resolved, validated training threat model of the current fit
    (:class:`TrainingThreat`; ``threat_.attack_kwargs()`` feeds any attack).
``unpack_batch(batch)``
    The batch as ``(x, y)`` tensors on the estimator's device.
``training_randomness()``
    The training random stream (seeded by ``random_state`` inside ``fit``).
``record_loss(name, value)``
    Any number of named loss terms per batch, averaged into ``train_<name>``
    history columns per epoch.
``attack_module()``, ``attack_loss()``, ``pgd_examples(x, y)``
    The module attacks differentiate (the whole network; an ensemble returns
    its combined output), the loss they climb, and Madry's training attack.
``features_and_logits(x)``
    ``(features, logits)`` through the features contract of
    :mod:`robustsk.modules`; ``requires_features = True`` makes ``fit`` refuse a
    module without them, or one whose ``head(features(x))`` is not ``forward(x)``.
``forwards_fit_params``
    True (the default) when the training step passes ``fit``'s keyword
    arguments to the network (``self.infer(x, **fit_params)``); set False
    where it does not, and ``fit`` refuses them before any work.
``extra_modules``
    More networks and optimizers beside ``module_``, registered with skorch
    (``clone``, pickling, ``set_params(name__...)`` and ``device=`` work).
``extra_optimizers``, ``optimizer_named_parameters(name)``, ``optimizers()``
    More optimizers over parameters the defense chooses (part of ``module_``,
    say), registered the same way; ``optimizers()`` lists every one.
``_parameter_constraints``
    Declared parameters, validated once per fit (:mod:`robustsk.params`).
"""
from contextlib import contextmanager
import copy
from functools import partial
import inspect
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from skorch import NeuralNet, NeuralNetClassifier
from skorch.callbacks import EpochScoring
from skorch.utils import to_device
import torch

from ._data import BatchIterator
from .attacks import example_seed, memory_batch_size, seed_from_random_state
from .checkpoint import epochs_resumed
from .defense_api import DefenseAPI
from .fit_checks import FitChecks, TrainingThreat, UnscaledInputWarning
from .guard import TrainingGuard, raise_if_interrupted
from .loss_terms import LossTerms
from .modules import default_module
from .parallel import limit_worker_threads
from .params import Callable, InstanceOf, Interval, Norm, Options
from .rebuild import DeferredRebuild, build_errors
from .validation import check_score_y

__all__ = ["RobustClassifier", "TrainingThreat", "NearChanceWarning", "SoftmaxOutputWarning",
           "UnscaledInputWarning", "torch_seed", "shuffle_seed"]


class NearChanceWarning(ConvergenceWarning):
    """The fitted model classifies its training data barely better than chance.

    Usually too few epochs, a learning rate far off, or an ``eps`` too large for
    the data's scale. Raise ``max_epochs``, tune ``lr``, or lower ``eps``.
    """


class SoftmaxOutputWarning(UserWarning):
    """The module's outputs look like probabilities, not logits.

    Cross-entropy and gradient attacks expect logits; attacks on softmax
    outputs see vanishing gradients and overstate robustness. Remove the final
    softmax from the module.
    """


class _FittedAttribute:
    """A class attribute that raises ``AttributeError`` until ``fit`` sets it.

    skorch defines ``classes_`` as a read-only property; this non-data
    descriptor replaces it so that ``fit`` can store the labels on the instance.
    """

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        raise AttributeError(f"{type(obj).__name__!r} has no attribute {self.name!r} "
                             "before it is fitted.")


def _looks_like_probabilities(out):
    """Rows in [0, 1] summing to 1 (more than one column)."""
    return (out.ndim == 2 and out.shape[1] > 1 and bool((out >= 0).all() and (out <= 1).all())
            and torch.allclose(out.sum(1), torch.ones_like(out[:, 0]), atol=1e-4))


def torch_seed(random_seed, epochs_done=0):
    """The seed of torch's generator for a fit that starts after ``epochs_done`` epochs.

    ``fit`` seeds weight initialisation and the training attacks' noise with it
    (``random_seed_`` is the estimator's resolved seed); the shuffling has its
    own stream, :func:`shuffle_seed`.
    """
    return example_seed(random_seed, epochs_done) & ((1 << 63) - 1)


#: Separates the shuffling's seeds from the other streams derived from ``random_seed_``.
_SHUFFLE_KEY = 0x5348554646_4C45  # "SHUFFLE"


def shuffle_seed(random_seed, epoch):
    """The seed of the generator that shuffles the training data of epoch ``epoch``.

    Epochs count from 1, across continued fits (``len(history)`` during the
    epoch). The order of each epoch's batches depends only on the estimator's
    resolved seed (``random_seed_``) and the epoch, never on what the defense
    drew before it: two defenses given the same ``random_state`` see the
    same batches, so a defense that reduces to another (``TRADES(beta=0)``
    and ``StandardTraining`` on a network without dropout) trains the same
    weights over any number of epochs, and a fit resumed from a checkpoint
    sees the batches of the fit it continues.

    Parameters
    ----------
    random_seed : int
    epoch : int

    Returns
    -------
    seed : int
        In ``[0, 2**63)``.
    """
    return example_seed(example_seed(random_seed, _SHUFFLE_KEY), epoch) & ((1 << 63) - 1)


def _raised_by_early_stopping(exc):
    """Whether a ``KeyboardInterrupt`` was raised by skorch's ``EarlyStopping`` (a completed
    epoch stopping the fit), not by Ctrl-C (SIGINT raises it in whatever frame runs)."""
    from skorch.callbacks import EarlyStopping
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    frame = None if tb is None else tb.tb_frame
    return frame is not None and frame.f_code.co_name == "on_epoch_end" and \
        isinstance(frame.f_locals.get("self"), EarlyStopping)


def _encoded_accuracy(net, X, y):
    """Validation accuracy on encoded labels (skorch's EpochScoring callable)."""
    proba = net.predict_proba(X)
    return float(np.mean(proba.argmax(axis=1) == np.asarray(y)))


def _publish_signature(cls):
    """Give ``cls.__init__`` the full signature: its own parameters and its bases' defaults.

    A defense's ``__init__`` declares its own parameters and passes the rest
    through ``**kwargs``; the signature it publishes (``inspect.signature``,
    ``help``) lists every inherited parameter with its default as well, so
    scikit-learn prints an estimator with only the parameters that differ from
    their defaults (``TRADES(beta=3.0)``), nested in a Pipeline or a grid
    search too. A class whose ``__init__`` takes no ``**kwargs`` keeps its own.
    """
    init = vars(cls).get("__init__")
    if init is None:
        return
    own = list(inspect.signature(init).parameters.values())
    var_kw = [p for p in own if p.kind is p.VAR_KEYWORD]
    if not var_kw:
        return
    params = [p for p in own if p.kind is not p.VAR_KEYWORD]
    seen = {p.name for p in params}
    for base in cls.__mro__[1:]:
        base_init = vars(base).get("__init__")
        if base_init is None or base is object:
            continue
        try:
            signature = inspect.signature(base_init)
        except (TypeError, ValueError):
            continue
        for p in signature.parameters.values():
            if p.name in seen or p.default is p.empty or p.kind in (p.VAR_POSITIONAL,
                                                                    p.VAR_KEYWORD):
                continue
            params.append(p.replace(kind=p.KEYWORD_ONLY))
            seen.add(p.name)
    try:
        init.__signature__ = inspect.Signature(params + var_kw)
    except ValueError:  # an unusual parameter order: keep the class's own signature
        return


class RobustClassifier(DefenseAPI, FitChecks, DeferredRebuild, NeuralNetClassifier):
    """Base of every robustsk estimator: a scikit-learn classifier on skorch.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=None
        A network returning logits. None picks :class:`~robustsk.modules.SmallCNN`
        for image-shaped ``X`` (``(n, C, H, W)`` or ``(n, H, W)``) and
        :class:`~robustsk.modules.MLP` for flat ``X``; ``module__*`` parameters
        reach it either way. A class whose ``__init__`` takes ``input_shape``
        or ``n_classes`` (as robustsk's modules do) gets them from the data
        unless ``module__*`` gives them. An instance is copied at every fit
        (it is never trained itself), and its weights are the starting point
        of each fit.
    eps : float, default=0.1
        Radius of the threat model in the units of ``X``: 0.1 suits images in
        [0, 1] and standardised tabular data alike.
    norm : {"inf", 2}, default="inf"
    step_size : float, default=None
        Step of the training attack; ``eps / 4`` when None (defenses document
        their own rule where it differs).
    n_iter : int, default=10
        Steps of the training attack.
    clip_min, clip_max : float or array-like, default=None
        The input domain, scalars or arrays of one example's shape; None means
        unbounded. Use 0 and 1 for images scaled to [0, 1]. ``fit`` checks that
        ``X`` lies inside.
    random_state : int or None, default=None
        Seeds weight initialisation, the training attacks and the shuffling
        (each epoch's order its own stream, :func:`shuffle_seed`); the global
        torch and numpy generators are left untouched.
    record_clean_loss : bool, default=False
        Also record ``train_clean_loss`` per epoch where the defense does not
        compute it anyway (costs one forward pass per batch, after the
        backward pass and before the optimizer step).
    criterion : torch criterion class, default=torch.nn.CrossEntropyLoss
    optimizer : torch optimizer class, default=torch.optim.Adam
    lr : float, default=1e-3
    max_epochs : int, default=20
    batch_size : int, default=64
    train_split : callable or None, default=None
        Like scikit-learn, ``fit`` uses all data; pass e.g.
        ``skorch.dataset.ValidSplit(0.2, random_state=0)`` for a validation
        split (needed by early stopping and
        :class:`~robustsk.callbacks.RobustAccuracy`). Seed the split: without
        its own ``random_state`` skorch draws a new split at every fit, so
        ``random_state`` alone no longer makes fits repeat.
    iterator_train, iterator_valid : class, default=BatchIterator
        Batches by tensor indexing; pass ``torch.utils.data.DataLoader`` for
        skorch's default. Predictions and validation run in batches of
        ``batch_size`` on the CPU (where a larger batch buys no speed and
        costs memory) and, on an accelerator, in batches sized by memory
        (:func:`~robustsk.attacks.memory_batch_size`, at least
        ``batch_size``); ``iterator_valid__batch_size`` sets them: an int,
        or ``"auto"`` for memory-sized batches on any device.
    callbacks : list or None, default=None
        skorch callbacks; they keep working during adversarial training.
    verbose : int, default=0
    warm_start : bool, default=False
        If True, a second ``fit`` continues from the current weights; otherwise
        every ``fit`` starts from fresh weights.
    device : str, default="cpu"
        "cuda" to train and attack on a GPU.
    classes : array-like or None, default=None
        All class labels, when ``y`` of the first ``fit`` may lack some. Leave
        it None under scikit-learn tools that re-encode ``y`` as 0, 1, ...
        before fitting (``cross_val_predict(method="predict_proba")``,
        ``VotingClassifier``, ``StackingClassifier``): they pass those codes.
    **kwargs
        Any other skorch parameter (``module__width=64``, ``optimizer__momentum``,
        ``iterator_train__shuffle``, ...).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, of the type ``y`` had.
    n_features_in_ : int
        Number of features of one example (the product of its shape).
    input_shape_ : tuple of int
        Shape of one example; ``predict`` checks it.
    random_seed_ : int
        The seed of the last ``fit`` (drawn afresh when ``random_state`` is None).
    threat_ : TrainingThreat
        The training threat model as validated by the last ``fit``.
    module_, optimizer_, criterion_, history_ : skorch's fitted components.
    """

    # skorch sets these in __init__; scikit-learn forbids attributes set there.
    # Class-level defaults keep skorch working until ``initialize`` sets them.
    initialized_ = False
    history_ = None
    classes_ = _FittedAttribute()

    #: the training attack's step as a fraction of eps when ``step_size`` is None
    default_step_fraction = 0.25
    #: whether the defense needs ``features_and_logits`` (``fit`` checks the module)
    requires_features = False
    #: whether ``fit(X, y, **fit_params)`` passes ``fit_params`` to every forward pass
    #: of its training loss (``self.infer(x, **fit_params)``, skorch's way); a defense
    #: that calls the network otherwise sets False, and ``fit`` refuses them
    forwards_fit_params = True

    _parameter_constraints = {
        "module": [None, Callable("a torch.nn.Module class or instance")],
        "eps": [Interval(float, 0, None)],
        "norm": [Norm()],
        "step_size": [None, Interval(float, 0, None)],
        "n_iter": [Interval(int, 0, None)],
        "random_state": [None, Interval(int, None, None),
                         InstanceOf((np.random.RandomState, np.random.Generator))],
        "record_clean_loss": [InstanceOf((bool, np.bool_), "True or False")],
        "max_epochs": [Interval(int, 0, None)],
        "batch_size": [Interval(int, 1, None), Options(-1)],
        "lr": [Interval(float, 0, None)],
        "criterion": [Callable("a torch loss class or instance (torch.nn.CrossEntropyLoss)")],
        "optimizer": [Callable("a torch.optim optimizer class (torch.optim.SGD)")],
        "iterator_train": [Callable("a batch iterator class (robustsk's BatchIterator or "
                                    "torch's DataLoader)")],
        "iterator_valid": [Callable("a batch iterator class (robustsk's BatchIterator or "
                                    "torch's DataLoader)")],
        "dataset": [Callable("a dataset class (skorch.dataset.Dataset)")],
        "train_split": [None, Callable("a split callable (skorch.dataset.ValidSplit)")],
        "warm_start": [InstanceOf((bool, np.bool_), "True or False")],
        "verbose": [Interval(int, 0, None), InstanceOf((bool, np.bool_), "True or False")],
    }

    def __init__(self, module=None, *, eps=0.1, norm="inf", step_size=None, n_iter=10,
                 clip_min=None, clip_max=None, random_state=None, record_clean_loss=False,
                 criterion=torch.nn.CrossEntropyLoss, optimizer=torch.optim.Adam, lr=1e-3,
                 max_epochs=20, batch_size=64, train_split=None,
                 iterator_train=BatchIterator, iterator_valid=BatchIterator, callbacks=None,
                 verbose=0, warm_start=False, device="cpu", classes=None, **kwargs):
        super().__init__(
            module, criterion=criterion, optimizer=optimizer, lr=lr, max_epochs=max_epochs,
            batch_size=batch_size, train_split=train_split, iterator_train=iterator_train,
            iterator_valid=iterator_valid, callbacks=callbacks, verbose=verbose,
            warm_start=warm_start, device=device, classes=classes, **kwargs)
        self.eps = eps
        self.norm = norm
        self.step_size = step_size
        self.n_iter = n_iter
        self.clip_min = clip_min
        self.clip_max = clip_max
        self.random_state = random_state
        self.record_clean_loss = record_clean_loss
        for name, default in (("history_", None), ("initialized_", False),
                              ("virtual_params_", {})):
            if name in vars(self) and vars(self)[name] == default:
                del self.__dict__[name]

    def __setattr__(self, name, attr):
        # A parameter holding a torch module or optimizer *instance* (module=net)
        # is stored as given; skorch registers only fitted components (``name_``).
        # (skorch tells the two apart by "first init", which the class-level
        # ``initialized_`` above hides.)
        if not name.endswith("_") and isinstance(attr, (torch.nn.Module, torch.optim.Optimizer)):
            object.__setattr__(self, name, attr)
            return
        super().__setattr__(name, attr)

    @property
    def virtual_params_(self):
        """skorch's pending ``set_params`` values for components not built yet."""
        return self.__dict__.setdefault("virtual_params_", {})

    @virtual_params_.setter
    def virtual_params_(self, value):
        self.__dict__["virtual_params_"] = value

    # ------------------------------------------------------------------ skorch
    @property
    def _default_callbacks(self):
        callbacks = [(name, cb) for name, cb in super()._default_callbacks if name != "valid_acc"]
        callbacks.insert(-1, ("valid_acc", EpochScoring(
            _encoded_accuracy, name="valid_acc", lower_is_better=False)))
        callbacks.insert(2, ("loss_terms", LossTerms()))
        callbacks.insert(0, ("training_guard", TrainingGuard()))  # NaN/inf stop, Ctrl-C rollback
        return callbacks

    def initialize_module(self):
        """Build the module (the default one sized from the fitted input shape) and extras."""
        kwargs = self.get_params_for("module")
        module = self.module
        if module is None:
            if not hasattr(self, "input_shape_"):
                raise NotFittedError("The default module is sized at fit: call fit(X, y).")
            module = default_module(self.input_shape_)
            kwargs = {"input_shape": self.input_shape_, "n_classes": len(self.classes_),
                      **kwargs}
        elif isinstance(module, type) and hasattr(self, "input_shape_"):
            kwargs = {**self._sized_from_data(module), **kwargs}
        self.module_ = self.initialized_instance(module, kwargs)
        if self.extra_modules:  # sized by probing module_ with inputs on the device
            self.module_ = to_device(self.module_, self.device)
        for name in self.extra_modules:
            given = getattr(self, name)
            # an instance is used as given (copied), as module= is: its sizing defaults
            # would make skorch build a fresh one; name__* arguments still rebuild it
            defaults = {} if isinstance(given, torch.nn.Module) else \
                self.extra_module_kwargs(name)
            kwargs = {**defaults, **self.get_params_for(name)}
            setattr(self, name + "_", self.initialized_instance(given, kwargs))
        return self

    def _sized_from_data(self, module_cls):
        """``input_shape`` / ``n_classes`` from the fit, for a class whose ``__init__`` takes them."""
        try:
            accepted = inspect.signature(module_cls).parameters
        except (TypeError, ValueError):
            return {}
        known = {"input_shape": self.input_shape_, "n_classes": len(self.classes_)}
        return {k: v for k, v in known.items() if k in accepted}

    def initialized_instance(self, instance_or_cls, kwargs):
        """skorch's component builder, except that a module *instance* is copied.

        A ``torch.nn.Module`` instance given as a parameter (``module=net``)
        is deep-copied, so ``fit`` never trains the user's object (scikit-learn
        estimators do not modify their parameters) and every fit without
        ``warm_start`` starts from the instance's weights as given (its own
        initialisation, or pretrained weights); ``random_state`` then seeds
        shuffling and attacks only. With ``module__*`` arguments, skorch
        builds a new module of the instance's class instead.
        """
        if isinstance(instance_or_cls, torch.nn.Module) and not kwargs:
            return copy.deepcopy(instance_or_cls)
        return super().initialized_instance(instance_or_cls, kwargs)

    def check_data(self, X, y=None):
        """Skip skorch's class inference: ``fit`` has already validated and encoded."""

    def check_is_fitted(self, attributes=None, *args, **kwargs):
        """Raise scikit-learn's ``NotFittedError`` unless ``fit`` has been called."""
        if "classes_" not in vars(self) or not self.initialized_ or "module_" not in vars(self):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")

    def __sklearn_is_fitted__(self):
        try:
            self.check_is_fitted()
        except NotFittedError:
            return False
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _publish_signature(cls)

    # scikit-learn's printer (print_changed_only: the parameters that differ
    # from the __init__ signature's defaults), instead of skorch's module-only one.
    __repr__ = BaseEstimator.__repr__

    def _get_param_names(self):
        # skorch lists every attribute not ending in "_", its private
        # bookkeeping (_params_to_validate) included; that is not a parameter.
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    @contextmanager
    def _seeded(self, seed):
        """Fork torch's RNG and seed it, so a fit never touches the global state."""
        devices = []
        if str(self.device).startswith("cuda") and torch.cuda.is_available():
            devices = [torch.device(self.device).index or 0]
        with torch.random.fork_rng(devices=devices):
            # Only the generators forked above: torch.manual_seed would also seed every
            # other accelerator (outside the fork) and, with CUDA not yet initialised,
            # queue a lazy call that formats a stack trace (about 1 ms per fit call).
            torch.default_generator.manual_seed(seed)
            for index in devices:
                torch.cuda.default_generators[index].manual_seed(seed)
            yield

    def _train(self, X, y, reset, check=True, saved=None, **fit_params):
        limit_worker_threads()  # joblib's share of the CPUs in a GridSearchCV worker
        if reset or "random_seed_" not in vars(self):
            self.random_seed_ = seed_from_random_state(self.random_state)
        vars(self).pop("_shuffle_generators", None)  # get_iterator makes this fit's
        # A continued fit (warm start, partial_fit) draws new shuffles and attack
        # noise: the stream depends on how many epochs were trained before.
        done = 0 if reset or self.history is None else len(self.history)
        with self._seeded(torch_seed(self.random_seed_, done)):
            with self._kept_on_error(saved):
                if reset:
                    with build_errors(self):
                        self.initialize()
                    self._check_module_output(X)
                else:
                    self._rebuild_pending(X)
                self._check_valid_split_callbacks()  # (reads the built callbacks)
            NeuralNet.partial_fit(self, X, y, **fit_params)
        raise_if_interrupted(self)  # skorch swallows Ctrl-C; the guard kept the last epoch
        if check:
            self._check_fitted_model(X, y)
        return self

    def notify(self, method_name, **cb_kwargs):
        """skorch's callback dispatch; then each epoch is closed (``on_epoch_closed``).

        After the estimator's and every callback's ``on_epoch_end`` have run (or
        skorch's ``EarlyStopping`` stopped the fit there), callbacks that have an
        ``on_epoch_closed(net)`` method are called with the epoch's history row
        complete: :class:`~robustsk.guard.TrainingGuard` counts the epoch as done
        only then (a Ctrl-C during an epoch-end callback is an interruption),
        and :class:`~robustsk.checkpoint.TrainingCheckpoint` saves then.
        """
        if method_name != "on_epoch_end":
            return super().notify(method_name, **cb_kwargs)
        try:
            super().notify(method_name, **cb_kwargs)
        except KeyboardInterrupt as exc:
            if _raised_by_early_stopping(exc):
                self._close_epoch()
            raise
        self._close_epoch()

    def _close_epoch(self):
        for _, cb in self.callbacks_:
            close = getattr(cb, "on_epoch_closed", None)
            if callable(close):
                close(self)

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """skorch's epoch loop; a fit resumed from a checkpoint trains only the epochs left."""
        if epochs is None:
            epochs = max(int(self.max_epochs) - epochs_resumed(self), 0)
        return super().fit_loop(X, y, epochs=epochs, **fit_params)

    def fit(self, X, y, **fit_params):
        """Validate the data, (re)initialise unless ``warm_start``, and train.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, C, H, W)
        y : array-like of shape (n_samples,)
            Labels of any type; ``predict`` returns them.
        **fit_params
            Passed to the module's ``forward`` in the training loss (skorch),
            not to the training attack nor to ``predict``; refused by defenses
            that cannot pass them (``forwards_fit_params = False``).

        Returns
        -------
        self

        Raises
        ------
        robustsk.TrainingDivergedError
            The loss, gradients, parameters or training attack became NaN or
            inf; the estimator keeps its state from before that batch.
        KeyboardInterrupt
            Ctrl-C; the estimator keeps its last completed epoch
            (:mod:`robustsk.guard`). A ``TrainingCheckpoint`` callback
            resumes an interrupted fit (:mod:`robustsk.checkpoint`).
        """
        self._check_fit_params(fit_params)
        reset = not (self.warm_start and self.__sklearn_is_fitted__())
        saved = dict(vars(self))
        with self._kept_on_error(saved):
            X, y = self._validate_fit(X, y, reset=reset)
        return self._train(X, y, reset, saved=saved, **fit_params)

    def partial_fit(self, X, y, classes=None, **fit_params):
        """Train for ``max_epochs`` epochs without re-initialising (skorch's meaning).

        Parameters
        ----------
        X, y : as in :meth:`fit`
        classes : array-like, default=None
            All labels, on the first call, when ``y`` may lack some.

        Notes
        -----
        The checks of the trained model that ``fit`` runs at its end (outputs
        that look like probabilities, training accuracy near chance: a forward
        pass on up to 64 training examples) run only on the call that
        initialises the model, as scikit-learn's ``partial_fit`` methods leave
        convergence to the caller; a loop of calls then pays no fixed cost per
        call beyond skorch's.
        """
        self._check_fit_params(fit_params)
        reset = not self.__sklearn_is_fitted__()
        saved = dict(vars(self))
        with self._kept_on_error(saved):
            X, y = self._validate_fit(X, y, reset=reset, classes=classes)
        return self._train(X, y, reset, check=reset, saved=saved, **fit_params)

    def _check_fitted_model(self, X, y, n_check=256):
        # rows spread evenly over the training set (data sorted by class would
        # otherwise be judged on one class), chance from every label
        rows = np.unique(np.linspace(0, len(X) - 1, min(len(X), n_check)).round().astype(int))
        x = torch.as_tensor(X[rows], device=self.device)
        with torch.no_grad():
            self.module_.eval()
            out = self.module_(x)
            # an ensemble's members too: a combination (log of the mean softmax) hides them
            member_logits = getattr(self.module_, "member_logits", None)
            outputs = [out] + (list(member_logits(x)) if callable(member_logits) else [])
        probabilities = [_looks_like_probabilities(o) for o in outputs]
        if any(probabilities):
            whose = "module's" if probabilities[0] else "ensemble members'"
            warnings.warn(
                f"The {whose} outputs are in [0, 1] and sum to 1: they look like "
                "probabilities. robustsk expects logits (the loss applies softmax itself, "
                "and attacks on softmax outputs are weak): remove the final softmax.",
                SoftmaxOutputWarning, stacklevel=3)
        acc = float((out.argmax(1).cpu().numpy() == y[rows]).mean())
        chance = np.bincount(y).max() / len(y)
        if len(rows) >= 20 and acc <= chance + 0.02:
            warnings.warn(
                f"Training accuracy {acc:.3f} is near chance ({chance:.3f}): the model has "
                "barely learned. Train longer (max_epochs), tune lr, or lower eps.",
                NearChanceWarning, stacklevel=3)

    # ------------------------------------------------------------ prediction

    def _get_predict_nonlinearity(self):
        # skorch's "auto" applies softmax only under CrossEntropyLoss; robustsk
        # modules return logits whatever the criterion (MCELoss, ...), so
        # probabilities are always their softmax unless the user says otherwise.
        if isinstance(self.predict_nonlinearity, str) and self.predict_nonlinearity == "auto":
            return partial(torch.softmax, dim=-1)
        return super()._get_predict_nonlinearity()

    def predict_proba(self, X):
        """Class probabilities (softmax of the logits), columns ordered as ``classes_``."""
        return super().predict_proba(self._prepare_predict(X))

    def predict_log_proba(self, X):
        """Log class probabilities (log-softmax of the logits), columns ordered as ``classes_``."""
        nonlinearity = self.predict_nonlinearity
        if isinstance(nonlinearity, str) and nonlinearity == "auto":
            X = self._prepare_predict(X)
            logits = self.forward(X).detach()
            return torch.log_softmax(logits.double(), dim=-1).cpu().numpy()
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def decision_function(self, X):
        """Logits of shape (n_samples, n_classes); for two classes, ``z_1 - z_0``."""
        X = self._prepare_predict(X)
        logits = self.forward(X).detach().cpu().numpy().astype(np.float64)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict(self, X):
        """Predicted labels, of the type of the labels given to ``fit``."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    # ------------------------------------------------------------ robustness
    def get_iterator(self, dataset, training=False):
        """skorch's iterator; training batches are shuffled unless told otherwise.

        Predictions (and validation) run in batches of ``batch_size`` on the
        CPU and sized by memory on an accelerator, unless
        ``iterator_valid__batch_size`` says otherwise (an int, or ``"auto"``).
        When the network has batch-norm layers, which cannot normalise one
        example in training mode, a last training batch of one example is
        dropped (a different example each epoch, as batches are shuffled),
        unless ``iterator_train__drop_last`` is given.
        """
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        if training:
            kwargs.setdefault("shuffle", True)
            if kwargs["shuffle"] and kwargs.get("generator") is None and \
                    "random_seed_" in vars(self):
                # reseeded at every epoch's start (on_epoch_begin), with any other
                # training iterator made during the fit (a defense counting batches)
                kwargs["generator"] = torch.Generator().manual_seed(
                    shuffle_seed(self.random_seed_, len(self.history) + 1))
                vars(self).setdefault("_shuffle_generators", []).append(kwargs["generator"])
            size = len(dataset) if hasattr(dataset, "__len__") else None
            batch = kwargs.get("batch_size", self.batch_size)
            if "drop_last" not in kwargs and size is not None and size > 1 and batch not in \
                    (-1, 1) and size % batch == 1 and _has_batch_norm(self.module_):
                kwargs["drop_last"] = True
        else:
            if "batch_size" not in kwargs and self.device is not None and \
                    torch.device(self.device).type != "cpu":
                kwargs["batch_size"] = "auto"  # fewer, fuller launches on an accelerator
            if isinstance(kwargs.get("batch_size"), str) and kwargs["batch_size"] == "auto":
                kwargs["batch_size"] = self._inference_batch_size(dataset)
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        return getattr(self, prefix)(dataset, **kwargs)

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """skorch's new history row; the training batches' order of this epoch is seeded."""
        super().on_epoch_begin(net, dataset_train=dataset_train, dataset_valid=dataset_valid,
                               **kwargs)
        for generator in vars(self).get("_shuffle_generators", ()):
            generator.manual_seed(shuffle_seed(self.random_seed_, len(self.history)))

    def _inference_batch_size(self, dataset):
        """:func:`~robustsk.attacks.memory_batch_size` for one example of ``dataset``
        (the network probed in eval mode), at least ``batch_size``; ``batch_size``
        when the data fit one batch or the network cannot be probed."""
        module = getattr(self, "module_", None)
        if self.batch_size == -1 or not isinstance(module, torch.nn.Module):
            return self.batch_size
        training = module.training
        try:
            if len(dataset) <= self.batch_size:
                return self.batch_size
            first = dataset[0][0]
            if not isinstance(first, (np.ndarray, torch.Tensor)):
                return self.batch_size
            module.eval()  # no batch-norm statistics updated by the probe
            size = memory_batch_size(module, torch.as_tensor(first, device=self.device)[None])
        except Exception:  # a network or dataset this probe does not fit: skorch's default
            return self.batch_size
        finally:
            module.train(training)
        return max(int(self.batch_size), size)


    def score(self, X, y, sample_weight=None):
        """Mean accuracy on ``(X, y)``, as scikit-learn's ``ClassifierMixin.score``.

        ``y`` is checked before any prediction: one discrete label per example, of the
        type of the fitted classes (strings for a model fitted on strings, numbers
        for one fitted on numbers). Labels the model does not know count as errors.
        """
        self.check_is_fitted()
        check_score_y(self, X, y)
        return super().score(X, y, sample_weight=sample_weight)

    def score_adversarial(self, X, y, attack=None, *, per_class=False):
        """Robust accuracy: the fraction of all examples still correct under attack.

        An example misclassified without attack counts as a failure, so the
        result never exceeds :meth:`score`.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : array-like of shape (n_samples,)
        attack : Attack, default=None
            None uses :func:`robustsk.attacks.default_attack` (PGD-20 from a
            random start with step eps/4 and 3 restarts, then APGD-CE, then a
            scale-invariant targeted APGD-DLR, each on the survivors of the
            previous ones, so that logits scaled by a large constant cannot
            hide adversarial examples) in this estimator's own threat model;
            parameters left None in a given attack inherit it too.
        per_class : bool, default=False
            If True, return the robust accuracy of each class's examples.

        Returns
        -------
        score : float, or pandas.Series indexed by class label if ``per_class``
        """
        from .metrics import robust_accuracy
        return robust_accuracy(self, X, y, attack=attack, per_class=per_class)


_BATCH_NORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d,
                torch.nn.SyncBatchNorm, torch.nn.LazyBatchNorm1d, torch.nn.LazyBatchNorm2d,
                torch.nn.LazyBatchNorm3d)


def _has_batch_norm(module):
    return isinstance(module, torch.nn.Module) and any(
        isinstance(m, _BATCH_NORMS) for m in module.modules())


_publish_signature(RobustClassifier)
