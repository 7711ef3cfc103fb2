"""One-sided exact (Clopper-Pearson) confidence bounds for binomial proportions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ._validation import check_alpha, check_backend, check_choice

__all__ = ["ClopperPearsonBound", "clopper_pearson_bound"]

_SIDES = ("lower", "upper")


@dataclass(frozen=True)
class ClopperPearsonBound:
    """One-sided ``1 - alpha`` Clopper-Pearson bounds, one per (successes, n) pair.

    Attributes
    ----------
    bound : ndarray of float
        The bounds, of the broadcast shape of ``successes`` and ``n``.
    successes, n : ndarray of int
    alpha : float
    side : {"lower", "upper"}
    """

    bound: np.ndarray
    successes: np.ndarray
    n: np.ndarray
    alpha: float
    side: str


def _check_counts(successes, n):
    arrays = []
    for name, v in (("successes", successes), ("n", n)):
        arr = np.asarray(v)
        if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or (
                np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr))
                and np.all(arr == np.round(arr)))):
            raise TypeError(f"{name} must hold whole numbers (counts); got {v!r:.60}.")
        arrays.append(arr.astype(np.int64))
    x, n = np.broadcast_arrays(*arrays)
    if np.any(n < 1) or np.any(x < 0) or np.any(x > n):
        raise ValueError(f"Expected 0 <= successes <= n and n >= 1 for every pair; got "
                         f"successes={x.tolist()!r:.60}, n={n.tolist()!r:.60}.")
    return x, n


def clopper_pearson_bound(successes, n, alpha=0.05, *, side="lower", backend="python"):
    """The exact one-sided ``1 - alpha`` confidence bound of a binomial proportion.

    The lower bound is the ``alpha`` quantile of ``Beta(x, n - x + 1)`` (0 at
    ``x = 0``); the upper bound the ``1 - alpha`` quantile of
    ``Beta(x + 1, n - x)`` (1 at ``x = n``). These are R's
    ``binom.test(x, n, alternative = "greater" / "less", conf.level = 1 - alpha)``
    bounds, and the ``2 * alpha`` two-sided interval's ends of statsmodels'
    ``proportion_confint(method="beta")``. Randomized smoothing uses the
    lower bound on the top class's probability (Cohen et al., 2019).

    Parameters
    ----------
    successes : int or array-like of int
    n : int or array-like of int
        Trials, >= 1, broadcast against ``successes``.
    alpha : float, default=0.05
        Error rate: the bound holds with probability at least ``1 - alpha``.
    side : {"lower", "upper"}, default="lower"
    backend : {"python", "r"}, default="python"
        ``"r"`` computes with the R twin through rpy2.

    Returns
    -------
    ClopperPearsonBound

    References
    ----------
    .. [1] Clopper, C. J. and Pearson, E. S. (1934). The use of confidence or
       fiducial limits illustrated in the case of the binomial. Biometrika 26.
    .. [2] Cohen, J., Rosenfeld, E. and Kolter, J. Z. (2019). Certified
       adversarial robustness via randomized smoothing. ICML.

    Examples
    --------
    >>> from robustsk.stats import clopper_pearson_bound
    >>> round(float(clopper_pearson_bound(100, 100, alpha=0.001).bound), 6)
    0.933254
    """
    backend = check_backend(backend)
    side = check_choice(side, _SIDES, "side")
    alpha = check_alpha(alpha)
    if isinstance(successes, bool) or isinstance(n, bool):
        raise TypeError("successes and n must be counts, not booleans.")
    scalar = np.ndim(successes) == 0 and np.ndim(n) == 0
    x, n = _check_counts(successes, n)
    if backend == "r":
        from ._rbackend import r_call

        res = r_call("clopper_pearson_bound", x.ravel(), n.ravel(), alpha=alpha, side=side)
        bound = np.asarray(res["bound"], dtype=float).reshape(x.shape)
    elif side == "lower":
        with np.errstate(invalid="ignore"):
            bound = np.where(x == 0, 0.0, stats.beta.ppf(alpha, np.maximum(x, 1), n - x + 1))
    else:
        with np.errstate(invalid="ignore"):
            bound = np.where(x == n, 1.0, stats.beta.ppf(1 - alpha, x + 1, np.maximum(n - x, 1)))
    bound = np.asarray(bound, dtype=float)
    return ClopperPearsonBound(bound=bound[()] if scalar else bound, successes=x, n=n,
                               alpha=alpha, side=side)
