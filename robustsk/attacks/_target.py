"""What an attack sees of the object it attacks: a differentiable torch model.

An attack is given a fitted classifier. :func:`as_target` turns it into an
:class:`AttackTarget`: a torch module from raw input to logits, the conversion
of ``X`` and ``y`` into tensors, and the threat model (the defaults that attack
parameters left ``None`` inherit). Accepted are

* a robustsk estimator (its own module and threat model);
* a scikit-learn linear classifier (``LogisticRegression``, ``LinearSVC``,
  ``SGDClassifier``, ``RidgeClassifier``, ...): an ``nn.Linear`` with its
  ``coef_`` and ``intercept_``, so the gradients are the closed-form ones
  (binary models give the logits ``[0, d(x)]``, multiclass models their
  decision values); it has no threat model, so give ``eps`` to the attack
  (an integer ``random_state`` of the model seeds an attack that has none);
* a ``Pipeline`` whose earlier steps are affine (``'passthrough'``/None,
  ``FunctionTransformer(func=None)``, ``StandardScaler``, ``MinMaxScaler``,
  ``MaxAbsScaler``, ``PCA``, ``TruncatedSVD``) ending in one of the above. The
  fitted maps become float32 layers in front of the classifier's module, so
  ``eps`` is measured in the user's **raw** input space.

Threat model of a pipeline: ``eps``, ``norm`` and ``random_state`` are the
final estimator's; its ``clip_min``/``clip_max`` are **not** inherited when a
step changes the space (that box lives in the scaled space): the raw-space box
is None (unbounded) unless the attack gives one. A pipeline of identity steps
only keeps the final estimator's box (the two spaces are the same).

Anything else (trees, kernel SVMs, nearest neighbours, ``Normalizer``, ...)
raises ``TypeError``: use the gradient-free ``robustsk.attacks.SPSA`` or
``robustsk.attacks.Square``.
"""
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
import torch

from ._adapters import (
    NOT_DIFFERENTIABLE_HINT,
    AffineLayer,
    Chain,
    affine_map,
    compose_affine,
    is_identity_step,
    is_linear_classifier,
    linear_module,
    linear_scores,
)

__all__ = ["AttackTarget", "ThreatDefaults", "as_target", "estimator_seed", "output_like",
           "output_dtype"]

_THREAT_NAMES = ("eps", "norm", "clip_min", "clip_max", "random_state")


@dataclass(frozen=True)
class AttackTarget:
    """A fitted classifier as a differentiable torch model.

    Attributes
    ----------
    module : torch.nn.Module
        Maps a float tensor of raw inputs to logits.
    prepare_X : callable
        ``X -> Tensor`` on the module's device, validated against the fit.
    encode_y : callable
        ``y -> LongTensor`` of class indices; unknown labels raise.
    estimator : object
        The final estimator (robustsk or scikit-learn linear).
    defaults : dict
        Threat-model values that override the estimator's attributes (a
        pipeline's raw-space box is None; a linear model has no threat model).
    linear : tuple of ndarray or None
        ``(W, b)`` in float64 when the whole model is affine in the raw input
        (logits ``x W^T + b``), for closed-form attacks; None otherwise.
    """

    module: Any
    prepare_X: Callable
    encode_y: Callable
    estimator: Any
    defaults: dict = field(default_factory=dict)
    linear: Any = None

    def threat_default(self, name):
        """The threat-model default for ``name`` (None if there is none)."""
        if name in self.defaults:
            return self.defaults[name]
        return getattr(self.estimator, name, None)

    def with_defaults(self, **overrides):
        """This target with threat-model defaults layered on top.

        Parameters
        ----------
        **overrides
            ``eps``, ``norm``, ``clip_min``, ``clip_max``, ``random_state``:
            values that take precedence over this target's; None entries are
            ignored (they inherit), as for an attack's own parameters.

        Returns
        -------
        target : AttackTarget
            Same module and conversions, new defaults.
        """
        return replace(self, defaults={**self.defaults, **_given(overrides)})


