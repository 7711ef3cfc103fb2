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
a defense"):

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
    module without them.
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
from dataclasses import dataclass
from functools import partial
import inspect
from typing import Any
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.validation import _check_feature_names
from skorch import NeuralNet, NeuralNetClassifier
from skorch.callbacks import Checkpoint, EarlyStopping, EpochScoring
from skorch.dataset import unpack_data
from skorch.utils import TeeGenerator, is_dataset, to_tensor
import torch

from ._data import BatchIterator
from .attacks import (
    AttackTarget,
    Randomness,
    check_threat,
    example_seed,
    pgd,
    seed_from_random_state,
)
from .checkpoint import epochs_resumed
from .guard import TrainingGuard, raise_if_interrupted, watch_finite
from .loss_terms import LossTerms
from .modules import check_features, default_module, features_and_logits, has_features
from .parallel import limit_worker_threads
from .params import Callable, InstanceOf, Interval, Options, validate_params
from .validation import (
    check_box,
    check_device,
    check_in_box,
    check_threat_params,
    check_X,
    check_y,
)

__all__ = ["RobustClassifier", "TrainingThreat", "NearChanceWarning", "SoftmaxOutputWarning",
           "torch_seed"]


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


def torch_seed(random_seed, epochs_done=0):
    """The seed of torch's generator for a fit that starts after ``epochs_done`` epochs.

    ``fit`` seeds weight initialisation, shuffling and training attacks with it
    (``random_seed_`` is the estimator's resolved seed).
    """
    return example_seed(random_seed, epochs_done) & ((1 << 63) - 1)


@dataclass(frozen=True)
class TrainingThreat:
    """The resolved training threat model of a fit (``RobustClassifier.threat_``).

    Attributes
    ----------
    eps : float
    norm : {"inf", "2"}
    step_size : float
        The estimator's ``step_size``, or the defense's default fraction of eps.
    n_iter : int
        Steps of the training attack.
    clip_min, clip_max : ndarray or None
        The input domain as validated in ``fit`` (None: unbounded).
    """

    eps: float
    norm: str
    step_size: float
    n_iter: int
    clip_min: Any = None
    clip_max: Any = None

    def attack_kwargs(self):
        """``eps``, ``norm``, ``step_size``, ``clip_min``, ``clip_max`` for an attack function."""
        return {"eps": self.eps, "norm": self.norm, "step_size": self.step_size,
                "clip_min": self.clip_min, "clip_max": self.clip_max}


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


