"""Objects to JSON plus tensors, and back, without pickle.

:class:`Writer` turns a value into JSON-able data, putting every tensor and
array into ``tensors`` (saved with safetensors); :class:`Reader` rebuilds it.
What each kind of value becomes:

* ``None``, bool, int, str, float: themselves (nan and inf tagged); lists;
  tuples and dicts tagged; numpy arrays as raw bytes with dtype and shape
  (object arrays element by element); numpy scalars; tensors; skorch History.
* classes and functions (a module class, ``criterion``, ``optimizer``):
  their import path, imported back only from the allow-list of
  :mod:`robustsk.io.trust`; ``functools.partial`` of one; dataclasses.
* a torch module *instance*: its class, its JSON-able attributes, its
  submodules, parameters and buffers (rebuilt with ``cls.__new__`` and
  ``nn.Module.__init__``, never its ``__init__`` with unknown arguments).
* a robustsk estimator: class, ``get_params``, fitted attributes, the state
  dicts of its modules and optimizers and its history; loading builds the
  estimator from its parameters, ``initialize()``s it and loads the states.
* a skorch callback: its class and parameters (its state belongs to the fit).
* anything else (a scikit-learn Pipeline or scaler, ``ValidSplit``):
  skops' format, with every robustsk estimator inside swapped for an
  :class:`EstimatorRef` and saved as above.
"""
import dataclasses
import functools
import inspect
import math

import numpy as np
from sklearn.base import BaseEstimator
import torch

from .errors import CorruptFileError, IncompatibleFileError, UnsafeFileError
from .trust import check_skops_types, import_path, never_loadable, resolve

__all__ = ["Writer", "Reader", "EstimatorRef", "is_native", "load_skops"]

#: skorch bookkeeping that ``initialize()`` rebuilds
_REBUILT = {"init_context_", "virtual_params_", "callbacks_", "prefixes_",
            "cuda_dependent_attributes_", "initialized_", "history_"}


class EstimatorRef:
    """Stands for the ``index``-th robustsk estimator inside skops data (see module doc)."""

    def __init__(self, index):
        self.index = index


def is_native(obj):
    """Whether ``obj`` is saved as a robustsk estimator (rather than through skops)."""
    from ..base import RobustClassifier
    return isinstance(obj, RobustClassifier) or (
        isinstance(obj, BaseEstimator) and type(obj).__module__.split(".")[0] == "robustsk")


def _fresh_module_keys():
    return set(vars(torch.nn.Module())) | {"training"}


