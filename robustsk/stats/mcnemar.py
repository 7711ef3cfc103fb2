"""McNemar's test for two defenses evaluated on the same examples."""

from __future__ import annotations

from dataclasses import dataclass
import warnings

import numpy as np
from statsmodels.stats.contingency_tables import mcnemar as _sm_mcnemar

from ._frame import paired_correct
from ._validation import check_backend, check_flag, check_paired, is_tidy_frame

__all__ = ["McNemarResult", "mcnemar"]


@dataclass(frozen=True)
class McNemarResult:
    """Result of :func:`mcnemar`.

    Attributes
    ----------
    statistic : float
        Exact test: ``b`` (the number of successes of ``binom.test(b, b+c)``,
        as in R); 0 when ``b + c == 0``. Asymptotic test: the chi-squared
        statistic ``(|b - c| - 1)**2 / (b + c)`` with the continuity
        correction, ``(b - c)**2 / (b + c)`` without it; NaN when
        ``b + c == 0``.
    pvalue : float
        Two-sided p-value; NaN for the asymptotic test when ``b + c == 0``.
    b : int
        Examples correct under defense a and wrong under defense b.
    c : int
        Examples wrong under defense a and correct under defense b.
    n : int
        Number of examples.
    df : int or None
        Degrees of freedom of the chi-squared reference (1); None for the
        exact test.
    difference : float
        ``(b - c) / n``, the robust accuracy of a minus that of b.
    exact : bool
        Whether the exact binomial test was used.
    correction : bool
        Whether a continuity correction was requested (asymptotic test only).
    method : str
        A description of the test, as R's ``htest$method``.
    """

    statistic: float
    pvalue: float
    b: int
    c: int
    n: int
    df: int | None
    difference: float
    exact: bool
    correction: bool
    method: str


def mcnemar_python(a, b_, exact, correction):
    """McNemar's test of two boolean outcome vectors, in Python (see :func:`mcnemar`)."""
    b = int((a & ~b_).sum())
    c = int((~a & b_).sum())
    n = a.size
    table = np.array([[int((a & b_).sum()), b], [c, int((~a & ~b_).sum())]])
    if exact:
        if b + c == 0:
            statistic, pvalue = 0.0, 1.0  # R's binom.test(0, 0) stops; P(X <= 0 | n=0) = 1
        else:
            # statsmodels' exact p-value is 2 * P(X <= min(b, c)), capped at 1,
            # which equals binom.test's two-sided p-value at p = 1/2.
            pvalue = float(_sm_mcnemar(table, exact=True).pvalue)
            statistic = float(b)
        df = None
        method = "exact McNemar test (binomial test on the discordant pairs)"
    else:
        # R's mcnemar.test skips the continuity correction when b == c
        # (statsmodels would give 1 / (2b) there instead of 0).
        corrected = correction and b != c
        if b + c == 0:
            statistic, pvalue = float("nan"), float("nan")
        else:
            res = _sm_mcnemar(table, exact=False, correction=corrected)
            statistic, pvalue = float(res.statistic), float(res.pvalue)
        df = 1
        method = "McNemar's chi-squared test" + (" with continuity correction" if corrected else "")
    return McNemarResult(
        statistic=statistic, pvalue=pvalue, b=b, c=c, n=n, df=df,
        difference=(b - c) / n, exact=bool(exact), correction=bool(correction), method=method,
    )


def _mcnemar_r(a, b_, exact, correction):
    from ._rbackend import r_call

    res = r_call("mcnemar_test", a, b_, exact=bool(exact), correction=bool(correction))
    return McNemarResult(
        statistic=float(res["statistic"]), pvalue=float(res["pvalue"]), b=int(res["b"]),
        c=int(res["c"]), n=int(res["n"]), df=None if exact else int(res["df"]), difference=float(res["difference"]),
        exact=bool(exact), correction=bool(correction), method=str(res["method"]),
    )


