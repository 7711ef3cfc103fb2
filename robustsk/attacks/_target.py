"""What an attack sees of the object it attacks: a differentiable torch model.

An attack is given a fitted estimator: a robustsk estimator, or a scikit-learn
``Pipeline`` whose last step is one. :func:`as_target` turns it into an
:class:`AttackTarget`: a torch module from raw input to logits, the conversion
of ``X`` and ``y`` into tensors, and the estimator's threat model (the defaults
that attack parameters left ``None`` inherit).
"""
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

__all__ = ["AttackTarget", "as_target"]


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
        The robustsk estimator that holds the threat model.
    """

    module: Any
    prepare_X: Callable
    encode_y: Callable
    estimator: Any

    def threat_default(self, name):
        """The estimator's value of a threat-model parameter (None if it has none)."""
        return getattr(self.estimator, name, None)


def _is_passthrough(step):
    return step is None or (isinstance(step, str) and step == "passthrough")


def as_target(estimator):
    """Resolve a fitted estimator or pipeline into an :class:`AttackTarget`.

    Raises
    ------
    TypeError
        When the object cannot be differentiated by the gradient attacks.
    sklearn.exceptions.NotFittedError
        When the estimator is not fitted.
    """
    if isinstance(estimator, Pipeline):
        steps = [s for _, s in estimator.steps]
        for name, step in estimator.steps[:-1]:
            if not _is_passthrough(step):
                raise TypeError(
                    f"Pipeline step {name!r} ({type(step).__name__}) is not 'passthrough': "
                    "gradient attacks here differentiate through pipelines whose earlier "
                    "steps are 'passthrough' only. Apply the preprocessing to X before the "
                    "attack and attack the final estimator, or use a gradient-free attack."
                )
        estimator = steps[-1]
    hook = getattr(estimator, "_as_attack_target", None)
    if hook is None:
        raise TypeError(
            f"{type(estimator).__name__} is not differentiable by the gradient attacks: "
            "expected a fitted robustsk estimator (or a Pipeline ending in one). For other "
            "scikit-learn classifiers use a gradient-free attack."
        )
    check_is_fitted(estimator)
    return hook()


def output_like(x_adv, X):
    """Return ``x_adv`` (numpy) with the shape and dtype of the original ``X``."""
    X_arr = np.asarray(X)
    dtype = X_arr.dtype if np.issubdtype(X_arr.dtype, np.floating) else np.float32
    return np.asarray(x_adv, dtype=dtype).reshape(X_arr.shape)