class Writer:
    """Encode values to JSON-able data; tensors collect in ``tensors`` (name -> CPU tensor)."""

    def __init__(self):
        self.tensors = {}

    def tensor(self, t):
        key = f"t{len(self.tensors)}"
        self.tensors[key] = t.detach().to("cpu", copy=True).contiguous()
        return key

    def value(self, v, where="the object"):
        if v is None or isinstance(v, (bool, str)) or type(v) is int:
            return v
        if type(v) is float:
            return v if math.isfinite(v) else {"$": "float", "repr": repr(v)}
        from skorch.history import History
        if isinstance(v, History):
            return {"$": "history", "items": [self.value(x, where) for x in v]}
        if type(v) is list:
            return [self.value(x, f"{where}[{i}]") for i, x in enumerate(v)]
        if type(v) is tuple:
            return {"$": "tuple", "items": [self.value(x, f"{where}[{i}]")
                                            for i, x in enumerate(v)]}
        if type(v) is dict:
            return {"$": "dict", "items": [[self.value(k, where), self.value(x, f"{where}[{k!r}]")]
                                           for k, x in v.items()]}
        if isinstance(v, np.ndarray):
            return self.array(v, where)
        if isinstance(v, np.generic):
            return {"$": "npscalar", "dtype": v.dtype.str, "value": self.value(v.item(), where)}
        if isinstance(v, torch.Tensor):
            return {"$": "parameter" if isinstance(v, torch.nn.Parameter) else "tensor",
                    "key": self.tensor(v), "requires_grad": v.requires_grad,
                    "device": str(v.device)}
        if isinstance(v, (torch.dtype, torch.device)):
            return {"$": type(v).__name__, "name": str(v)}
        if isinstance(v, torch.nn.Module):
            return self.module(v, where)
        if is_native(v):
            return self.estimator(v, where)
        if inspect.isclass(v) or inspect.isfunction(v) or inspect.isbuiltin(v):
            try:
                return {"$": "import", "path": import_path(v)}
            except TypeError as exc:
                raise TypeError(f"cannot save {where}: {exc}") from None
        if isinstance(v, functools.partial):
            return {"$": "partial", "func": self.value(v.func, where),
                    "args": self.value(tuple(v.args), where),
                    "kwargs": self.value(dict(v.keywords), where)}
        from skorch.callbacks import Callback
        if isinstance(v, Callback):  # its parameters; its state belongs to the fit
            return {"$": "callback", "class": import_path(type(v)),
                    "params": {k: self.value(x, f"{where}.{k}")
                               for k, x in v.get_params(deep=False).items()}}
        if dataclasses.is_dataclass(v) and type(v).__module__.split(".")[0] == "robustsk":
            return {"$": "dataclass", "class": import_path(type(v)),
                    "fields": {f.name: self.value(getattr(v, f.name), f"{where}.{f.name}")
                               for f in dataclasses.fields(v)}}
        return self.foreign(v, where)

    def array(self, a, where):
        if a.dtype.hasobject:
            return {"$": "ndarray", "dtype": "object", "shape": list(a.shape),
                    "items": [self.value(x, where) for x in a.ravel().tolist()]}
        raw = np.frombuffer(np.ascontiguousarray(a).tobytes(), dtype=np.uint8)
        return {"$": "ndarray", "dtype": a.dtype.str, "shape": list(a.shape),
                "key": self.tensor(torch.from_numpy(raw.copy()))}

    def module(self, m, where):
        fresh = _fresh_module_keys()
        hooks = [k for k, v in vars(m).items() if k in fresh and "hook" in k and v]
        if hooks:
            raise TypeError(f"cannot save {where} ({type(m).__name__}): it has hooks "
                            f"({', '.join(hooks)}), which are code. Remove them before saving.")
        attrs = {k: self.value(v, f"{where}.{k}") for k, v in vars(m).items()
                 if k not in fresh}
        params = {k: None if p is None else self.value(p, f"{where}.{k}")
                  for k, p in m.named_parameters(recurse=False)}
        persistent = dict(m.named_buffers(recurse=False))
        buffers = {k: self.value(b, f"{where}.{k}") for k, b in persistent.items()}
        state_keys = set(m.state_dict(keep_vars=True).keys())
        return {"$": "module", "class": import_path(type(m)), "training": m.training,
                "attrs": attrs, "parameters": params, "buffers": buffers,
                "non_persistent": sorted(k for k in persistent if k not in state_keys),
                "modules": {k: None if c is None else self.module(c, f"{where}.{k}")
                            for k, c in m.named_children()}}

    def estimator(self, est, where):
        name = type(est).__name__
        params = {k: self.value(v, f"{name}'s parameter {k}")
                  for k, v in est.get_params(deep=False).items()}
        fitted = _is_fitted(est)
        pending = sorted(getattr(est, "pending_rebuild_", ()) or ()) if fitted else []
        if pending:
            raise ValueError(
                f"{name} has parameters of its {', '.join(pending)} changed by set_params and "
                "not yet used by a fit: the file would pair the new parameters with the "
                "components fitted under the old ones, and would not load. Fit it first "
                "(partial_fit continues the training with the new values), or save it "
                "before calling set_params.")
        spec = {"$": "estimator", "class": import_path(type(est)), "params": params,
                "fitted": fitted, "attributes": {}, "states": {}, "optimizers": {}}
        if not fitted:
            return spec
        skorch_net = _is_skorch(est)
        for key, v in vars(est).items():
            if not key.endswith("_") or key.startswith("_"):
                continue
            if skorch_net and key in _REBUILT:
                continue
            if skorch_net and isinstance(v, torch.nn.Module):
                spec["states"][key] = self.value(dict(v.state_dict()), f"{name}.{key}")
            elif skorch_net and isinstance(v, torch.optim.Optimizer):
                spec["optimizers"][key] = self.value(v.state_dict(), f"{name}.{key}")
            else:
                spec["attributes"][key] = self.value(v, f"{name}.{key}")
        if skorch_net and est.history_ is not None:
            spec["history"] = self.value(est.history_, f"{name}.history_")
        return spec

    def foreign(self, obj, where):
        import skops.io
        refs = []
        swapped = _swap(obj, refs, {})
        try:
            data = skops.io.dumps(swapped)
        except Exception as exc:  # noqa: BLE001 -- skops raises many types for unsupported objects
            raise TypeError(f"cannot save {where} ({type(obj).__name__}): neither robustsk's "
                            f"format nor skops supports it ({type(exc).__name__}: {exc}).") \
                from None
        never = never_loadable(skops.io.get_untrusted_types(data=data))
        if never:  # a file that load refuses whatever it is told to trust: not written
            raise TypeError(
                f"cannot save {where} ({type(obj).__name__}) so that robustsk.io.load can "
                f"read it: it holds objects of the types {never}, which load refuses "
                "whatever it is told to trust (private classes, or skorch networks that "
                "skops restores through pickle). Save the robustsk estimators inside it "
                "(e.g. a search's best_estimator_) with robustsk.io.save, or pickle the "
                "whole object for your own use.")
        return {"$": "skops", "key": self.tensor(torch.frombuffer(bytearray(data),
                                                                  dtype=torch.uint8)),
                "refs": [self.estimator(r, f"{where} (inner estimator {i})")
                         for i, r in enumerate(refs)]}


