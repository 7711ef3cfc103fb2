"""Parameters set on a fitted estimator wait for the next fit: :class:`DeferredRebuild`.

skorch rebuilds a fitted net's components (module, criterion, optimizers,
callbacks) at once when ``set_params`` names their arguments, which left an
untrained network behind a fitted estimator (``module__*``). Here, as in
scikit-learn, the fitted model stays as it is and the next fit uses the new
values: a fit from scratch builds everything, a warm-started one (or
``partial_fit``) rebuilds the components named since, listed in
``pending_rebuild_``. Values set back to those a component was built with
leave nothing to rebuild.

:class:`DeferredRebuild` is a mixin of :class:`robustsk.base.RobustClassifier`
(before skorch's ``NeuralNet`` in its bases). It uses the host's
``_param_hints``, ``_validate_params``, ``_check_module_output``,
``extra_modules`` and ``extra_optimizers``.
"""
from contextlib import contextmanager
import inspect

import numpy as np
from skorch import NeuralNet
import torch

from .params import validate_params

__all__ = ["DeferredRebuild", "build_errors", "own_parameters", "same_value", "READ_LATER"]


#: skorch parameters read when the data are next iterated: setting them rebuilds nothing
READ_LATER = ("iterator_train", "iterator_valid", "dataset")


def own_parameters(cls):
    """The parameters a robustsk class declares beyond skorch's ``NeuralNet``."""
    return set(inspect.signature(cls.__init__).parameters) - \
        set(inspect.signature(NeuralNet.__init__).parameters)


@contextmanager
def rebuild_errors(net, params):
    """Say which ``set_params`` arguments a fitted net's component rebuild refused."""
    try:
        yield
    except Exception as err:
        args = ", ".join(f"{k}={v!r}" for k, v in params.items())
        kind = TypeError if isinstance(err, TypeError) else ValueError
        raise kind(f"{type(net).__name__}.set_params({args}): rebuilding the fitted model's "
                   f"components with it failed: {type(err).__name__}: {err}. Nothing was "
                   "changed (the estimator keeps its fitted model and parameters): pass "
                   "values the component accepts.") from err


def _images_hint(shape):
    """For flat examples: how to give images instead ("" for other shapes)."""
    if shape is None or len(shape) != 1:
        return ""
    side = int(round(shape[0] ** 0.5))
    example = f", e.g. X.reshape(len(X), 1, {side}, {side})" if side * side == shape[0] else ""
    return (f" The network was built for flat examples of shape {tuple(shape)}: a network "
            f"for images needs X of shape (n_samples, channels, height, width){example}.")


@contextmanager
def build_errors(net):
    """Say which component arguments a fit's build of the network's components refused."""
    try:
        yield
    except Exception as err:
        if isinstance(err, NotImplementedError) or (
                isinstance(err, (ValueError, TypeError)) and "component arguments" in str(err)):
            raise  # a defense's unfinished extension (its author's to fix), or said already
        args = ", ".join(f"{k}={v!r}" for k, v in net.get_params(deep=False).items()
                         if "__" in k and net._component_of(k) not in (None, "callbacks"))
        kind = TypeError if isinstance(err, TypeError) else ValueError
        shape = vars(net).get("input_shape_")
        # a type refused for an argument set by hand is about that argument, not the
        # data; a module given as an instance was not built for X's shape by robustsk
        by_hand = args and isinstance(err, TypeError)
        given = isinstance(getattr(net, "module", None), torch.nn.Module)
        flat = "" if by_hand or given else _images_hint(shape)
        raise kind(f"{type(net).__name__}.fit could not build the network's components: "
                   f"{type(err).__name__}: {str(err).rstrip('.')}. The component arguments set: "
                   f"{args or 'none'}.{flat} Nothing was changed (a fitted estimator keeps "
                   "its model): pass values the components accept.") from err


UNSET = object()


def _same_device(a, b):
    """Whether two device values name the same device ('cpu' and torch.device('cpu') do)."""
    if a is None or b is None:
        return a is b
    try:
        return torch.device(a) == torch.device(b)
    except (RuntimeError, TypeError, ValueError):
        return same_value(a, b)


