"""Confidence intervals for a robust accuracy (a binomial proportion)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from ._frame import single_cell_correct
from ._validation import (
    check_alpha,
    check_backend,
    check_choice,
    check_correct,
    is_tidy_frame,
)

__all__ = ["AccuracyInterval", "accuracy_interval", "INTERVAL_METHODS"]

#: Interval methods accepted by :func:`accuracy_interval`.
INTERVAL_METHODS = ("wilson", "clopper-pearson", "agresti-coull")

_STATSMODELS_NAMES = {"wilson": "wilson", "clopper-pearson": "beta", "agresti-coull": "agresti_coull"}


@dataclass(frozen=True)
class AccuracyInterval:
    """A robust accuracy with its confidence interval.

    Attributes
    ----------
    estimate : float
        ``successes / n``, the observed accuracy (also for Agresti-Coull,
        whose interval is centred elsewhere).
    low, high : float
        Bounds of the two-sided ``1 - alpha`` interval, within [0, 1].
    n : int
        Number of examples.
    successes : int
        Number of examples correct under attack.
    method : str
        ``"wilson"``, ``"clopper-pearson"`` or ``"agresti-coull"``.
    alpha : float
        Error rate of the interval.
    """

    estimate: float
    low: float
    high: float
    n: int
    successes: int
    method: str
    alpha: float


def interval_from_counts(successes, n, method="wilson", alpha=0.05):
    """The interval of :func:`accuracy_interval` from counts (Python backend)."""
    x, n = int(successes), int(n)
    if method == "agresti-coull":
        # Agresti & Coull (1998), truncated to [0, 1] (as statsmodels does).
        z = stats.norm.isf(alpha / 2)
        n_t = n + z**2
        p_t = (x + z**2 / 2) / n_t
        half = z * np.sqrt(p_t * (1 - p_t) / n_t)
        low, high = max(0.0, p_t - half), min(1.0, p_t + half)
    else:
        low, high = proportion_confint(x, n, alpha=alpha, method=_STATSMODELS_NAMES[method])
        low, high = float(low), float(high)
        # R's prop.test and binom.test return exactly 0 at x = 0 and 1 at x = n
        # (statsmodels' Wilson leaves rounding residue such as -1e-17 there).
        if x == 0:
            low = 0.0
        if x == n:
            high = 1.0
    return AccuracyInterval(
        estimate=x / n, low=float(low), high=float(high), n=n, successes=x, method=method, alpha=alpha
    )


def accuracy_interval(correct, method="wilson", alpha=0.05, *, backend="python"):
    """Confidence interval for the robust accuracy of one defense.

    Parameters
    ----------
    correct : array-like of shape (n_examples,) or DataFrame
        Per-example booleans (or 0/1): correct under attack. A tidy frame
        (columns ``example_id``, ``eps``, ``attack``, ``correct``, optional
        ``defense``) is accepted if it holds a single (eps, attack, defense).
    method : {"wilson", "clopper-pearson", "agresti-coull"}, default="wilson"
        ``"wilson"``: score interval without continuity correction, as R's
        ``prop.test(x, n, correct=FALSE)``. ``"clopper-pearson"``: exact
        interval from beta quantiles, as R's ``binom.test``; its bound is
        exactly 0 at 0 successes and 1 at ``n`` (only ``alpha/2`` is used
        in the other tail, as in R). ``"agresti-coull"``: add ``z**2/2``
        successes and failures, then the Wald interval, truncated to [0, 1]
        (base R has no such function; the R twin implements the formula).
    alpha : float, default=0.05
        Error rate; the interval has level ``1 - alpha``.
    backend : {"python", "r"}, default="python"
        ``"r"`` computes with the R twin through rpy2.

    Returns
    -------
    AccuracyInterval

    References
    ----------
    .. [1] Wilson, E. B. (1927). Probable inference, the law of succession,
       and statistical inference. JASA 22, 209-212.
    .. [2] Clopper, C. J. and Pearson, E. S. (1934). The use of confidence or
       fiducial limits illustrated in the case of the binomial. Biometrika 26.
    .. [3] Agresti, A. and Coull, B. A. (1998). Approximate is better than
       "exact" for interval estimation of binomial proportions. Am. Stat. 52.
    .. [4] Newcombe, R. G. (1998). Two-sided confidence intervals for the
       single proportion: comparison of seven methods. Stat. Med. 17, 857-872.

    Examples
    --------
    >>> from robustsk.stats import accuracy_interval
    >>> res = accuracy_interval([True] * 81 + [False] * 182, method="wilson")
    >>> round(res.low, 4), round(res.high, 4)
    (0.2553, 0.3662)
    """
    backend = check_backend(backend)
    method = check_choice(method, INTERVAL_METHODS, "method")
    alpha = check_alpha(alpha)
    if is_tidy_frame(correct):
        correct = single_cell_correct(correct)
    correct = check_correct(correct, "correct")
    if backend == "r":
        from ._rbackend import r_call

        res = r_call("accuracy_interval", correct, method=method, alpha=alpha)
        return AccuracyInterval(
            estimate=float(res["estimate"]), low=float(res["low"]), high=float(res["high"]),
            n=int(res["n"]), successes=int(res["successes"]), method=method, alpha=alpha,
        )
    return interval_from_counts(int(correct.sum()), correct.size, method, alpha)