def _is_fitted(est):
    check = getattr(est, "__sklearn_is_fitted__", None)
    if check is not None:
        return bool(check())
    return any(k.endswith("_") and not k.startswith("_") for k in vars(est))


def _is_skorch(est):
    from skorch import NeuralNet
    return isinstance(est, NeuralNet)


def _swap(obj, refs, memo):
    """A copy of ``obj`` with every robustsk estimator replaced by an EstimatorRef."""
    if id(obj) in memo:
        return memo[id(obj)]
    if is_native(obj):
        refs.append(obj)
        out = EstimatorRef(len(refs) - 1)
    elif type(obj) in (list, tuple):
        out = type(obj)(_swap(x, refs, memo) for x in obj)
    elif type(obj) is dict:
        out = {k: _swap(x, refs, memo) for k, x in obj.items()}
    elif isinstance(obj, BaseEstimator) and hasattr(obj, "__dict__"):
        out = object.__new__(type(obj))
        out.__dict__.update({k: _swap(x, refs, memo) for k, x in vars(obj).items()})
    else:
        out = obj
    memo[id(obj)] = out
    return out


def _unswap(obj, found, seen):
    """Replace EstimatorRef objects in a freshly loaded object graph by ``found``."""
    if isinstance(obj, EstimatorRef):
        return found[obj.index]
    if id(obj) in seen:
        return obj
    seen.add(id(obj))
    if type(obj) is list:
        obj[:] = [_unswap(x, found, seen) for x in obj]
    elif type(obj) is tuple:
        return tuple(_unswap(x, found, seen) for x in obj)
    elif type(obj) is dict:
        for k in list(obj):
            obj[k] = _unswap(obj[k], found, seen)
    elif isinstance(obj, BaseEstimator) and hasattr(obj, "__dict__"):
        for k, x in list(vars(obj).items()):
            obj.__dict__[k] = _unswap(x, found, seen)
    return obj


