"""Which classes and functions a model file may name: an allow-list, never pickle.

A file records classes and functions (a module class, a criterion, an
optimizer, a callback) by import path. :func:`resolve` imports them only when
the path is under a trusted prefix (:data:`DEFAULT_TRUSTED`, plus what the
caller passes as ``trusted=``) and names the object's own module. Loading
builds the estimator, so it calls the classes a file names with the file's
arguments: the defaults therefore trust classes by what they do, not whole
packages. From torch and skorch they hold torch modules, optimizers and
learning-rate schedulers, the in-memory data classes (``DataLoader``,
datasets, samplers; not ``torch.utils.data.datapipes``, whose helpers
unpickle), skorch's datasets and its callbacks that touch no file (not
``Checkpoint``, ``TrainEndCheckpoint``, ``LoadInitState`` or the loggers), and
functions only from ``torch.nn.functional``, ``torch.nn.init``, robustsk's
modules that read or write nothing, and ``print`` (the default ``sink`` of
skorch's ``PrintLog`` and ``EarlyStopping``). An untrusted name in a
standard-library module is suggested alone (``builtins.print``, never all of
``builtins``). Importing a trusted module and reading a
name from it runs no code from the file.
"""
import importlib
import inspect
import sys
from types import ModuleType

from .errors import UnsafeFileError

__all__ = ["DEFAULT_TRUSTED", "trusted_prefixes", "is_trusted", "import_path", "resolve",
           "check_skops_types", "never_loadable"]

#: skorch's callbacks that read and write no file and hold no external logger
_SAFE_CALLBACKS = tuple(f"skorch.callbacks.{name}" for name in (
    "scoring", "lr_scheduler", "regularization", "training.EarlyStopping",
    "training.Freezer", "training.Unfreezer", "training.ParamMapper", "training.Initializer",
    "training.InputShapeSetter", "logging.PrintLog", "logging.ProgressBar",
    "logging.EpochTimer"))

#: import-path prefixes every load trusts
DEFAULT_TRUSTED = ("robustsk", "torch.nn", "torch.optim", "torch.utils.data.dataloader.DataLoader",
                   "torch.utils.data.dataset", "torch.utils.data.sampler", "skorch.dataset",
                   *_SAFE_CALLBACKS, "skorch.utils.to_numpy", "skorch.utils.to_tensor",
                   "skorch.utils.noop", "builtins.print")
#: robustsk modules a file may never name (they read and write files, or load models)
DENIED = ("robustsk.io", "robustsk.report", "robustsk._r_bridge", "robustsk.__main__",
          "robustsk.review")
#: where a default-trusted file may name a function (a class may come from any default
#: prefix): torch's functional and initialisation functions, robustsk's pure computations
_FUNCTIONS = ("torch.nn.functional", "torch.nn.init", "robustsk", "skorch.utils",
              "builtins.print")  # PrintLog's and EarlyStopping's default sink
#: robustsk modules whose functions read files or start other programs: not as parameters
_DENIED_FUNCTIONS = ("robustsk.checkpoint", "robustsk.datasets", "robustsk.stats",
                     "robustsk.distributed", "robustsk.parallel")


def trusted_prefixes(trusted=None):
    """``DEFAULT_TRUSTED`` plus ``trusted``: module names, modules, classes or functions."""
    extra = []
    if not (trusted is None or isinstance(trusted, (str, ModuleType, type, list, tuple, set))):
        raise TypeError(f"trusted={trusted!r}: expected a list of module names (str), modules, "
                        "classes or functions, e.g. trusted=['mypackage.nets'].")
    for item in ([] if trusted is None else
                 [trusted] if isinstance(trusted, (str, ModuleType, type)) else list(trusted)):
        if isinstance(item, str):
            extra.append(item.replace(":", "."))
        elif isinstance(item, ModuleType):
            extra.append(item.__name__)
        elif hasattr(item, "__module__") and hasattr(item, "__qualname__"):
            extra.append(f"{item.__module__}.{item.__qualname__}")
        else:
            raise TypeError(f"trusted={trusted!r}: expected module names (str), modules, "
                            "classes or functions, e.g. trusted=['mypackage.nets'].")
    return (*DEFAULT_TRUSTED, *extra)


def is_trusted(dotted, prefixes):
    """Whether the dotted name ``module.qualname`` lies under one of ``prefixes`` (not DENIED)."""
    def under(names):
        return any(dotted == p or dotted.startswith(p + ".") for p in names)
    return under(prefixes) and not under(DENIED)


def import_path(obj):
    """``"module:qualname"`` of a class or function, checked to import back to ``obj``.

    Raises ``TypeError`` for objects without one (lambdas, local functions).
    """
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if module is None or qualname is None or "<" in qualname:
        raise TypeError(f"{obj!r} has no import path (a lambda or a function defined inside "
                        "another one): use a class or a function defined at module level.")
    path = f"{module}:{qualname}"
    try:
        back = _import(module, qualname)
    except (ImportError, AttributeError):
        back = None
    if back is not obj:
        raise TypeError(f"{obj!r} cannot be imported back as {path}: use a class or a "
                        "function defined at module level.")
    return path