def mcnemar(correct_a, correct_b=None, exact=True, correction=True, *, backend="python"):
    """McNemar's test that two defenses have the same robust accuracy.

    The two outcome vectors are paired: entry ``i`` of each is the same
    example. Only the discordant examples carry information: ``b`` (right
    under a, wrong under b) and ``c`` (wrong under a, right under b).

    Parameters
    ----------
    correct_a : array-like of shape (n_examples,) or DataFrame
        Booleans (or 0/1) for defense a. Or a tidy frame (columns
        ``example_id``, ``eps``, ``attack``, ``correct``, ``defense``) with
        exactly two defenses and one (eps, attack); then ``correct_b`` is
        omitted and the defenses, in sorted order, are paired by example_id.
    correct_b : array-like of shape (n_examples,), optional
        Booleans (or 0/1) for defense b. Two pandas Series are aligned on
        their index; other inputs are paired by position.
    exact : bool, default=True
        Exact two-sided binomial test of ``b`` out of ``b + c`` at 1/2 (R:
        ``binom.test(b, b + c)``), recommended when ``b + c`` is small.
        With no discordant pair R's ``binom.test`` stops; here the p-value
        is 1 (no evidence of a difference).
    correction : bool, default=True
        Continuity correction of the asymptotic test, with R's convention:
        it is not applied when ``b == c`` (R's ``mcnemar.test``; statsmodels
        would return ``1 / (2b)`` there, we return 0). Ignored if ``exact``.
        With ``b + c == 0`` the asymptotic statistic is 0/0: the statistic
        and p-value are NaN, as in R, with a RuntimeWarning.
    backend : {"python", "r"}, default="python"

    Returns
    -------
    McNemarResult

    References
    ----------
    .. [1] McNemar, Q. (1947). Note on the sampling error of the difference
       between correlated proportions or percentages. Psychometrika 12.
    .. [2] Agresti, A. (2013). Categorical Data Analysis, 3rd ed., Wiley,
       Section 11.1.
    .. [3] Dietterich, T. G. (1998). Approximate statistical tests for
       comparing supervised classification learning algorithms. Neural
       Computation 10(7).

    Examples
    --------
    Agresti (2013, Table 11.1), presidential approval in two surveys:

    >>> from robustsk.stats import mcnemar
    >>> first = [1] * 794 + [1] * 150 + [0] * 86 + [0] * 570
    >>> second = [1] * 794 + [0] * 150 + [1] * 86 + [0] * 570
    >>> res = mcnemar(first, second, exact=False, correction=False)
    >>> res.b, res.c, round(res.statistic, 2)
    (150, 86, 17.36)
    """
    backend = check_backend(backend)
    exact, correction = check_flag(exact, "exact"), check_flag(correction, "correction")
    if is_tidy_frame(correct_a):
        if correct_b is not None:
            raise TypeError("pass either a tidy frame alone or two outcome vectors, not both.")
        wide = paired_correct(correct_a, by="defense")
        if wide.shape[1] != 2:
            raise ValueError(
                f"McNemar's test compares exactly two defenses; the frame has "
                f"{wide.shape[1]} ({list(wide.columns)}). Use cochran_q for more."
            )
        correct_a, correct_b = wide.iloc[:, 0], wide.iloc[:, 1]
    elif correct_b is None:
        raise TypeError("mcnemar needs two outcome vectors, correct_a and correct_b (or one tidy frame).")
    a, b_ = check_paired(correct_a, correct_b, names=["correct_a", "correct_b"])
    if backend == "r":
        res = _mcnemar_r(a, b_, exact, correction)
    else:
        res = mcnemar_python(a, b_, exact, correction)
    if not exact and res.b + res.c == 0:
        warnings.warn(
            "no discordant pair (b + c = 0): the McNemar chi-squared statistic is 0/0 "
            "and is returned as NaN, as R's mcnemar.test does; exact=True gives p = 1.",
            RuntimeWarning,
            stacklevel=2,
        )
    return res