class Reader:
    """Decode what :class:`Writer` wrote, importing only trusted names.

    Parameters
    ----------
    tensors : dict of str to Tensor
    prefixes : tuple of str
        Trusted import-path prefixes (:func:`robustsk.io.trust.trusted_prefixes`).
    device : str or None
        Overrides the saved estimators' ``device``.
    """

    def __init__(self, tensors, prefixes, device=None):
        self.tensors = tensors
        self.prefixes = prefixes
        self.device = device

    def tensor(self, key):
        if key not in self.tensors:
            raise CorruptFileError(f"the file refers to a tensor {key!r} it does not hold.")
        return self.tensors[key]

    def value(self, v):
        if not isinstance(v, (dict, list)):
            return v
        if isinstance(v, list):
            return [self.value(x) for x in v]
        kind = v.get("$")
        method = getattr(self, f"_{kind}", None) if isinstance(kind, str) else None
        if method is None:
            raise CorruptFileError(f"the file holds a value of unknown kind {kind!r}; it may "
                                   "come from a newer robustsk (upgrade robustsk).")
        return method(v)

    def _float(self, v):
        return float(v["repr"])

    def _history(self, v):
        from skorch.history import History
        return History(self.value(x) for x in v["items"])

    def _tuple(self, v):
        return tuple(self.value(x) for x in v["items"])

    def _dict(self, v):
        return {self.value(k): self.value(x) for k, x in v["items"]}

    def _ndarray(self, v):
        shape = tuple(v["shape"])
        if v["dtype"] == "object":
            out = np.empty(len(v["items"]), dtype=object)
            out[:] = [self.value(x) for x in v["items"]]
            return out.reshape(shape)
        raw = self.tensor(v["key"]).numpy().tobytes()
        return np.frombuffer(raw, dtype=np.dtype(v["dtype"])).reshape(shape).copy()

    def _npscalar(self, v):
        return np.dtype(v["dtype"]).type(self.value(v["value"]))

    def _tensor(self, v):
        t = self.tensor(v["key"]).clone()
        return t.requires_grad_(bool(v.get("requires_grad")))

    def _parameter(self, v):
        return torch.nn.Parameter(self.tensor(v["key"]).clone(),
                                  requires_grad=bool(v.get("requires_grad")))

    def _dtype(self, v):
        dtype = getattr(torch, v["name"].replace("torch.", ""), None)
        if not isinstance(dtype, torch.dtype):
            raise CorruptFileError(f"unknown torch dtype {v['name']!r} in the file.")
        return dtype

    def _device(self, v):
        return torch.device(v["name"])

    def _import(self, v):
        return resolve(v["path"], self.prefixes)

    def _partial(self, v):
        return functools.partial(self.value(v["func"]), *self.value(v["args"]),
                                 **self.value(v["kwargs"]))

    def _dataclass(self, v):
        cls = resolve(v["class"], self.prefixes, "dataclass")
        if not dataclasses.is_dataclass(cls):
            raise UnsafeFileError(f"{v['class']} is not a dataclass.")
        return cls(**{k: self.value(x) for k, x in v["fields"].items()})

    def _callback(self, v):
        from skorch.callbacks import Callback
        cls = resolve(v["class"], self.prefixes, "skorch callback class")
        if not (inspect.isclass(cls) and issubclass(cls, Callback)):
            raise UnsafeFileError(f"{v['class']} is not a skorch callback class.")
        return cls(**{k: self.value(x) for k, x in v["params"].items()})

    def _module(self, v):
        cls = resolve(v["class"], self.prefixes, "torch module class")
        if not (inspect.isclass(cls) and issubclass(cls, torch.nn.Module)):
            raise UnsafeFileError(f"{v['class']} is not a torch module class.")
        m = cls.__new__(cls)
        torch.nn.Module.__init__(m)
        for k, x in v["attrs"].items():
            _check_attribute(cls, k, fitted=False)
            m.__dict__[k] = self.value(x)
        for k, x in v["parameters"].items():
            m.register_parameter(k, None if x is None else self.value(x))
        for k, x in v["buffers"].items():
            m.register_buffer(k, self.value(x), persistent=k not in v["non_persistent"])
        for k, x in v["modules"].items():
            m.add_module(k, None if x is None else self._module(x))
        m.train(bool(v["training"]))
        return m

    def _estimator(self, v):
        cls = resolve(v["class"], self.prefixes, "estimator class")
        if not (inspect.isclass(cls) and issubclass(cls, BaseEstimator)):
            raise UnsafeFileError(f"{v['class']} is not a scikit-learn estimator class.")
        params = {k: self.value(x) for k, x in v["params"].items()}
        if _is_skorch_class(cls):
            params["device"] = self._device_for(params.get("device", "cpu"))
        est = cls(**params)
        if not v["fitted"]:
            return est
        for k, x in v["attributes"].items():
            _check_attribute(cls, k, fitted=True)
            setattr(est, k, self.value(x))
        if not _is_skorch(est):
            return est
        # initialize() builds modules, criteria and optimizers from the parameters; its
        # random initial weights are overwritten below, and the global stream is left as it was.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            est.initialize()
        for kind, group in (("module", v["states"]), ("optimizer", v["optimizers"])):
            for k, state in group.items():
                target = getattr(est, k, None)
                if target is None:
                    raise IncompatibleFileError(
                        f"the file holds the {kind} {k} of {cls.__name__}, which this version "
                        "does not build: load it with the robustsk version that wrote it.")
                try:
                    target.load_state_dict(self.value(state))
                except (RuntimeError, ValueError, KeyError) as exc:
                    raise IncompatibleFileError(
                        f"the saved {kind} {k} of {cls.__name__} does not fit the one this "
                        f"version builds ({str(exc).splitlines()[0]}): load it with the "
                        "robustsk version that wrote it.") from None
        if "history" in v:
            est.history_ = self.value(v["history"])
        return est

    def _device_for(self, device):
        if self.device is not None:
            return self.device
        if str(device).startswith("cuda") and not torch.cuda.is_available():
            import warnings
            warnings.warn(f"The model was saved with device={device!r}, but CUDA is not "
                          "available: loaded on the CPU (pass device= to choose).",
                          UserWarning, stacklevel=4)
            return "cpu"
        return device

    def _skops(self, v):
        data = self.tensor(v["key"]).numpy().tobytes()
        return _unswap(load_skops(data, self.prefixes), [self.value(r) for r in v["refs"]],
                       set())


def _check_attribute(cls, name, fitted):
    """Refuse attribute names that would replace a method or a dunder of ``cls``."""
    bad = not isinstance(name, str) or not name.isidentifier() or name.startswith("__") \
        or (fitted and not (name.endswith("_") and not name.startswith("_"))) \
        or callable(getattr(cls, name, None))
    if bad:
        raise UnsafeFileError(f"the file sets the attribute {name!r} of {cls.__name__}, which "
                              "is not a fitted attribute: refused.")


def _is_skorch_class(cls):
    from skorch import NeuralNet
    return issubclass(cls, NeuralNet)


def load_skops(data, prefixes):
    """skops' ``loads`` with robustsk's trust rules (see :func:`check_skops_types`)."""
    import zipfile

    import skops.io
    try:
        types = skops.io.get_untrusted_types(data=data)
        trusted = check_skops_types(types, prefixes)
        return skops.io.loads(data, trusted=trusted)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        if isinstance(exc, (UnsafeFileError, CorruptFileError, IncompatibleFileError)):
            raise
        raise CorruptFileError(f"the skops data in the file is damaged ({type(exc).__name__}: "
                               f"{exc}).") from None

