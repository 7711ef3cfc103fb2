"""Label flipping: the simplest training-set poisoning (random or targeted).

References
----------
.. [1] Biggio, B., Nelson, B. and Laskov, P. "Support Vector Machines Under
   Adversarial Label Noise." ACML, 2011.
.. [2] Xiao, H., Xiao, H. and Eckert, C. "Adversarial Label Flips Attack on
   Support Vector Machines." ECAI, 2012.
"""
from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state

from ._checks import capped_count, check_fraction, check_training_set

__all__ = ["LabelFlipResult", "label_flip"]


@dataclass(frozen=True)
class LabelFlipResult:
    """A training set with some labels flipped.

    Attributes
    ----------
    X : ndarray of shape (n_samples, ...)
        The training inputs (unchanged).
    y : ndarray of shape (n_samples,)
        The poisoned labels.
    poison_indices : ndarray of int
        Rows whose label was flipped.
    y_original : ndarray of shape (n_samples,)
        The clean labels.
    """

    X: np.ndarray
    y: np.ndarray
    poison_indices: np.ndarray
    y_original: np.ndarray

    def clean_set(self):
        """The clean training set ``(X, y)``."""
        return self.X, self.y_original


def label_flip(X, y, *, fraction=0.1, strategy="random", source_class=None, target_class=None,
               random_state=None):
    """Flip the labels of a fraction of the training examples.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
    fraction : float in [0, 1], default=0.1
        How many labels to flip, as a fraction of a reference count:
        ``strategy="random"``: a fraction of **all** ``n_samples`` examples,
        with or without ``target_class``. Examples already labelled
        ``target_class`` cannot be flipped to it, so with ``target_class`` the
        ``round(fraction * n_samples)`` flips are drawn among the other
        examples and capped at their number (a ``UserWarning`` says when the
        cap bites, e.g. ``fraction=1.0``).
        ``strategy="targeted"``: a fraction of the examples of ``source_class``.
    strategy : {"random", "targeted"}, default="random"
        "random": chosen uniformly; each new label is ``target_class`` if given,
        else uniform among the other classes. "targeted": examples of
        ``source_class`` become ``target_class``.
    source_class, target_class : label, default=None
        Needed by "targeted"; "random" takes an optional ``target_class`` and
        refuses a ``source_class``.
    random_state : int, RandomState or None, default=None

    Returns
    -------
    result : LabelFlipResult

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> res = label_flip(X, y, fraction=0.3, random_state=0)
    >>> round(float((res.y != y).mean()), 2)
    0.3
    """
    X, y = check_training_set(X, y)
    fraction = check_fraction(fraction)
    rng = check_random_state(random_state)
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(f"y has one class ({classes.tolist()}): flipping a label needs another "
                         "class to flip it to. Pass labels of at least two classes.")
    for name, c in (("source_class", source_class), ("target_class", target_class)):
        if c is not None and c not in classes:
            raise ValueError(f"{name}={c!r} is not a label of y: expected one of "
                             f"{classes.tolist()[:20]}.")
    if strategy == "random" and source_class is not None:
        raise ValueError(f"source_class={source_class!r} is used by strategy='targeted' only "
                         "(strategy='random' flips examples of every class): pass "
                         "strategy='targeted' with a target_class, or leave source_class None.")
    if strategy == "random":
        eligible = np.arange(len(y)) if target_class is None else np.flatnonzero(y != target_class)
    elif strategy == "targeted":
        if source_class is None or target_class is None or source_class == target_class:
            raise ValueError("strategy='targeted' needs two different labels source_class and "
                             f"target_class; got {source_class!r} and {target_class!r}.")
        eligible = np.flatnonzero(y == source_class)
    else:
        raise ValueError(f"strategy={strategy!r}: expected 'random' or 'targeted'.")
    n_flip = int(round(fraction * (len(y) if strategy == "random" else len(eligible))))
    n_flip = capped_count(n_flip, len(eligible), len(y), who="label_flip", fraction=fraction,
                          target_class=target_class, what="flips")
    idx = np.sort(rng.choice(eligible, size=n_flip, replace=False))
    y_new = y.copy()
    if target_class is not None:
        y_new[idx] = target_class
    else:
        pos = np.searchsorted(classes, y[idx])
        shift = rng.randint(1, len(classes), size=n_flip)
        y_new[idx] = classes[(pos + shift) % len(classes)]
    return LabelFlipResult(X=X, y=y_new, poison_indices=idx, y_original=y)
