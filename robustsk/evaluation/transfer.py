"""Transfer attacks: adversarial examples crafted on one model, evaluated on another.

An attacker without the target's gradients can attack a surrogate model and
hope the adversarial examples transfer (Papernot et al., 2016; Tramer et al.,
2018). :func:`transfer_attack` does this for one pair; :func:`transfer_matrix`
for every pair of a dict of models.
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from ..attacks import model_input, seed_from_random_state
from ..attacks.base import Attack
from ._inputs import check_data
from ._runner import differentiable_target

__all__ = ["TransferResult", "transfer_attack", "transfer_matrix"]


@dataclass(frozen=True, eq=False)
class TransferResult:
    """The outcome of :func:`transfer_attack`.

    Attributes
    ----------
    X_adv : ndarray
        Adversarial examples crafted on the surrogate.
    surrogate_accuracy : float
        The surrogate's accuracy on ``X_adv`` (white-box robust accuracy).
    target_clean_accuracy : float
        The target's accuracy on ``X``.
    target_accuracy : float
        The target's accuracy on ``X_adv`` (fraction of all examples).
    transfer_rate : float
        Among the examples both models classify correctly and the surrogate's
        attack fooled it on, the fraction that also fool the target (NaN if none).
    n : int
    """

    X_adv: np.ndarray
    surrogate_accuracy: float
    target_clean_accuracy: float
    target_accuracy: float
    transfer_rate: float
    n: int


def _check_classifier(estimator, role):
    if not hasattr(estimator, "predict"):
        raise TypeError(f"The {role} ({type(estimator).__name__}) has no predict method: "
                        "expected a fitted scikit-learn classifier.")
    check_is_fitted(estimator)


def _check_surrogate(estimator, role="surrogate"):
    _check_classifier(estimator, role)
    if differentiable_target(estimator) is None:
        raise TypeError(
            f"The {role} ({type(estimator).__name__}) is not differentiable: a transfer attack "
            "crafts adversarial examples with gradients, so it needs a robustsk estimator, a "
            "scikit-learn linear classifier or a Pipeline of affine steps ending in one.")


def _resolve_attack(attack, random_state, surrogate):
    if attack is None:
        from ..attacks import as_target, default_attack
        classes = getattr(as_target(surrogate).estimator, "classes_", None)
        attack = default_attack(None if classes is None else len(classes))
    if not isinstance(attack, Attack):
        raise TypeError(f"attack must be a robustsk Attack (e.g. APGD(eps=0.1)); got "
                        f"{type(attack).__name__}.")
    attack = clone(attack)
    if "random_state" in attack.get_params(deep=False) and attack.random_state is None \
            and random_state is not None:
        attack.set_params(random_state=seed_from_random_state(random_state))
    return attack


def _accuracy(estimator, X, y):
    return np.asarray(estimator.predict(model_input(estimator, X))) == y


def transfer_attack(surrogate, target, X, y, attack=None, *, random_state=None):
    """Craft adversarial examples on ``surrogate`` and evaluate them on ``target``.

    Parameters
    ----------
    surrogate : fitted robustsk estimator (or another differentiable target)
        The model the attack differentiates.
    target : fitted scikit-learn classifier
        Any classifier with ``predict`` (trees, SVMs, pipelines, ...).
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
    attack : Attack, default=None
        None uses :func:`robustsk.attacks.default_attack` in the surrogate's
        threat model (parameters left None inherit the surrogate's).
    random_state : int or None, default=None
        Seeds an attack whose ``random_state`` is None.

    Returns
    -------
    result : TransferResult

    References
    ----------
    .. [1] Papernot, N., McDaniel, P. and Goodfellow, I. "Transferability in
       Machine Learning: from Phenomena to Black-Box Attacks using Adversarial
       Samples." arXiv:1605.07277, 2016.
    .. [2] Tramer, F. et al. "Ensemble Adversarial Training: Attacks and
       Defenses." ICLR, 2018.

    Examples
    --------
    >>> from robustsk.attacks import PGD
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import StandardTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> a = StandardTraining(max_epochs=2, clip_min=0, clip_max=1, random_state=0)
    >>> b = StandardTraining(max_epochs=2, clip_min=0, clip_max=1, random_state=1)
    >>> a, b = a.fit(X[:300], y[:300]), b.fit(X[:300], y[:300])
    >>> res = transfer_attack(a, b, X[300:350], y[300:350], PGD(eps=0.1), random_state=0)
    >>> res.surrogate_accuracy <= res.target_accuracy
    True
    """
    _check_surrogate(surrogate)
    _check_classifier(target, "target")
    X, y = check_data(X, y, [surrogate, target])
    attack = _resolve_attack(attack, random_state, surrogate)
    X_adv = attack.generate(surrogate, X, y)
    sur_clean, sur_adv = _accuracy(surrogate, X, y), _accuracy(surrogate, X_adv, y)
    tgt_clean, tgt_adv = _accuracy(target, X, y), _accuracy(target, X_adv, y)
    eligible = sur_clean & ~sur_adv & tgt_clean
    rate = float(np.mean(~tgt_adv[eligible])) if eligible.any() else float("nan")
    return TransferResult(X_adv=X_adv, surrogate_accuracy=float(sur_adv.mean()),
                          target_clean_accuracy=float(tgt_clean.mean()),
                          target_accuracy=float(tgt_adv.mean()), transfer_rate=rate, n=len(y))


def transfer_matrix(estimators, X, y, attack=None, *, random_state=None):
    """Accuracy of every target on the adversarial examples of every source.

    Parameters
    ----------
    estimators : dict of str to fitted classifier, or list of them
        The models. Those the gradient attacks can differentiate are the
        sources (rows); all are targets (columns). A list is named by
        position (0, 1, ...), e.g. an ensemble's ``members_`` (see
        :mod:`robustsk.ensembles`).
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
    attack : Attack, default=None
        Crafts the adversarial examples on each source; None uses
        :func:`robustsk.attacks.default_attack`. Parameters left None inherit
        each source's threat model (give ``eps`` to compare sources fairly).
    random_state : int or None, default=None
        Seeds an attack whose ``random_state`` is None (the same seed for every source).

    Returns
    -------
    matrix : pandas.DataFrame
        Index ``source``, columns ``target``; entry (s, t) is the accuracy of
        ``t`` on the adversarial examples crafted on ``s`` (fraction of all
        examples). The diagonal is white-box robust accuracy. ``matrix.attrs``
        holds ``clean_accuracy`` (per model) and ``eps`` (per source).

    References
    ----------
    .. [1] Tramer, F. et al. "Ensemble Adversarial Training: Attacks and
       Defenses." ICLR, 2018.

    Examples
    --------
    >>> from robustsk.attacks import PGD
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import StandardTraining
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> X, y = load_digits_images(return_X_y=True)
    >>> net = StandardTraining(max_epochs=2, clip_min=0, clip_max=1, random_state=0)
    >>> net = net.fit(X[:300], y[:300])
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> flat = FunctionTransformer(lambda Z: Z.reshape(len(Z), -1))
    >>> tree = make_pipeline(flat, DecisionTreeClassifier(random_state=0)).fit(X[:300], y[:300])
    >>> m = transfer_matrix({"net": net, "tree": tree}, X[300:340], y[300:340],
    ...                     PGD(eps=0.1), random_state=0)
    >>> m.shape
    (1, 2)
    """
    if isinstance(estimators, (list, tuple)):
        estimators = dict(enumerate(estimators))
    if not isinstance(estimators, dict) or not estimators:
        raise TypeError(f"estimators must be a non-empty dict of name -> fitted classifier "
                        f"(or a list of them, e.g. an ensemble's members_); got "
                        f"{type(estimators).__name__}.")
    for name, est in estimators.items():
        _check_classifier(est, f"estimator {name!r}")
    X, y = check_data(X, y, list(estimators.values()))
    sources = [k for k, est in estimators.items() if differentiable_target(est) is not None]
    if not sources:
        raise TypeError("None of the estimators is differentiable, so none can be a source: "
                        "include a robustsk estimator or a scikit-learn linear classifier.")
    attack = _resolve_attack(attack, random_state, estimators[sources[0]])
    clean = {k: float(_accuracy(est, X, y).mean()) for k, est in estimators.items()}
    values, eps = [], {}
    for s in sources:
        X_adv = attack.generate(estimators[s], X, y)
        eps[s] = float(attack.resolve_threat(differentiable_target(estimators[s])).eps)
        values.append([float(_accuracy(est, X_adv, y).mean()) for est in estimators.values()])
    matrix = pd.DataFrame(values, index=pd.Index(sources, name="source"),
                          columns=pd.Index(list(estimators), name="target"))
    matrix.attrs["clean_accuracy"] = clean
    matrix.attrs["eps"] = eps
    return matrix
