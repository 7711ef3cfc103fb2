"""What ``fit`` and ``predict`` check before any work: the validation half of the estimator.

:class:`FitChecks` is a mixin of :class:`robustsk.base.RobustClassifier`. Its
``_validate_fit`` runs once per ``fit`` / ``partial_fit`` and checks, before
any fitted state changes (so a failure loses nothing), the declared
parameters (``_parameter_constraints``, :mod:`robustsk.params`), the
criterion's arguments, the device, ``X`` and ``y`` (:mod:`robustsk.validation`),
the input domain, the labels, and a defense's own checks; it then resolves the
training threat model (:class:`TrainingThreat`). A defense extends it through
the three public hooks :meth:`FitChecks.check_params`,
:meth:`FitChecks.check_data_params` and :meth:`FitChecks.check_input_shape`.
Once the network is built, ``_check_module_output`` runs a given module on two
training rows (it must read them and return one logit per class, and keep the
features contract when the defense needs features).
"""
from dataclasses import dataclass
import inspect
import os
from typing import Any
import warnings

import numpy as np
from sklearn.utils.validation import _check_feature_names
from skorch.callbacks import Callback, Checkpoint, EarlyStopping
from skorch.utils import is_dataset
import torch

from .attacks import check_threat
from .modules import check_features, has_features
from .params import validate_params
from .validation import (
    check_box,
    check_device,
    check_in_box,
    check_label_kind,
    check_threat_params,
    check_X,
    check_y,
)

__all__ = ["FitChecks", "UnscaledInputWarning", "warn_if_below_resolution"]


class UnscaledInputWarning(UserWarning):
    """``eps`` is below the resolution of integer-valued inputs (e.g. 8-bit pixels).

    Images given as raw intensities (0-255, or sklearn's digits as 0-16) with
    an ``eps`` meant for inputs in [0, 1] are trained and attacked at a
    radius smaller than one grey level: the robust accuracy then means
    nothing. Scale X to [0, 1] (``X / 255``) or give ``eps`` in X's units.
    """


def _check_eps_within_box(eps, norm, box, who):
    """An Linf radius as wide as the box reaches every input from every input: refused."""
    lo, hi = box
    if norm != "inf" or lo is None or hi is None:
        return
    width = float(np.max(np.asarray(hi) - np.asarray(lo)))
    if width > 0 and eps >= width:
        raise ValueError(
            f"{who} got eps={eps} with the Linf box [clip_min, clip_max] of width {width:g}: "
            "a ball that wide reaches every input from every other, so no classifier can be "
            f"robust at it. Expected eps < {width:g}; give eps in X's units (for images in "
            f"[0, 1], eps=8/255 rather than 8).")


def _caller_level():
    """The ``stacklevel`` of the first frame outside robustsk, scikit-learn and skorch (the
    user's line), counted from the function that calls this one."""
    import sys

    import sklearn
    import skorch
    roots = tuple(os.path.dirname(m.__file__) for m in (sys.modules[__package__], sklearn,
                                                         skorch))
    frame, level = sys._getframe(2), 2
    while frame is not None and frame.f_code.co_filename.startswith(roots):
        frame, level = frame.f_back, level + 1
    return level


def warn_if_below_resolution(X, eps, who):
    """Warn (:class:`UnscaledInputWarning`) if ``X`` holds integers >= 2 and ``0 < eps < 1``.

    Such inputs move in steps of at least 1, so a radius below 1 cannot
    reach a neighbouring value: the usual sign of unscaled pixel data.

    Examples
    --------
    >>> import numpy as np, warnings
    >>> with warnings.catch_warnings(record=True) as seen:
    ...     warnings.simplefilter("always")
    ...     warn_if_below_resolution(np.array([[0, 255], [17, 3]]), 0.1, "AdversarialTraining")
    >>> seen[0].category.__name__
    'UnscaledInputWarning'
    """
    if not 0 < eps < 1 or X.size == 0 or not np.issubdtype(X.dtype, np.number):
        return
    sample = X.reshape(len(X), -1)[:256]  # as cheap on a large set as on a small one
    high = float(sample.max())
    if high < 2 or float(sample.min()) < 0 or not np.all(np.mod(sample, 1) == 0):
        return
    warnings.warn(
        f"{who} got eps={eps} for inputs that are whole numbers from {float(sample.min()):g} "
        f"to {high:g} (the first {len(sample)} rows): a radius below 1 cannot move any "
        "input to a neighbouring value, so training and robust accuracy at this eps mean "
        "little. If these are raw pixel intensities, scale X to [0, 1] "
        f"({'X / 255' if high == 255 else f'X / {high:g} or X / 255'}) with clip_min=0, "
        "clip_max=1; otherwise give eps in X's units.",
        UnscaledInputWarning, stacklevel=4)


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


