"""Fit a victim on a poisoned training set and measure what the poisoning did."""
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone

from .backdoor import BackdoorResult
from .feature_collision import FeatureCollisionResult
from .gradient import GradientPoisoningResult
from .label_flip import LabelFlipResult

__all__ = ["PoisoningReport", "poisoning_report"]


@dataclass(frozen=True)
class PoisoningReport:
    """What a poisoning attack did to a victim trained on its data.

    Attributes
    ----------
    kind : {"label_flip", "gradient", "backdoor", "feature_collision", "unknown"}
    clean_accuracy : float
        Accuracy of the poisoned model on the (clean) test set.
    baseline_accuracy : float or None
        Accuracy of the same victim fitted on the clean training set.
    accuracy_drop : float or None
        ``baseline_accuracy - clean_accuracy``.
    success_rate : float or None
        backdoor: fraction of triggered test images of the other classes
        classified as the target class; label flip and gradient poisoning: the
        accuracy drop; feature collision: 1.0 if the target is classified as the
        base class, else 0.0.
    n_poisoned : int or None
    model : fitted estimator
        The victim fitted on the poisoned set.
    """

    kind: str
    clean_accuracy: float
    baseline_accuracy: object
    accuracy_drop: object
    success_rate: object
    n_poisoned: object
    model: object


_KINDS = ((LabelFlipResult, "label_flip"), (GradientPoisoningResult, "gradient"),
          (BackdoorResult, "backdoor"), (FeatureCollisionResult, "feature_collision"))


def poisoning_report(victim, X_train_poisoned, y_train_poisoned, X_test, y_test, *,
                     result=None, X_train_clean=None, y_train_clean=None, baseline=True):
    """Fit a clone of ``victim`` on poisoned data; report accuracy and attack success.

    Parameters
    ----------
    victim : scikit-learn classifier (robustsk or not), fitted or not
        Cloned, never modified.
    X_train_poisoned, y_train_poisoned : array-like
        The poisoned training set (``result.X``, ``result.y``).
    X_test, y_test : array-like
        Clean test data.
    result : LabelFlipResult, GradientPoisoningResult, BackdoorResult or
        FeatureCollisionResult, default=None
        The attack's result: it decides the success rate (see
        :class:`PoisoningReport`) and supplies the clean training set.
    X_train_clean, y_train_clean : array-like, default=None
        The clean training set, if ``result`` does not give it.
    baseline : bool, default=True
        Also fit a clone on the clean training set (when known) for the
        accuracy drop; False saves that fit.

    Returns
    -------
    report : PoisoningReport

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from robustsk.poisoning import label_flip
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16.0
    >>> res = label_flip(X[:1000], y[:1000], fraction=0.3, random_state=0)
    >>> rep = poisoning_report(LogisticRegression(max_iter=300), res.X, res.y, X[1000:],
    ...                        y[1000:], result=res)
    >>> rep.accuracy_drop > 0
    True
    """
    kind = "unknown"
    for cls, name in _KINDS:
        if isinstance(result, cls):
            kind = name
    if result is not None and kind == "unknown":
        raise TypeError(f"result of type {type(result).__name__} is not a poisoning result: "
                        "expected the return value of label_flip, gradient_poisoning, "
                        "badnets or feature_collision.")
    y_test = np.asarray(y_test)
    model = clone(victim).fit(X_train_poisoned, y_train_poisoned)
    acc = float(np.mean(model.predict(X_test) == y_test))
    clean = None
    if X_train_clean is not None:
        clean = (X_train_clean, y_train_clean)
    elif result is not None:
        clean = result.clean_set()
    base_acc = drop = None
    if baseline and clean is not None:
        base_acc = float(np.mean(clone(victim).fit(*clean).predict(X_test) == y_test))
        drop = base_acc - acc
    success = None
    if kind in ("label_flip", "gradient"):
        success = drop
    elif kind == "backdoor":
        others = y_test != result.target_class
        if others.any():
            X_trig = result.trigger.apply(np.asarray(X_test)[others])
            success = float(np.mean(model.predict(X_trig) == result.target_class))
    elif kind == "feature_collision":
        pred = model.predict(np.asarray(result.target)[None])[0]
        success = float(pred == result.base_label)
    n_poisoned = None if result is None or result.poison_indices is None \
        else int(len(result.poison_indices))
    return PoisoningReport(kind=kind, clean_accuracy=acc, baseline_accuracy=base_acc,
                           accuracy_drop=drop, success_rate=success, n_poisoned=n_poisoned,
                           model=model)
