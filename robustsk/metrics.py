"""Robust accuracy and scorers for ``GridSearchCV`` and ``cross_validate``."""
import warnings

import numpy as np
import pandas as pd
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import _num_samples

from .attacks.base import Attack
from .attacks.inputs import model_input
from .parallel import limit_worker_threads

__all__ = ["robust_accuracy", "make_adversarial_scorer", "AdversarialScorer"]


def robust_accuracy(estimator, X, y, attack=None, *, per_class=False):
    """Fraction of all examples classified correctly under ``attack``.

    An example misclassified without attack counts as a failure, so robust
    accuracy never exceeds clean accuracy. So does an example whose label the
    estimator was not fitted on (a cross-validation fold can hold one), as in
    ``accuracy_score``; a warning names such labels.

    Parameters
    ----------
    estimator : fitted robustsk estimator or Pipeline ending in one
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
    attack : Attack, default=None
        None uses :func:`robustsk.attacks.default_attack` for the estimator's
        number of classes: PGD-20 with 3 restarts, APGD-CE, then a
        scale-invariant APGD (targeted DLR) on the survivors, so that logits
        multiplied by a large constant do not fool it. Parameters left None
        (``eps``, ``norm``, ``clip_min``, ``clip_max``, ``random_state``) inherit
        the estimator's threat model.
    per_class : bool, default=False
        If True, return the fraction of each class's examples still correct
        under attack (the robust recall of each class) instead of one number.

    Returns
    -------
    accuracy : float or pandas.Series
        With ``per_class=True``, a Series named ``"robust_accuracy"`` indexed
        by the class labels present in ``y`` (sorted; index name ``"class"``).

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import StandardTraining
    >>> from robustsk.attacks import FGSM
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = StandardTraining(max_epochs=2, random_state=0).fit(X[:200], y[:200])
    >>> 0.0 <= robust_accuracy(clf, X[:50], y[:50], FGSM(eps=0.1)) <= 1.0
    True
    >>> per_class = robust_accuracy(clf, X[:50], y[:50], FGSM(eps=0.1), per_class=True)
    >>> per_class.index.tolist() == sorted(set(y[:50]))
    True
    """
    from .attacks import as_target, default_attack
    limit_worker_threads()  # joblib's share of the CPUs in a scorer's worker
    if not isinstance(per_class, (bool, np.bool_)):
        raise TypeError(f"per_class={per_class!r}: expected True (one robust accuracy per "
                        "class) or False (one number).")
    if attack is None:
        classes = getattr(as_target(estimator).estimator, "classes_", None)
        attack = default_attack(None if classes is None else len(classes))
    if not isinstance(attack, Attack):
        raise TypeError(f"attack must be a robustsk Attack (e.g. PGD(eps=0.1)); got "
                        f"{type(attack).__name__}.")
    y = np.asarray(y).ravel()
    known = _known_labels(estimator, X, y)
    if known is None:
        correct = _correct_under_attack(estimator, attack, X, y)
    else:
        correct = np.zeros(len(y), dtype=bool)
        rows = np.flatnonzero(known)
        if len(rows):
            correct[rows] = _correct_under_attack(estimator, attack, _safe_indexing(X, rows),
                                                  y[rows])
    if not per_class:
        return float(np.mean(correct))
    labels, inverse = np.unique(y, return_inverse=True)
    acc = np.bincount(inverse, weights=correct) / np.bincount(inverse)
    return pd.Series(acc, index=pd.Index(labels, name="class"), name="robust_accuracy")


def _correct_under_attack(estimator, attack, X, y):
    X_adv = attack.generate(estimator, X, y)
    return estimator.predict(model_input(estimator, X_adv)) == y


def _known_labels(estimator, X, y):
    """Which rows' labels the estimator was fitted on; None when all are.

    A cross-validation fold can hold a label its training folds lacked: such
    examples count as misclassified, as in ``accuracy_score`` (no prediction
    can equal them), and are not attacked; so do all of them when no label is
    known but they are of the classes' kind (a fold of one unseen class).
    Labels of another kind than the classes (strings against integer
    classes) are left to the attack's error, which says so.
    """
    classes = getattr(estimator, "classes_", None)
    if classes is None or len(y) != _num_samples(X):
        return None
    try:
        known = np.isin(y, np.asarray(classes))
    except TypeError:
        return None
    if known.all() or (not known.any() and not _same_kind(y, classes)):
        return None
    unseen = np.unique(y[~known])
    warnings.warn(f"y contains labels {unseen.tolist()} that the estimator was not fitted on "
                  f"(its classes are {np.asarray(classes).tolist()}): their {int((~known).sum())} "
                  "examples count as misclassified, as in accuracy_score. Use stratified folds "
                  "(StratifiedKFold) so every class is in each training fold.",
                  UserWarning, stacklevel=3)
    return known


def _same_kind(y, classes):
    """Whether labels and classes are both numbers or both strings (comparable)."""
    def kind(values):
        values = np.asarray(values)
        if values.dtype.kind in "biuf":
            return "number"
        if values.dtype.kind in "USO" and all(isinstance(v, str) for v in values.ravel()):
            return "string"
        return values.dtype.kind
    return kind(y) == kind(classes)


class AdversarialScorer:
    """A scorer ``(estimator, X, y) -> robust accuracy`` (greater is better).

    Parameters
    ----------
    attack : Attack
    """

    _score_func = staticmethod(robust_accuracy)

    def __init__(self, attack):
        self.attack = attack

    def __call__(self, estimator, X, y, sample_weight=None):
        if sample_weight is not None:
            raise ValueError("The adversarial scorer does not support sample_weight.")
        return robust_accuracy(estimator, X, y, attack=self.attack)

    def __repr__(self):
        return f"make_adversarial_scorer({self.attack!r})"


def make_adversarial_scorer(attack=None):
    """A scorer of robust accuracy under ``attack``, for ``GridSearchCV`` and friends.

    It accepts a robustsk estimator or a ``Pipeline`` ending in one, and can sit
    beside other scorers in a ``scoring`` dict.

    Parameters
    ----------
    attack : Attack, default=None
        None uses :func:`robustsk.attacks.default_attack` for each candidate's
        number of classes (PGD-20 with 3 restarts, APGD-CE, then targeted
        APGD-DLR on the survivors: scale-invariant, so a model with saturated
        logits does not look robust). Parameters left None inherit each
        candidate estimator's own threat model.

    Returns
    -------
    scorer : AdversarialScorer

    Examples
    --------
    >>> from robustsk.attacks import PGD
    >>> scorer = make_adversarial_scorer(PGD(eps=0.1, n_iter=20))
    >>> scoring = {"clean": "accuracy", "robust": scorer}
    """
    if attack is not None and not isinstance(attack, Attack):
        raise TypeError(f"attack must be a robustsk Attack; got {type(attack).__name__}.")
    return AdversarialScorer(attack)
