"""Validation of the estimator and the data every evaluation function starts with."""
import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..validation import check_labels_known
from ._runner import differentiable_target

__all__ = ["check_estimator", "check_data"]


def check_estimator(estimator):
    """Raise unless ``estimator`` is a fitted classifier with scores (predict_proba or
    decision_function, or a module the attacks differentiate)."""
    if not hasattr(estimator, "predict"):
        raise TypeError(f"{type(estimator).__name__} has no predict method: expected a fitted "
                        "scikit-learn classifier (e.g. a robustsk estimator).")
    if not (hasattr(estimator, "predict_proba") or hasattr(estimator, "decision_function")
            or differentiable_target(estimator) is not None):
        raise TypeError(
            f"{type(estimator).__name__} has neither predict_proba nor decision_function: the "
            "evaluation needs the classifier's scores (to detect randomized models, and for "
            "the score-based attacks). Use a classifier that exposes one of them, e.g. "
            "SVC(probability=True) or a robustsk estimator.")
    check_is_fitted(estimator)


def check_data(X, y, estimators=()):
    """``X`` and ``y`` as arrays: ``X`` of shape (n_samples, ...), one label per example.

    ``y`` must hold only labels the ``estimators`` (those with ``classes_``)
    were fitted on: an unknown label can never be predicted, and counting it
    as a failure would silently lower every accuracy.

    Returns
    -------
    X : ndarray of shape (n_samples, ...)
    y : ndarray of shape (n_samples,)
    """
    if X is None or y is None:
        raise ValueError("X and y are both required: the evaluation needs the true labels.")
    X = np.asarray(X)
    y = np.asarray(y)
    if y.ndim != 1:
        y = y.ravel() if y.ndim == 2 and 1 in y.shape else y
    if y.ndim != 1:
        raise ValueError(f"y has shape {y.shape}: expected one label per example, shape "
                         "(n_samples,).")
    if X.ndim < 2 or len(X) != len(y):
        raise ValueError(f"X has shape {X.shape} and y has shape {y.shape}: expected X of shape "
                         "(n_samples, ...) and one label per example in y.")
    if len(y) == 0:
        raise ValueError("X is empty: pass at least one example.")
    for estimator in estimators:
        classes = getattr(estimator, "classes_", None)
        if classes is not None:
            check_labels_known(y, classes, who=type(estimator).__name__)
    return X, y