def same_value(old, new):
    """Whether a parameter value is the one already set: the same object, or equal."""
    if old is new:
        return True
    if old is UNSET:
        return False
    try:
        equal = old == new
    except Exception:  # noqa: BLE001 (objects that cannot be compared count as changed)
        return False
    return isinstance(equal, (bool, np.bool_)) and bool(equal)


class DeferredRebuild:
    """``set_params`` that defers a fitted net's component rebuilds to the next fit."""

    def set_params(self, **params):
        """Set parameters; like scikit-learn, invalid values are reported by ``fit``."""
        if "callbacks" in params and not self.initialized_:
            # skorch builds the callbacks here; before fit, ``initialize`` does it.
            self.__dict__["callbacks"] = params.pop("callbacks")
        # A defense's own parameters are plain attributes; skorch would take one that
        # starts like its prefixes (compile_attack: "compile") for a misspelled
        # compile__attack. The data pipeline (iterators, dataset) is read by the next
        # fit or prediction: nothing to rebuild (skorch 1.4 raised "Something went wrong").
        own = own_parameters(type(self))
        # scikit-learn's nested form for a parameter that is itself an estimator-like
        # object (train_attack__n_iter=7 on train_attack=PGD()): set on that object.
        # skorch would take it for a component's argument and fail at the next fit.
        nested = {}
        for key in [k for k in params if "__" in k and k.split("__", 1)[0] in own]:
            prefix, sub = key.split("__", 1)
            if prefix in params:  # the object first, then its parameters (as scikit-learn)
                setattr(self, prefix, params.pop(prefix))
            target = getattr(self, prefix, None)
            if hasattr(target, "set_params") and not isinstance(target, type):
                nested.setdefault(prefix, {})[sub] = params.pop(key)
        for prefix, sub_params in nested.items():
            getattr(self, prefix).set_params(**sub_params)
        for key in [k for k in params if k in own or (
                self.initialized_ and k.split("__", 1)[0] in READ_LATER)]:
            value = params.pop(key)
            if "__" in key:
                self._params_to_validate.add(key)  # a misspelled one is reported by fit
            setattr(self, key, value)
        if self.initialized_:  # set_params(**get_params()) changes (and rebuilds) nothing
            params = {k: v for k, v in params.items()
                      if not same_value(self.__dict__.get(k, UNSET), v)}
        if not params:
            return self
        if not self.initialized_:
            return super().set_params(**params)
        # On a fitted net skorch rebuilds at once the components these name (module__*
        # left an untrained network, still "fitted", predicting at chance). As in
        # scikit-learn the fitted model stays as it is and the next fit uses the values:
        # a fit from scratch builds everything, a warm-started one (or partial_fit)
        # rebuilds the components named here, as skorch would have.
        validate_params(self, hints=self._param_hints(), values={
            k: v for k, v in params.items() if k in ("module", "criterion", "optimizer")})
        optimizers = set(getattr(self, "_optimizers", []))
        virtual = {key: value for key, value in params.items() if self._is_virtual_param(key)}
        deferred = {key: value for key, value in params.items() if key not in virtual}
        pending = set(vars(self).get("_pending_rebuild", ()))
        with self._kept_on_error(), rebuild_errors(self, params):
            if "callbacks" in deferred:
                self.__dict__["callbacks"] = deferred.pop("callbacks")
                pending.add("callbacks")
            pending |= {self._component_of(key) for key in deferred} - {None}
            if pending - {"callbacks"}:  # the optimizers are rebuilt by the next fit
                for key, value in virtual.items():
                    self.__dict__[key] = value
                virtual = {}
            elif virtual:  # the live optimizers' values (lr, momentum): nothing is rebuilt
                super().set_params(**virtual)
                vars(self).get("_built_with", {}).update(virtual)
            self.initialized_ = False  # skorch then stores the values and builds nothing
            try:
                super().set_params(**deferred)
            finally:
                self.initialized_ = True
            self._validate_params()  # a misspelled key (skorch checked it before rebuilding)
        for key, value in virtual.items():
            # skorch sets e.g. optimizer__momentum on the live optimizer only: keep it
            # for get_params, clone and the next fit too, as scikit-learn does
            head, _, rest = key.partition("__")
            if head in optimizers and rest and "__" not in rest:
                self.__dict__[key] = value
        # a component whose parameters are all back to the values it was built with
        # (a set_params undone) needs no rebuild
        built = vars(self).get("_built_with")
        if built is not None:
            current = self.get_params(deep=False)
            pending = {c for c in pending if any(
                not same_value(built.get(k, UNSET), current.get(k, UNSET))
                for k in {*built, *current} if c in (k, self._component_of(k)))}
        if pending:
            self.__dict__["_pending_rebuild"] = pending
        else:
            vars(self).pop("_pending_rebuild", None)
        return self

    @property
    def pending_rebuild_(self):
        """The fitted components (``"module"``, ``"criterion"``, ``"optimizer"``,
        ``"callbacks"``) whose parameters ``set_params`` changed since the last fit: the
        model still uses the fitted ones, the next fit rebuilds these (frozenset). A
        component whose parameters are set back to the values it was built with drops
        out (a parameter first given after the fit counts as changed)."""
        return frozenset(vars(self).get("_pending_rebuild", ()))

    def _component_of(self, key):
        """The kind of fitted component a ``set_params`` key configures, or None."""
        prefix = key.split("__", 1)[0]
        if prefix in getattr(self, "_modules", ()) or prefix in ("module", "compile") \
                or prefix in self.extra_modules:  # declared, built or not
            return "module"
        if prefix in {*filter(None, self.extra_modules.values()), *self.extra_optimizers}:
            return "optimizer"
        if prefix in getattr(self, "_criteria", ()) or prefix == "criterion":
            return "criterion"
        if prefix in getattr(self, "_optimizers", ()) or prefix == "optimizer":
            return "optimizer"
        return None  # callbacks__* are set on the live callbacks (skorch)

    def initialize(self):
        """skorch's ``initialize``: build every component (parameters set since included)."""
        super().initialize()
        vars(self).pop("_pending_rebuild", None)
        self._record_build()
        return self

    def _record_build(self):
        """Keep the parameter values the fitted components were built with."""
        self.__dict__["_built_with"] = self.get_params(deep=False)

    def _check_device_since_fit(self):
        """After ``set_params(device=...)`` on a fitted estimator, refuse what would use the
        fitted network on the new device (predictions, a continued fit): it stays where it
        was fitted; a fit from scratch builds it on the new one."""
        built = vars(self).get("_built_with", {}).get("device", self.device)
        if not _same_device(built, self.device):
            raise ValueError(
                f"{type(self).__name__} was fitted on device={built!r}, and device="
                f"{self.device!r} was set since: predictions and continued fits (warm_start, "
                "partial_fit) use the network where it was fitted, and a fit from scratch "
                f"builds it on the new device. Fit from scratch, or set_params(device="
                f"{built!r}).")

    def _rebuild_pending(self, X):
        """A warm-started fit: build the components ``set_params`` changed since the last fit."""
        self._check_device_since_fit()
        pending = vars(self).get("_pending_rebuild")
        if not pending:
            return
        self._validate_params()
        with build_errors(self):
            if "module" in pending:
                self._initialize_module()
        if "module" in pending:
            self._check_module_output(X)
        with build_errors(self):
            if pending & {"module", "criterion"}:
                self._initialize_criterion()
            if pending & {"module", "criterion", "optimizer"}:
                self._initialize_optimizer()
            if "callbacks" in pending:
                self._initialize_callbacks()
        del self.__dict__["_pending_rebuild"]
        self._record_build()

    # --------------------------------------------------------------- fitting

    @contextmanager
    def _kept_on_error(self, saved=None):
        """Put back the estimator's attributes as they were (``saved``, default: on
        entry) if the block raises: bad input or parameters found before training
        starts must not cost a fitted model."""
        saved = dict(vars(self)) if saved is None else saved
        history = saved.get("history_")
        rows = None if history is None else list(history)
        try:
            yield
        except BaseException:
            vars(self).clear()
            vars(self).update(saved)
            if rows is not None:  # skorch's initialize clears the history in place
                history[:] = rows
            raise