class RobustClassifier(NeuralNetClassifier):
    """Base of every robustsk estimator: a scikit-learn classifier on skorch.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=None
        A network returning logits. None picks :class:`~robustsk.modules.SmallCNN`
        for image-shaped ``X`` (``(n, C, H, W)`` or ``(n, H, W)``) and
        :class:`~robustsk.modules.MLP` for flat ``X``; ``module__*`` parameters
        reach it either way. An instance is copied at every fit (it is never
        trained itself), and its weights are the starting point of each fit.
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
        Seeds weight initialisation, shuffling and the training attacks; the
        global torch and numpy generators are left untouched.
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
        ``skorch.dataset.ValidSplit(0.2)`` for a validation split (needed by
        early stopping and :class:`~robustsk.callbacks.RobustAccuracy`).
    iterator_train, iterator_valid : class, default=BatchIterator
        Batches by tensor indexing; pass ``torch.utils.data.DataLoader`` for
        skorch's default.
    callbacks : list or None, default=None
        skorch callbacks; they keep working during adversarial training.
    verbose : int, default=0
    warm_start : bool, default=False
        If True, a second ``fit`` continues from the current weights; otherwise
        every ``fit`` starts from fresh weights.
    device : str, default="cpu"
        "cuda" to train and attack on a GPU.
    classes : array-like or None, default=None
        All class labels, when ``y`` of the first ``fit`` may lack some.
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

    _parameter_constraints = {
        "module": [None, Callable("a torch.nn.Module class or instance")],
        "eps": [Interval(float, 0, None)],
        "norm": [Options("inf", "linf", "l_inf", "infinity", np.inf, 2, "2", "l2", "l_2")],
        "step_size": [None, Interval(float, 0, None)],
        "n_iter": [Interval(int, 0, None)],
        "random_state": [None, Interval(int, None, None),
                         InstanceOf((np.random.RandomState, np.random.Generator))],
        "record_clean_loss": [InstanceOf((bool, np.bool_), "True or False")],
        "max_epochs": [Interval(int, 0, None)],
        "batch_size": [Interval(int, 1, None), Options(-1)],
        "lr": [Interval(float, 0, None)],
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
        self.module_ = self.initialized_instance(module, kwargs)
        for name in self.extra_modules:
            kwargs = {**self.extra_module_kwargs(name), **self.get_params_for(name)}
            setattr(self, name + "_", self.initialized_instance(getattr(self, name), kwargs))
        return self

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

    def extra_module_kwargs(self, name):
        """Default keyword arguments of the extra module ``name`` (override to size it).

        Called after ``module_`` is built, so sizes can come from it, e.g. the
        width of ``self.features_and_logits(x)[0]``. ``name__*`` parameters win.
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

    def optimizers(self):
        """Every optimizer of the fit: ``optimizer_``, the extra modules' in declared order,
        then :attr:`extra_optimizers`."""
        extra = [getattr(self, opt + "_") for opt in self.extra_modules.values() if opt]
        extra += [getattr(self, opt + "_") for opt in self.extra_optimizers]
        return [self.optimizer_, *extra]

    def train_step(self, batch, **fit_params):
        """skorch's step in train mode; with several optimizers, one backward pass, then each steps.

        (skorch would pass the step closure to every optimizer, computing the
        loss once per optimizer.) A defense that alternates updates between
        its networks overrides this method.
        """
        self._set_training(True)  # every module and criterion in train mode
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

    def set_params(self, **params):
        """Set parameters; like scikit-learn, invalid values are reported by ``fit``."""
        if "callbacks" in params and not self.initialized_:
            # skorch builds the callbacks here; before fit, ``initialize`` does it.
            self.__dict__["callbacks"] = params.pop("callbacks")
        return super().set_params(**params)

    # --------------------------------------------------------------- fitting
    def _validate_fit(self, X, y, reset, classes=None):
        """Validate everything before touching any fitted state (a failure loses nothing)."""
        validate_params(self, hints=self._param_hints())
        self.check_params()
        self._check_criterion()
        check_threat_params(self)
        check_device(self.device)
        cbs = self.callbacks
        if not (cbs is None or (isinstance(cbs, str) and cbs == "disable")
                or isinstance(cbs, (list, tuple))):
            raise ValueError(f"callbacks={cbs!r}: expected None, 'disable' or a list of skorch "
                             "callbacks (or (name, callback) pairs).")
        if not reset:
            _check_feature_names(self, X, reset=False)
        X_in = X
        X = check_X(X)
        y = check_y(y, len(X))
        if reset:
            known = classes if classes is not None else self.classes
            labels = np.unique(y) if known is None else np.unique(np.asarray(known))
            if len(labels) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes in the data, "
                    f"but y contains only one class: {labels[0]!r}. A classifier "
                    "cannot train when only one class is present.")
            input_shape = tuple(X.shape[1:])
        else:
            X = self._check_shape(X)
            labels, input_shape = self.classes_, self.input_shape_
        box = check_box(self.clip_min, self.clip_max, input_shape)
        check_in_box(X, *box)
        y = self._encode(y, labels)
        self.check_data_params(labels)
        self.check_input_shape(input_shape)
        if self.requires_features:
            self._check_module_features(input_shape, len(labels))
        eps, norm, step = check_threat(self.eps, self.norm, self.step_size,
                                       default_step=self.default_step_fraction)
        if reset:
            _check_feature_names(self, X_in, reset=True)
            self.classes_ = labels
            self.input_shape_ = input_shape
            self.n_features_in_ = int(np.prod(input_shape))
        self.threat_ = TrainingThreat(eps=eps, norm=norm, step_size=step, n_iter=int(self.n_iter),
                                      clip_min=box[0], clip_max=box[1])
        return X, y

    def _param_hints(self):
        return {"norm": "Pass norm='inf' (L-infinity ball) or norm=2 (L2 ball).",
                "eps": "A radius cannot be negative or infinite: pass eps >= 0 in the units of X, "
                       "e.g. eps=0.1 for images in [0, 1].",
                "random_state": "Pass None, an int or a numpy RandomState/Generator."}

    def check_params(self):
        """Cross-parameter checks beyond ``_parameter_constraints`` (override; called in ``fit``).

        Runs once per ``fit``, after the declared constraints and before any
        fitted state changes; raise ``ValueError`` saying what was received,
        what was expected and what to do.
        """

    def _check_criterion(self):
        """Build the criterion once, so its argument errors come before any state changes.

        (skorch builds it in ``initialize``, after the module: a criterion
        refusing ``criterion__*`` there would cost a fitted model its weights.)
        """
        if isinstance(self.criterion, type):
            self.initialized_instance(self.criterion, self.get_params_for("criterion"))

    def check_data_params(self, classes):
        """Checks of parameters that refer to the classes (override; called in ``fit``).

        Runs once per ``fit`` after the labels are known and before any fitted
        state changes, so a failure loses nothing; raise ``ValueError`` as in
        :meth:`check_params`.

        Parameters
        ----------
        classes : ndarray of shape (n_classes,)
            The sorted labels the fit will store as ``classes_``.
        """

    def check_input_shape(self, input_shape):
        """Checks of parameters that refer to the shape of one example (override; called in ``fit``).

        Runs once per ``fit``, right after :meth:`check_data_params`, before any
        fitted state changes; raise ``ValueError`` as in :meth:`check_params`
        (e.g. a fitted model given as a parameter that expects other inputs, or
        a patch-based defense given flat inputs or patches larger than the
        images).

        Parameters
        ----------
        input_shape : tuple of int
            The shape of one example of ``X`` (``input_shape_`` after the fit).
        """

    def _check_module_features(self, input_shape, n_classes):
        module = self.module
        if module is None or has_features(module):
            return
        if isinstance(module, type):  # a class: look at an instance (features may be submodules)
            kwargs = self.get_params_for("module")
            try:
                module = module(**kwargs)
            except TypeError:
                return  # its own arguments are reported by skorch when it is built
        check_features(module, who=type(self).__name__)

    def _encode(self, y, classes=None):
        classes = self.classes_ if classes is None else classes
        y = np.asarray(y)
        unknown = ~np.isin(y, classes)
        if unknown.any():
            raise ValueError(
                f"y contains labels {np.unique(y[unknown])[:10].tolist()} that are not among "
                f"the classes {classes.tolist()[:20]}: pass all labels with classes=... "
                "or refit on data that contains them.")
        return np.searchsorted(classes, y).astype(np.int64)

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

    def _check_valid_split_callbacks(self):
        if self.train_split:
            return
        for name, cb in self.callbacks_:
            monitor = getattr(cb, "monitor", None)
            needs = getattr(cb, "needs_valid_split", False) or (
                isinstance(cb, (EarlyStopping, Checkpoint)) and isinstance(monitor, str)
                and monitor.startswith("valid"))
            if needs:
                raise ValueError(
                    f"Callback {name!r} monitors validation data, but train_split=None (fit "
                    "uses all data, as in scikit-learn). Pass a split, e.g. "
                    "train_split=skorch.dataset.ValidSplit(0.2), or monitor a training "
                    "column such as 'train_loss'.")

    def _train(self, X, y, reset, check=True, **fit_params):
        limit_worker_threads()  # joblib's share of the CPUs in a GridSearchCV worker
        if reset or "random_seed_" not in vars(self):
            self.random_seed_ = seed_from_random_state(self.random_state)
        # A continued fit (warm start, partial_fit) draws new shuffles and attack
        # noise: the stream depends on how many epochs were trained before.
        done = 0 if reset or self.history is None else len(self.history)
        with self._seeded(torch_seed(self.random_seed_, done)):
            if reset:
                self.initialize()
            self._check_valid_split_callbacks()
            NeuralNet.partial_fit(self, X, y, **fit_params)
        raise_if_interrupted(self)  # skorch swallows Ctrl-C; the guard kept the last epoch
        if check:
            self._check_fitted_model(X, y)
        return self

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
            Passed to the module's ``forward`` (skorch).

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
        X, y = self._validate_fit(X, y, reset=reset)
        return self._train(X, y, reset, **fit_params)

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
        X, y = self._validate_fit(X, y, reset=reset, classes=classes)
        return self._train(X, y, reset, check=reset, **fit_params)

    def _check_fit_params(self, fit_params):
        if "sample_weight" in fit_params:
            raise TypeError(
                f"{type(self).__name__}.fit got sample_weight, which robustsk estimators do not "
                "support (it would reach the module's forward, or be ignored by a defense). "
                "Expected X and y only: to weight classes, pass criterion__weight=... (a tensor "
                "of one weight per class) or resample the training examples.")

    def _check_fitted_model(self, X, y, n_check=64):
        x = torch.as_tensor(X[:n_check], device=self.device)
        with torch.no_grad():
            self.module_.eval()
            out = self.module_(x)
        if out.ndim == 2 and out.shape[1] > 1 and bool((out >= 0).all() and (out <= 1).all()) \
                and torch.allclose(out.sum(1), torch.ones_like(out[:, 0]), atol=1e-4):
            warnings.warn(
                "The module's outputs are in [0, 1] and sum to 1: they look like "
                "probabilities. robustsk expects logits (the loss applies softmax itself, "
                "and attacks on softmax outputs are weak): remove the final softmax.",
                SoftmaxOutputWarning, stacklevel=3)
        acc = float((out.argmax(1).cpu().numpy() == y[:n_check]).mean())
        chance = np.bincount(y[:n_check]).max() / len(y[:n_check])
        if len(y[:n_check]) >= 20 and acc <= chance + 0.02:
            warnings.warn(
                f"Training accuracy {acc:.3f} is near chance ({chance:.3f}): the model has "
                "barely learned. Train longer (max_epochs), tune lr, or lower eps.",
                NearChanceWarning, stacklevel=3)

    # ------------------------------------------------------------ prediction
    def _check_shape(self, X):
        shape = tuple(X.shape[1:])
        if shape != self.input_shape_:
            if X.ndim == 2 and len(self.input_shape_) == 1:
                raise ValueError(
                    f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input.")
            raise ValueError(
                f"X has examples of shape {shape}, but {type(self).__name__} was fitted on "
                f"examples of shape {self.input_shape_}: reshape X to (n_samples, "
                f"{', '.join(map(str, self.input_shape_))}).")
        return X

    def _prepare_predict(self, X):
        self.check_is_fitted()
        if is_dataset(X):  # skorch's own internal calls (validation, caching)
            return X
        _check_feature_names(self, X, reset=False)
        return self._check_shape(check_X(X))

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
        """skorch's iterator; training batches are shuffled unless told otherwise."""
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        if training:
            kwargs.setdefault("shuffle", True)
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        return getattr(self, prefix)(dataset, **kwargs)

    # ------------------------------------------------ the extension API
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
            X = self._prepare_predict(X)
            lo, hi = check_box(*box, self.input_shape_)
            check_in_box(X, lo, hi)
            return torch.as_tensor(X, device=device)

        def encode_y(y, n_samples):
            return torch.as_tensor(self._encode(check_y(y, n_samples)), device=device)

        return AttackTarget(module=self.attack_module(), prepare_X=prepare_X, encode_y=encode_y,
                            estimator=self)

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


_publish_signature(RobustClassifier)