def _short(value):
    """A parameter's value for a message: a tensor by its shape, not its numbers."""
    if torch.is_tensor(value) or isinstance(value, np.ndarray):
        return f"<{type(value).__name__} of shape {tuple(value.shape)}>"
    return repr(value)


class FitChecks:
    """The checks of ``fit``, ``partial_fit`` and ``predict`` (a mixin of ``RobustClassifier``).

    Override :meth:`check_params`, :meth:`check_data_params` or
    :meth:`check_input_shape` to add a defense's own checks; each raises
    ``ValueError`` saying what was received, what was expected and what to do.
    """

    def _validate_fit(self, X, y, reset, classes=None):
        """Validate everything before touching any fitted state (a failure loses nothing)."""
        validate_params(self, hints=self._param_hints())
        if self.initialized_:  # skorch checks misspelled names only after rebuilding the net
            self._validate_params()
        self.check_params()
        criterion = self._check_criterion()
        self._check_optimizer_arguments()
        check_threat_params(self)
        check_device(self.device)
        cbs = self.callbacks
        if not (cbs is None or (isinstance(cbs, str) and cbs == "disable")
                or isinstance(cbs, (list, tuple))):
            raise ValueError(f"callbacks={cbs!r}: expected None, 'disable' or a list of skorch "
                             "callbacks (or (name, callback) pairs).")
        for item in cbs if isinstance(cbs, (list, tuple)) else ():
            cb = item[1] if isinstance(item, tuple) and len(item) == 2 else item
            if not (isinstance(cb, Callback) or (isinstance(cb, type) and
                                                 issubclass(cb, Callback))):
                raise ValueError(
                    f"callbacks holds {item!r}, which is not a skorch callback: expected "
                    "instances of skorch.callbacks.Callback (or classes, or (name, callback) "
                    "pairs), e.g. callbacks=[EarlyStopping()].")
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
        self._check_criterion_on(criterion, len(labels))
        self.check_data_params(labels)
        self.check_input_shape(input_shape)
        if self.requires_features:
            self._check_module_features(input_shape, len(labels))
        eps, norm, step = check_threat(self.eps, self.norm, self.step_size,
                                       default_step=self.default_step_fraction)
        _check_eps_within_box(eps, norm, box, type(self).__name__)
        if reset:
            warn_if_below_resolution(X, eps, type(self).__name__)
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
                "random_state": "Pass None, an int or a numpy RandomState/Generator.",
                "train_split": "For a validation split of 20%, pass "
                               "train_split=skorch.dataset.ValidSplit(0.2)."}

    def check_params(self):
        """Cross-parameter checks beyond ``_parameter_constraints`` (override; called in ``fit``).

        Runs once per ``fit``, after the declared constraints and before any
        fitted state changes; raise ``ValueError`` saying what was received,
        what was expected and what to do.
        """

    def _check_optimizer_arguments(self):
        """Build each optimizer once over a stand-in parameter: arguments it refuses
        (``optimizer_discriminator__lr=-1``, ``optimizer__momentum`` for Adam) fail here,
        before a fitted network is rebuilt, not inside the next initialisation."""
        probe = [("probe", torch.nn.Parameter(torch.zeros(1)))]
        for name in self.optimizer_names():
            cls = getattr(self, name, None)
            if not callable(cls):
                continue  # the parameter constraints report it
            try:
                args, kwargs = self.get_params_for_optimizer(name, probe)
                cls(*args, **kwargs)
            except (TypeError, ValueError) as err:
                given = ", ".join(f"{name}__{k}={v!r}" for k, v in
                                  self.get_params_for(name).items()) or "no arguments"
                raise ValueError(
                    f"{type(self).__name__} got {name}={getattr(cls, '__name__', cls)} with "
                    f"{given} (lr={self.lr!r}), which it refuses: {err}. Pass arguments that "
                    f"{getattr(cls, '__name__', cls)} takes, with valid values.") from None

    def _check_criterion(self):
        """Build the criterion once, so its argument errors come before any state changes.

        (skorch builds it in ``initialize``, after the module: a criterion
        refusing ``criterion__*`` there would cost a fitted model its weights.)
        """
        if isinstance(self.criterion, type):
            return self.initialized_instance(self.criterion, self.get_params_for("criterion"))
        return self.criterion

    def _check_criterion_on(self, criterion, n_classes):
        """The criterion on logits for ``n_classes`` and two labels: a class weight of
        another length, or a loss that does not take class labels (MSELoss), fails
        here, before any state changes, not in the first training batch."""
        if not callable(criterion):
            return
        # on the device of the criterion's own tensors (a class weight): a criterion
        # passed as an instance is the user's, not moved here
        tensors = [*criterion.parameters(), *criterion.buffers()] \
            if isinstance(criterion, torch.nn.Module) else []
        device = tensors[0].device if tensors else None
        logits = torch.zeros(2, n_classes, device=device)
        labels = torch.tensor([0, n_classes - 1], device=device)
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("error", UserWarning)  # MSELoss's broadcasting warning
                loss = criterion(logits, labels)
            if not torch.is_tensor(loss):
                raise TypeError(f"it returned {type(loss).__name__}, not a tensor")
        except Exception as err:  # torch's shape and size errors
            given = ", ".join(f"criterion__{k}={_short(v)}" for k, v in
                              self.get_params_for("criterion").items()) or "no arguments"
            name = getattr(self.criterion, "__name__", type(self.criterion).__name__)
            raise ValueError(
                f"{type(self).__name__} got criterion={name} with {given}, which fails on "
                f"logits for the {n_classes} classes of y (shape (2, {n_classes})) and class "
                f"labels: {type(err).__name__}: {err}. Expected a classification loss of "
                f"(logits, labels), with one class weight per class (criterion__weight of "
                f"length {n_classes}).") from None

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

    def _check_module_output(self, X):
        """A given module's forward pass on two training rows, before any training: a
        network that cannot read X, or returns fewer logits than there are classes,
        fails here with what it got, not in torch's words from the first batch."""
        if self.module is None:  # the default network is sized from the data
            return
        who, module = type(self).__name__, self.module_
        x = torch.as_tensor(X[:2], device=self.device)
        # modes restored by hand, not by attack_context: this is no attack (benchmarks
        # time what runs inside attack_context as the attack's share)
        modes = [(m, m.training) for m in module.modules()]
        via_features = None
        try:
            module.eval()
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                out = module(x)
                if self.requires_features and has_features(module):
                    via_features = module.head(module.features(x))
        except Exception as err:  # torch's shape errors: RuntimeError, IndexError, ...
            raise ValueError(
                f"{who}: the module {type(module).__name__} could not process inputs of "
                f"shape {tuple(x.shape)} and dtype {x.dtype} (X's examples have shape "
                f"{tuple(X.shape[1:])}): {type(err).__name__}: {err}. Expected a module "
                "mapping a batch (n, *example shape) to logits (n, n_classes): "
                f"{_module_advice(module, x.dtype)}") from err
        finally:
            for m, training in modes:
                m.training = training
        n_classes = len(self.classes_)
        if isinstance(out, (tuple, list)):
            raise ValueError(
                f"{who}: the module {type(module).__name__} returned a {type(out).__name__} "
                f"of {len(out)} outputs for 2 examples. Training, attacks and predictions "
                f"call forward for the logits alone: expected one tensor of shape (2, "
                f"{n_classes}). Make forward return only the logits (keep other outputs "
                "for a separate method, e.g. features).")
        if not torch.is_tensor(out) or out.ndim != 2 or out.shape[1] != n_classes:
            got = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
            raise ValueError(
                f"{who}: the module {type(module).__name__} returned {got} for 2 examples, "
                f"but the data have {n_classes} classes {_labels(self.classes_)}: expected "
                f"logits of shape (2, {n_classes}), one column per class. Size its output "
                f"to the number of classes (e.g. module__n_classes={n_classes}), or, if y "
                "lacks some labels the module has outputs for (a fold of a "
                "cross-validation), pass classes=[...] listing every label.")
        if via_features is not None:
            _check_features_contract(who, module, out, via_features)

    def _encode(self, y, classes=None):
        classes = self.classes_ if classes is None else classes
        y = np.asarray(y)
        # labels set by hand: a wrapper that re-encodes y is the likely cause of a mismatch
        reencoded = "" if getattr(self, "classes", None) is None else (
            f"These are the labels given as classes={np.asarray(self.classes).tolist()[:20]}, "
            "and scikit-learn tools that re-encode y as 0, 1, ... before fitting "
            "(cross_val_predict with method='predict_proba', VotingClassifier, "
            "StackingClassifier) pass other labels: with them leave classes unset, or "
            "give classes=range(n_classes).")
        try:
            check_label_kind(y, classes, type(self).__name__)
        except ValueError as err:
            raise ValueError(f"{err} {reencoded}".strip()) from None
        unknown = ~np.isin(y, classes)
        if unknown.any():
            raise ValueError(
                f"y contains labels {np.unique(y[unknown])[:10].tolist()} that are not among "
                f"the classes {classes.tolist()[:20]}. " + (reencoded or
                "Pass all labels with classes=... or refit on data that contains them."))
        return np.searchsorted(classes, y).astype(np.int64)

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

    def _check_fit_params(self, fit_params):
        who = type(self).__name__
        if "sample_weight" in fit_params:
            raise TypeError(
                f"{who}.fit got sample_weight, which robustsk estimators do not "
                "support (it would reach the module's forward, or be ignored by a defense). "
                "Expected X and y only: to weight classes, pass criterion__weight=... (a tensor "
                "of one weight per class) or resample the training examples.")
        # what skorch's fit_loop takes itself (epochs) never reaches the network
        to_forward = set(fit_params) - set(inspect.signature(self.fit_loop).parameters)
        if to_forward and not self.forwards_fit_params:
            raise TypeError(
                f"{who}.fit got the keyword arguments {sorted(to_forward)}, which {who} "
                "cannot pass to the module (its training step calls the network without "
                "them). Expected fit(X, y) only: give such settings to the module itself, "
                "e.g. module__name=value.")
        takes = _forward_keywords(self.module)
        unknown = [] if takes is None else sorted(to_forward - set(takes))
        if unknown:
            whose = ("the default network's" if self.module is None
                     else f"{getattr(self.module, '__name__', type(self.module).__name__)}'s")
            raise TypeError(
                f"{who}.fit got the keyword arguments {unknown}, which {whose} forward does "
                f"not take (its parameters: {', '.join(takes)}). fit passes its keyword "
                "arguments to the module's forward (skorch): check their spelling, or call "
                "fit(X, y) alone.")

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

    def _prepare_predict(self, X, warn_box=True):
        self.check_is_fitted()
        if is_dataset(X):  # skorch's own internal calls (validation, caching)
            return X
        # the parameters predictions read that set_params may have changed since fit
        validate_params(self, hints=self._param_hints(), values={"batch_size": self.batch_size})
        self._check_device_since_fit()
        _check_feature_names(self, X, reset=False)
        X = self._check_shape(check_X(X))
        if not warn_box:
            return X
        try:
            check_in_box(X, *check_box(self.clip_min, self.clip_max, self.input_shape_))
        except ValueError as err:  # fit refuses such X; a prediction warns
            warnings.warn(f"{type(self).__name__} was fitted for inputs in its box, and its "
                          f"predictions outside it mean little: {err}", UnscaledInputWarning,
                          stacklevel=_caller_level())
        return X


