"""Declared parameters, validated once per ``fit``.

Each estimator declares its parameters in a class attribute
``_parameter_constraints`` (scikit-learn's convention): a dict from the
parameter's name to a list of accepted forms. :func:`validate_params` walks the
class hierarchy, merges the dicts (a subclass may override an entry) and
checks the current values once, before training; nothing is re-checked per
batch. An error names the parameter, the value received, what was expected
and what to do.

The forms are small objects with a ``describe()`` and a ``accepts(value)``:
:class:`Interval`, :class:`Options`, :class:`InstanceOf`, :class:`Callable`,
and ``None`` (the value None is accepted).

Examples
--------
>>> from robustsk.params import Interval, Options, validate_params
>>> class Noise:
...     _parameter_constraints = {"sigma": [Interval(float, 0, None, closed="left")],
...                               "kind": [Options("gaussian", "uniform")]}
...     sigma, kind = -1.0, "gaussian"
>>> try:
...     validate_params(Noise())
... except ValueError as err:
...     print(str(err).split(":")[0])
Noise got sigma=-1.0
"""
from dataclasses import dataclass
import numbers

import numpy as np

__all__ = ["Interval", "Options", "Norm", "InstanceOf", "Callable", "validate_params",
           "parameter_constraints"]


def _is_number(value, kind):
    if isinstance(value, (bool, np.bool_)):
        return False
    if kind is int:
        return isinstance(value, numbers.Integral)
    return isinstance(value, numbers.Real) and np.isfinite(value)


@dataclass(frozen=True)
class Interval:
    """A real (``float``) or integer (``int``) range; None bounds are open-ended.

    Parameters
    ----------
    kind : {float, int}
    left, right : number or None
    closed : {"both", "left", "right", "neither"}, default="both"
    """

    kind: type
    left: object = None
    right: object = None
    closed: str = "both"

    def accepts(self, value):
        """Whether ``value`` satisfies this constraint."""
        if not _is_number(value, self.kind):
            return False
        lo_ok = self.left is None or (value >= self.left if self.closed in ("both", "left")
                                      else value > self.left)
        hi_ok = self.right is None or (value <= self.right if self.closed in ("both", "right")
                                       else value < self.right)
        return bool(lo_ok and hi_ok)

    def describe(self):
        """What this constraint expects, in words (for error messages)."""
        what = "an integer" if self.kind is int else "a finite number"
        lb = "[" if self.closed in ("both", "left") and self.left is not None else "("
        rb = "]" if self.closed in ("both", "right") and self.right is not None else ")"
        lo = "-inf" if self.left is None else f"{self.left:g}"
        hi = "inf" if self.right is None else f"{self.right:g}"
        return f"{what} in {lb}{lo}, {hi}{rb}"


class Options:
    """One of a fixed set of values (strings are compared exactly)."""

    def __init__(self, *values):
        self.values = values

    def accepts(self, value):
        """Whether ``value`` satisfies this constraint."""
        for v in self.values:
            if type(value) is type(v) or (_is_number(value, float) and _is_number(v, float)):
                try:
                    if bool(value == v):
                        return True
                except (TypeError, ValueError):
                    pass
        return False

    def describe(self):
        """What this constraint expects, in words (for error messages)."""
        return "one of " + ", ".join(repr(v) for v in self.values)


class Norm:
    """The norm of an Lp ball, L-infinity or L2, in every spelling robustsk takes.

    Strings in any case ("inf", "Linf", "l_inf", "infinity", "2", "L2",
    "l_2"), ``np.inf`` and 2; :func:`robustsk.attacks.check_threat` reads the
    same spellings.
    """

    INF = ("inf", "linf", "l_inf", "infinity")
    TWO = ("2", "l2", "l_2")

    def accepts(self, value):
        """Whether ``value`` satisfies this constraint."""
        if isinstance(value, str):
            return value.lower().strip() in self.INF + self.TWO
        if isinstance(value, (numbers.Real, np.number)) and not isinstance(value, (bool, np.bool_)):
            return bool((np.isinf(value) and value > 0) or value == 2)
        return False

    def describe(self):
        """What this constraint expects, in words (for error messages)."""
        return "'inf' (or 'Linf', 'l_inf', 'infinity', np.inf) or 2 (or '2', 'L2', 'l_2')"


@dataclass(frozen=True)
class InstanceOf:
    """An instance of ``types`` (a class or tuple of classes)."""

    types: object
    name: str = ""

    def accepts(self, value):
        """Whether ``value`` satisfies this constraint."""
        return isinstance(value, self.types)

    def describe(self):
        """What this constraint expects, in words (for error messages)."""
        if self.name:
            return self.name
        types = self.types if isinstance(self.types, tuple) else (self.types,)
        return "an instance of " + " or ".join(t.__name__ for t in types)


@dataclass(frozen=True)
class Callable:
    """Any callable (a function, a class, a ``functools.partial``)."""

    name: str = "a callable"

    def accepts(self, value):
        """Whether ``value`` satisfies this constraint."""
        return callable(value)

    def describe(self):
        """What this constraint expects, in words (for error messages)."""
        return self.name


def _describe(form):
    return "None" if form is None else form.describe()


def _accepts(form, value):
    return value is None if form is None else form.accepts(value)


def parameter_constraints(cls):
    """The merged ``_parameter_constraints`` of ``cls`` and its bases (subclasses win)."""
    merged = {}
    for klass in reversed(type.mro(cls)):
        merged.update(vars(klass).get("_parameter_constraints", {}))
    return merged


def _validate_nested(who, name, value):
    """A parameter that is itself a robustsk object (an attack) is checked with its own
    constraints, so that ``train_attack=PGD(n_iter=-3)`` fails before any work too."""
    if isinstance(value, type) or not parameter_constraints(type(value)):
        return
    try:
        validate_params(value)
    except ValueError as err:
        raise ValueError(f"{who} got {name}={value!r}, which is invalid: {err}") from None


def validate_params(estimator, hints=None, values=None):
    """Check every declared parameter of ``estimator``; raise ``ValueError`` on the first bad one.

    Parameters
    ----------
    estimator : object
        Its class (and bases) declare ``_parameter_constraints``; values are
        read with ``getattr``.
    hints : dict, optional
        Extra advice per parameter name, appended to the message.
    values : dict, optional
        Check only these proposed values (e.g. in ``set_params``, before they
        replace the current ones) instead of the estimator's own.

    Raises
    ------
    ValueError
        ``"<Class> got <name>=<value>: expected <forms>. <what to do>"``.
    """
    hints = hints or {}
    who = type(estimator).__name__
    for name, forms in parameter_constraints(type(estimator)).items():
        if values is not None:
            if name not in values:
                continue
            value = values[name]
        elif not hasattr(estimator, name):  # a base may declare what only some subclasses have
            continue
        else:
            value = getattr(estimator, name)
        if any(_accepts(form, value) for form in forms):
            _validate_nested(who, name, value)
            continue
        expected = " or ".join(_describe(f) for f in forms)
        advice = hints.get(name, f"Pass {name}= one of the accepted values, e.g. "
                                 f"{who}({name}=...) or set_params({name}=...).")
        raise ValueError(f"{who} got {name}={value!r}: expected {expected}. {advice}")
