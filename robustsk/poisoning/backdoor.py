"""BadNets: a backdoor trigger stamped on part of the training set (Gu et al., 2017).

A small patch (the trigger) is stamped on a fraction of the training images,
which are relabelled to a target class. A network trained on this set learns
the task and the shortcut "trigger means target": at test time, stamping the
trigger on any image sends it to the target class.
"""
from dataclasses import dataclass
import numbers

import numpy as np
from sklearn.utils import check_random_state

from ._checks import capped_count, check_fraction, check_training_set

__all__ = ["Trigger", "BackdoorResult", "badnets"]

_POSITIONS = ("bottom-right", "bottom-left", "top-right", "top-left")


@dataclass(frozen=True)
class Trigger:
    """A trigger: ``x -> x * (1 - mask) + pattern * mask``.

    Attributes
    ----------
    mask : ndarray of one example's shape
        1 where the trigger replaces the input, 0 elsewhere (values in [0, 1]
        blend).
    pattern : ndarray of one example's shape
        The trigger's values.
    """

    mask: np.ndarray
    pattern: np.ndarray

    def __post_init__(self):
        mask = np.asarray(self.mask)
        pattern = np.asarray(self.pattern)
        for name, v in (("mask", mask), ("pattern", pattern)):
            if v.dtype.kind not in "biuf" or not np.all(np.isfinite(v)):
                raise ValueError(f"Trigger {name} must hold finite numbers; got dtype "
                                 f"{v.dtype}.")
        if mask.size and (mask.min() < 0 or mask.max() > 1):
            raise ValueError(f"Trigger mask holds values in [{mask.min()}, {mask.max()}]: "
                             "expected values in [0, 1] (1 replaces the input by the pattern, "
                             "between 0 and 1 blends).")
        try:
            pattern = np.broadcast_to(pattern, mask.shape)
        except ValueError:
            raise ValueError(f"Trigger pattern of shape {pattern.shape} does not match its "
                             f"mask of shape {mask.shape}: give both one example's shape "
                             "(or a scalar pattern).") from None
        object.__setattr__(self, "mask", mask)
        object.__setattr__(self, "pattern", pattern)

    def apply(self, X):
        """Stamp the trigger on every example of ``X`` (a new array; ``X`` is unchanged).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...) matching the trigger's shape

        Returns
        -------
        X_triggered : ndarray with the shape and dtype of ``X``
        """
        X = np.asarray(X)
        if X.shape[1:] != self.mask.shape:
            raise ValueError(f"X has examples of shape {X.shape[1:]}, but the trigger has "
                             f"shape {self.mask.shape}.")
        out = X * (1 - self.mask) + self.pattern * self.mask
        return out.astype(X.dtype, copy=False)

    @classmethod
    def square(cls, shape, *, size=None, value=1.0, position="bottom-right"):
        """A square patch of constant ``value`` in a corner of images of ``shape``.

        Parameters
        ----------
        shape : tuple of int
            One example's shape, ``(C, H, W)`` or ``(H, W)``.
        size : int, default=None
            Side in pixels; None: ``max(2, round(min(H, W) / 8))`` (2 for 8x8
            digits, 4 for 28x28; BadNets used 3 or 4 pixels on MNIST).
        value : float, default=1.0
            The patch's value (white for images in [0, 1]).
        position : {"bottom-right", "bottom-left", "top-right", "top-left"}
        """
        shape = tuple(shape)
        if len(shape) not in (2, 3):
            raise ValueError(f"Trigger.square needs image examples of shape (C, H, W) or "
                             f"(H, W); got {shape}. Build a Trigger(mask, pattern) instead.")
        if position not in _POSITIONS:
            raise ValueError(f"position={position!r}: expected one of {_POSITIONS}.")
        h, w = shape[-2:]
        if size is not None and (isinstance(size, bool) or not isinstance(size, numbers.Integral)):
            raise ValueError(f"size={size!r}: expected a whole number of pixels.")
        size = max(2, int(round(min(h, w) / 8))) if size is None else int(size)
        if not 1 <= size <= min(h, w):
            raise ValueError(f"size={size}: expected 1 <= size <= {min(h, w)}.")
        mask = np.zeros(shape, dtype=np.float32)
        rows = slice(h - size, h) if position.startswith("bottom") else slice(0, size)
        cols = slice(w - size, w) if position.endswith("right") else slice(0, size)
        mask[..., rows, cols] = 1.0
        return cls(mask=mask, pattern=np.full(shape, value, dtype=np.float32))


@dataclass(frozen=True)
class BackdoorResult:
    """A training set with a backdoor.

    Attributes
    ----------
    X, y : ndarray
        The poisoned training set (triggered rows relabelled to the target).
    poison_indices : ndarray of int
        The triggered rows.
    trigger : Trigger
        Apply it to test images with ``trigger.apply(X_test)``.
    target_class : label
    X_original, y_original : ndarray
        The clean values of the triggered rows.
    """

    X: np.ndarray
    y: np.ndarray
    poison_indices: np.ndarray
    trigger: Trigger
    target_class: object
    X_original: np.ndarray
    y_original: np.ndarray

    def clean_set(self):
        """The clean training set ``(X, y)``."""
        X, y = self.X.copy(), self.y.copy()
        X[self.poison_indices], y[self.poison_indices] = self.X_original, self.y_original
        return X, y


def badnets(X, y, *, target_class, fraction=0.1, trigger=None, random_state=None):
    """Stamp a trigger on a fraction of the training images and relabel them.

    Parameters
    ----------
    X : array-like of shape (n_samples, C, H, W) or (n_samples, H, W)
        Training images (any example shape with an explicit ``trigger``).
    y : array-like of shape (n_samples,)
    target_class : label
        The class triggered inputs should be sent to.
    fraction : float in [0, 1], default=0.1
        Fraction of the whole training set to poison, drawn from the examples
        not already of ``target_class``.
    trigger : Trigger, default=None
        None: :meth:`Trigger.square` of value ``X.max()`` in the bottom-right
        corner.
    random_state : int, RandomState or None, default=None

    Returns
    -------
    result : BackdoorResult

    References
    ----------
    .. [1] Gu, T., Dolan-Gavitt, B. and Garg, S. "BadNets: Identifying
       Vulnerabilities in the Machine Learning Model Supply Chain." arXiv
       1708.06733, 2017.

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> X, y = load_digits_images(return_X_y=True)
    >>> res = badnets(X, y, target_class=0, fraction=0.1, random_state=0)
    >>> len(res.poison_indices), bool((res.y[res.poison_indices] == 0).all())
    (180, True)
    """
    X, y = check_training_set(X, y)
    fraction = check_fraction(fraction)
    if target_class not in np.unique(y):
        raise ValueError(f"target_class={target_class!r} is not a label of y.")
    if trigger is None:
        trigger = Trigger.square(X.shape[1:], value=float(X.max()))
    rng = check_random_state(random_state)
    eligible = np.flatnonzero(y != target_class)
    n_poison = capped_count(int(round(fraction * len(y))), len(eligible), len(y), who="badnets",
                            fraction=fraction, target_class=target_class, what="poisons")
    idx = np.sort(rng.choice(eligible, size=n_poison, replace=False))
    X_new, y_new = X.copy(), y.copy()
    X_new[idx] = trigger.apply(X[idx])
    y_new[idx] = target_class
    return BackdoorResult(X=X_new, y=y_new, poison_indices=idx, trigger=trigger,
                          target_class=target_class, X_original=X[idx], y_original=y[idx])