def _import(module, qualname):
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def resolve(path, prefixes, what="class or function"):
    """Import ``"module:qualname"`` if trusted; otherwise raise :class:`UnsafeFileError`."""
    if not isinstance(path, str) or path.count(":") != 1:
        raise UnsafeFileError(f"the file names the {what} {path!r}; expected 'module:name'.")
    module, qualname = path.split(":")
    dotted = f"{module}.{qualname}"
    if any(part.startswith("_") for part in qualname.split(".")):
        # private helpers (robustsk.checkpoint's file writer, say) are no one's parameters
        raise UnsafeFileError(f"the file names the private {what} {dotted}: a file saved by "
                              "robustsk names only public classes and functions. Not loaded.")
    if not is_trusted(dotted, prefixes):
        # a whole standard-library module (builtins, os, subprocess) would trust eval or
        # system too: name just the one object there
        name = dotted if module.split(".")[0] in sys.stdlib_module_names else module
        raise UnsafeFileError(
            f"the file names the {what} {dotted}, which is not trusted (trusted: "
            f"{', '.join(prefixes)}). If you trust the file's author, load it with "
            f"trusted=[{name!r}] (importing that module may run its code).", [name])
    try:
        obj = _import(module, qualname)
    except (ImportError, AttributeError) as exc:
        from .errors import IncompatibleFileError
        raise IncompatibleFileError(
            f"the file needs {dotted}, which cannot be imported here ({exc}): install the "
            "package (or robustsk version) that defines it.") from None
    # The name must be the object's own: a trusted module's attribute can be anything it
    # imported (robustsk.checkpoint:os.system is os.system), and saving writes each
    # class or function under its own import path.
    try:
        own = import_path(obj)
    except TypeError:
        own = None
    if not (inspect.isclass(obj) or inspect.isroutine(obj)) or own != path:
        where = "" if own is None else f" (it is {own.replace(':', '.')})"
        raise UnsafeFileError(
            f"the file names the {what} {dotted}, which is not a class or function defined "
            f"there{where}: a file saved by robustsk names each by its own module; this one "
            "may have been crafted. Not loaded.")
    if inspect.isroutine(obj) and not _function_trusted(dotted, qualname, prefixes):
        raise UnsafeFileError(
            f"the file names the function {dotted}, and loading would call it with the "
            "file's arguments: functions are trusted by default only from torch.nn.functional, "
            "torch.nn.init, robustsk's computations and print. If you trust the file's author, load "
            f"it with trusted=[{dotted!r}].", [dotted])
    return obj


def _function_trusted(dotted, qualname, prefixes):
    """A function a default-trusted file may name, or one the caller trusts by name."""
    extra = prefixes[len(DEFAULT_TRUSTED):] if prefixes[:len(DEFAULT_TRUSTED)] == \
        DEFAULT_TRUSTED else prefixes
    if extra and is_trusted(dotted, extra):
        return True
    return "." not in qualname and is_trusted(dotted, _FUNCTIONS) \
        and not is_trusted(dotted, _DENIED_FUNCTIONS)


_REF = "robustsk.io.encoding.EstimatorRef"  # the placeholder of robustsk.io's own skops data


def _is_neural_net(dotted):
    """Whether a dotted type name is a skorch net (whose ``__setstate__`` unpickles)."""
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = _import(".".join(parts[:i]), ".".join(parts[i:]))
        except (ImportError, AttributeError):
            continue
        from skorch import NeuralNet
        return inspect.isclass(obj) and issubclass(obj, NeuralNet)
    return False


def _is_private(dotted):
    """A private class (its own name starts with "_") is nobody's saved object: skops
    would restore it through whatever ``__setstate__`` it has."""
    return dotted.rsplit(".", 1)[-1].startswith("_")


def never_loadable(types):
    """The types of a skops dump that :func:`check_skops_types` refuses whatever is
    trusted: private classes and skorch nets."""
    return [t for t in types if t != _REF and (_is_private(t) or _is_neural_net(t))]


def check_skops_types(types, prefixes):
    """The types of a skops dump (``get_untrusted_types``) that may be loaded, or raise.

    skorch nets are refused whatever ``trusted`` says: restoring one from
    skops data calls ``torch.load`` (pickle) in its ``__setstate__``.
    """
    refused = [t for t in types if t != _REF and (not is_trusted(t, prefixes) or _is_private(t))]
    if refused:
        raise UnsafeFileError(
            f"the file holds objects of the types {refused}, which are not trusted (trusted: "
            f"skops' defaults and {', '.join(prefixes)}). If you trust the file's author, "
            f"load it with trusted={refused!r}.", refused)
    nets = [t for t in types if _is_neural_net(t)]
    if nets:
        raise UnsafeFileError(
            f"the skops data holds the skorch network(s) {nets}, which skops can only restore "
            "through pickle: refused. Save robustsk estimators with robustsk.io.save.")
    return list(types)
