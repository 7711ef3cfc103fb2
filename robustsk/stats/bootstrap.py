"""Paired bootstrap of the difference in robust accuracy between two defenses."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._frame import paired_correct
from ._validation import check_alpha, check_backend, check_count, check_paired, is_tidy_frame

__all__ = ["PairedBootstrapResult", "paired_bootstrap", "bootstrap_indices"]

DEFAULT_N_RESAMPLES = 9999


@dataclass(frozen=True)
class PairedBootstrapResult:
    """Result of :func:`paired_bootstrap`.

    Attributes
    ----------
    estimate : float
        Observed robust accuracy of a minus that of b.
    low, high : float
        Percentile interval: the ``alpha/2`` and ``1 - alpha/2`` quantiles
        (linear interpolation, R's type 7) of the resampled differences.
    standard_error : float
        Standard deviation (``ddof=1``, as R's ``sd``) of the resampled
        differences; NaN with a single resample.
    accuracy_a, accuracy_b : float
        Observed robust accuracies.
    n : int
        Number of examples.
    n_resamples : int
        Number of bootstrap resamples.
    alpha : float
        Error rate of the interval.
    method : str
        ``"paired bootstrap, percentile interval"``.
    distribution : ndarray of shape (n_resamples,)
        The resampled differences.
    """

    estimate: float
    low: float
    high: float
    standard_error: float
    accuracy_a: float
    accuracy_b: float
    n: int
    n_resamples: int
    alpha: float
    method: str
    distribution: np.ndarray = field(repr=False, compare=False)


#: the most indices :func:`bootstrap_indices` draws at once (8 GiB of int64)
MAX_INDICES = 2**30


def bootstrap_indices(n, n_resamples=DEFAULT_N_RESAMPLES, random_state=None):
    """Resample indices of shape (n_resamples, n), drawn with replacement.

    Row ``r`` holds the (0-based) examples of resample ``r``. Pass the
    result as ``indices`` to :func:`paired_bootstrap` (or ``indices + 1`` to
    the R twin) to reproduce a run exactly.
    """
    n = check_count(n, "n", "a number of examples")
    n_resamples = check_count(n_resamples, "n_resamples", "a number of bootstrap resamples")
    if n * n_resamples > MAX_INDICES:
        raise ValueError(
            f"n * n_resamples = {n * n_resamples:,} indices would take "
            f"{8 * n * n_resamples / 2**30:,.1f} GiB: expected at most {MAX_INDICES:,}. Pass "
            "fewer resamples, or draw them in chunks with different random_state values.")
    try:
        rng = np.random.default_rng(random_state)
    except (TypeError, ValueError) as err:
        raise TypeError(f"random_state must be None, a non-negative int or a numpy Generator; "
                        f"got {random_state!r} (type {type(random_state).__name__}): {err}. "
                        "Pass e.g. random_state=0 to make the resamples reproducible.") from err
    return rng.integers(0, n, size=(n_resamples, n))


def _check_indices(indices, n, n_resamples):
    arr = np.asarray(indices)
    if arr.ndim != 2 or arr.shape[1] != n or arr.shape[0] < 1:
        raise ValueError(
            f"indices must have shape (n_resamples, n_examples) = (?, {n}); got shape "
            f"{arr.shape}. Row r lists the 0-based examples drawn in resample r."
        )
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind != "f" or not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise TypeError(f"indices must be integers; got dtype {arr.dtype}.")
        arr = arr.astype(np.int64)
    if arr.min() < 0 or arr.max() >= n:
        raise ValueError(
            f"indices must lie in [0, {n - 1}] (0-based example positions); got values in "
            f"[{arr.min()}, {arr.max()}]. Subtract 1 from R's 1-based indices."
        )
    if n_resamples is not None and n_resamples != arr.shape[0]:
        raise ValueError(
            f"n_resamples={n_resamples} disagrees with indices, which hold {arr.shape[0]} "
            f"resamples; pass only one of them."
        )
    return arr


def paired_bootstrap(correct_a, correct_b=None, n_resamples=None, random_state=None, alpha=0.05,
                     indices=None, *, backend="python"):
    """Paired bootstrap interval for the difference in robust accuracy.

    Examples (pairs of outcomes) are resampled with replacement, so the
    correlation between the two defenses on the same example is kept.

    Parameters
    ----------
    correct_a : array-like of shape (n_examples,) or DataFrame
        Booleans (or 0/1) for defense a, or a tidy frame with exactly two
        defenses (sorted order; then ``correct_b`` is omitted).
    correct_b : array-like of shape (n_examples,), optional
        Booleans (or 0/1) for defense b, paired with ``correct_a``.
    n_resamples : int, default=9999
        Number of resamples (when ``indices`` is not given).
    random_state : int, numpy Generator or None, default=None
        Seed of ``numpy.random.default_rng`` that draws the indices.
    alpha : float, default=0.05
        Error rate of the percentile interval.
    indices : array-like of int of shape (n_resamples, n_examples), optional
        Explicit 0-based resample indices (row ``r`` is resample ``r``),
        e.g. from :func:`bootstrap_indices`, so that Python and R can be
        given the same resamples.
    backend : {"python", "r"}, default="python"
        With ``"r"`` the indices are still drawn here (from
        ``random_state``) and handed to R, so both backends agree exactly
        for the same ``random_state``.

    Returns
    -------
    PairedBootstrapResult

    References
    ----------
    .. [1] Efron, B. and Tibshirani, R. J. (1993). An Introduction to the
       Bootstrap. Chapman & Hall, Chapter 13 (percentile intervals).

    Examples
    --------
    >>> from robustsk.stats import paired_bootstrap
    >>> a = [1, 1, 1, 0, 1, 1, 0, 1]
    >>> b = [1, 0, 1, 0, 0, 1, 0, 0]
    >>> res = paired_bootstrap(a, b, n_resamples=2000, random_state=0)
    >>> res.estimate
    0.375
    >>> bool(res.low <= res.estimate <= res.high)
    True
    """
    backend = check_backend(backend)
    alpha = check_alpha(alpha)
    if is_tidy_frame(correct_a):
        if correct_b is not None:
            raise TypeError("pass either a tidy frame alone or two outcome vectors, not both.")
        wide = paired_correct(correct_a, by="defense")
        if wide.shape[1] != 2:
            raise ValueError(f"the paired bootstrap compares two defenses; the frame has {list(wide.columns)}.")
        correct_a, correct_b = wide.iloc[:, 0], wide.iloc[:, 1]
    elif correct_b is None:
        raise TypeError("paired_bootstrap needs correct_a and correct_b (or one tidy frame).")
    a, b = check_paired(correct_a, correct_b, names=["correct_a", "correct_b"])
    n = a.size
    if n_resamples is not None:
        n_resamples = check_count(n_resamples, "n_resamples", "a number of bootstrap resamples")
    if indices is None:
        indices = bootstrap_indices(n, n_resamples or DEFAULT_N_RESAMPLES, random_state)
    else:
        indices = _check_indices(indices, n, n_resamples)
    d = a.astype(float) - b.astype(float)
    if backend == "r":
        from ._rbackend import r_call

        res = r_call("paired_bootstrap", a, b, alpha=alpha, indices=indices + 1)
        diffs = np.atleast_1d(np.asarray(res["distribution"], dtype=float))
        low, high = float(res["low"]), float(res["high"])
        se = float(res["standard_error"])
    else:
        diffs = d[indices].mean(axis=1)
        low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2], method="linear")
        se = float(np.std(diffs, ddof=1)) if diffs.size > 1 else float("nan")
    return PairedBootstrapResult(
        estimate=float(d.mean()), low=float(low), high=float(high), standard_error=se,
        accuracy_a=float(a.mean()), accuracy_b=float(b.mean()), n=n, n_resamples=indices.shape[0],
        alpha=alpha, method="paired bootstrap, percentile interval", distribution=diffs,
    )