def _given(overrides):
    unknown = sorted(set(overrides) - set(_THREAT_NAMES))
    if unknown:
        raise TypeError(f"{unknown} are not threat-model parameters: expected some of "
                        f"{list(_THREAT_NAMES)}.")
    return {k: v for k, v in overrides.items() if v is not None}


@dataclass(frozen=True)
class ThreatDefaults:
    """Threat-model defaults of any object, with overrides layered on top.

    What an attack reads through ``threat_default(name)`` when the object it
    inherits from is not an :class:`AttackTarget` (any fitted estimator, a
    score target), or to layer an outer object's parameters over a target.

    Parameters
    ----------
    source : object
        Something with ``threat_default(name)`` (an :class:`AttackTarget`), or
        any object whose attributes are read (an estimator); None: no defaults.
    overrides : mapping, default={}
        Values that take precedence; None entries are ignored (they inherit).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> defaults = ThreatDefaults(SimpleNamespace(eps=0.1, norm="inf"), {"eps": 0.3, "norm": None})
    >>> defaults.threat_default("eps"), defaults.threat_default("norm")
    (0.3, 'inf')
    """

    source: Any = None
    overrides: Mapping = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "overrides", MappingProxyType(_given(dict(self.overrides))))

    def threat_default(self, name):
        """The override for ``name``, else the source's value (None if there is none)."""
        if name in self.overrides:
            return self.overrides[name]
        if self.source is None:
            return None
        if hasattr(self.source, "threat_default"):
            return self.source.threat_default(name)
        return getattr(self.source, name, None)


def _is_passthrough(step):
    return step is None or (isinstance(step, str) and step == "passthrough")


def _flat_steps(pipe):
    steps = []
    for name, step in pipe.steps:
        if isinstance(step, Pipeline):
            steps.extend(_flat_steps(step))
        else:
            steps.append((name, step))
    return steps


def _not_differentiable(estimator):
    return TypeError(
        f"{type(estimator).__name__} is not differentiable by the gradient attacks: "
        "expected a fitted robustsk estimator, a scikit-learn linear classifier "
        "(LogisticRegression, LinearSVC, SGDClassifier, RidgeClassifier, ...) or a Pipeline "
        "of affine steps ending in one. " + NOT_DIFFERENTIABLE_HINT)


def _encode_labels(classes, y, n_samples):
    from ..validation import check_y
    y = np.asarray(check_y(y, n_samples))
    unknown = ~np.isin(y, classes)
    if unknown.any():
        raise ValueError(
            f"y contains labels {np.unique(y[unknown])[:10].tolist()} that are not among the "
            f"classes {np.asarray(classes).tolist()[:20]} the model was fitted on.")
    return np.searchsorted(classes, y).astype(np.int64)


def _flat_X(X, n_features, box, who):
    """Validate raw tabular ``X`` (2-d, ``n_features`` columns, inside ``box``)."""
    from ..validation import check_box, check_in_box, check_X
    X = check_X(X)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(
            f"X has examples of shape {X.shape[1:]}, but {who} expects {n_features} features: "
            f"pass X of shape (n_samples, {n_features}).")
    lo, hi = check_box(*box, (n_features,))
    check_in_box(X, lo, hi)
    # torch warns on read-only arrays (a DataFrame's under pandas' copy-on-write)
    return X if X.flags.writeable else X.copy()


def estimator_seed(estimator):
    """The integer ``random_state`` of a scikit-learn model (a Pipeline's final step), or None.

    An attack whose own ``random_state`` is None inherits it, so that attacking a
    seeded model twice gives the same result (a model's seed otherwise only
    seeds its training). A ``RandomState`` instance or None gives None: the
    attack then draws fresh entropy on every call.
    """
    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    seed = getattr(final, "random_state", None)
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return int(seed)
    return None