def _forward_keywords(module):
    """The parameters ``module.forward`` takes by name (the default networks': ``x``), or
    None when it takes any keyword (``**kwargs``) or its signature cannot be read."""
    if module is None:
        return ["x"]
    try:
        params = list(inspect.signature(getattr(module, "forward", None)).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.name != "self"
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _labels(classes, limit=10):
    shown = ", ".join(repr(c) for c in np.asarray(classes).tolist()[:limit])
    return f"[{shown}{', ...' if len(classes) > limit else ''}]"


def _module_advice(module, dtype):
    """What to do about a module that cannot read X: its float dtype first, then its sizes."""
    own = sorted({str(p.dtype) for p in module.parameters() if p.is_floating_point()})
    if own and str(dtype) not in own:
        return (f"its parameters are {' and '.join(own)}, while robustsk passes X as "
                f"{dtype}: convert the module with module.float() (or cast the input "
                "inside forward).")
    return ("give a module sized for X (e.g. SmallCNN for images (n, C, H, W), MLP or a "
            "Flatten first for flat X), reshape X, or pass module=None for the default "
            "network.")


def _check_features_contract(who, module, out, via_features):
    """``module(x) == module.head(module.features(x))``, which a defense reading the
    features relies on (it trains the features path, predictions use forward)."""
    if not torch.is_tensor(via_features) or via_features.shape != out.shape:
        got = f"has shape {tuple(getattr(via_features, 'shape', ()))}"
    else:
        gap = float((out.double() - via_features.double()).abs().max())
        if gap <= 1e-4 * max(1.0, float(out.abs().max())):
            return
        got = f"differs by up to {gap:.3g}"
    raise ValueError(
        f"{who} trains the network's features, but for the module "
        f"{type(module).__name__} head(features(x)) {got} where forward(x) gives "
        f"{tuple(out.shape)} (eval mode, 2 training rows). Expected "
        "module(x) == module.head(module.features(x)): make forward call features and "
        "then head, or use the default module (module=None).")