def _linear_target(estimator):
    check_is_fitted(estimator)
    n_features = int(estimator.n_features_in_)
    classes = estimator.classes_

    def prepare_X(X, box=(None, None)):
        return torch.as_tensor(_flat_X(X, n_features, box, type(estimator).__name__))

    def encode_y(y, n_samples):
        return torch.as_tensor(_encode_labels(classes, y, n_samples))

    # no threat model (give eps to the attack); an integer random_state is inherited
    # so that an unseeded attack on a seeded model repeats (see estimator_seed)
    defaults = {**{name: None for name in _THREAT_NAMES},
                "random_state": estimator_seed(estimator)}
    return AttackTarget(module=linear_module(estimator), prepare_X=prepare_X,
                        encode_y=encode_y, estimator=estimator, defaults=defaults,
                        linear=linear_scores(estimator))


def _final_target(estimator):
    hook = getattr(estimator, "as_attack_target", None)
    if hook is not None:
        check_is_fitted(estimator)
        return hook()
    if is_linear_classifier(estimator):
        return _linear_target(estimator)
    raise _not_differentiable(estimator)


def _pipeline_target(pipe):
    steps = _flat_steps(pipe)
    final = steps[-1][1]
    if getattr(final, "as_attack_target", None) is None and not is_linear_classifier(final):
        raise _not_differentiable(final)
    maps, first = [], None
    for name, step in steps[:-1]:
        if is_identity_step(step):
            continue
        try:
            m = affine_map(step)
        except TypeError as err:
            raise TypeError(f"Pipeline step {name!r}: {err}") from None
        first = step if first is None else first
        maps.append(m)
    inner = _final_target(final)
    if not maps:  # identity steps only: raw space is the estimator's space
        return inner
    device = getattr(inner.estimator, "device", "cpu")
    n_features = int(first.n_features_in_)
    module = Chain(*[AffineLayer(m, device) for m in maps], inner.module)

    def prepare_X(X, box=(None, None)):
        return torch.as_tensor(_flat_X(X, n_features, box, "the Pipeline"), device=device)

    linear = None
    if inner.linear is not None and all(m.clip is None for m in maps):
        A, c = compose_affine(maps, n_features)
        W, b = inner.linear
        linear = (W @ A, W @ c + b)
    defaults = {**inner.defaults, "clip_min": None, "clip_max": None}
    return AttackTarget(module=module, prepare_X=prepare_X, encode_y=inner.encode_y,
                        estimator=inner.estimator, defaults=defaults, linear=linear)


def as_target(estimator):
    """Resolve a fitted classifier or pipeline into an :class:`AttackTarget`.

    Parameters
    ----------
    estimator : fitted robustsk estimator, scikit-learn linear classifier, or a
        ``Pipeline`` of affine steps ending in one of them; any of these may be
        wrapped in ``sklearn.frozen.FrozenEstimator``

    Raises
    ------
    TypeError
        When the object cannot be differentiated by the gradient attacks (the
        message says "not differentiable" and points to SPSA and Square).
    sklearn.exceptions.NotFittedError
        When the estimator is not fitted.
    """
    from sklearn.frozen import FrozenEstimator
    while isinstance(estimator, FrozenEstimator):
        estimator = estimator.estimator
    if isinstance(estimator, Pipeline):
        return _pipeline_target(estimator)
    return _final_target(estimator)


def output_like(x_adv, X):
    """Return ``x_adv`` (numpy) with the shape and dtype of the original ``X``.

    Integer, bool and float16 ``X`` give float32 (rounding to them would move
    examples off the ball).
    """
    X_arr = np.asarray(X)
    return np.asarray(x_adv, dtype=output_dtype(X_arr)).reshape(X_arr.shape)


def output_dtype(X):
    """The dtype of adversarial examples for inputs ``X``: X's own if float32 or float64.

    float16 cannot hold the ball's edge (x + eps rounds outside it), so half
    precision comes back as float32, like integers and bools.
    """
    dtype = np.asarray(X).dtype if not hasattr(X, "dtype") else np.dtype(X.dtype)
    floating = np.issubdtype(dtype, np.floating) and dtype.itemsize >= 4
    return dtype if floating else np.dtype(np.float32)
