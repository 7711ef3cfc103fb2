"""Paired test-set comparison of several defenses: Cochran's Q, McNemar with Holm, intervals."""

from __future__ import annotations

from dataclasses import dataclass, field
import itertools

import numpy as np
import pandas as pd

from ._validation import check_alpha, check_backend, check_choice, check_flag, check_paired
from .bootstrap import paired_bootstrap
from .cochran import P_ADJUST_METHODS, CochranQResult, cochran_q
from .interval import interval_from_counts

__all__ = ["DefenseComparison", "compare_defenses", "compare_paired", "newcombe_paired_interval"]

_INTERVALS = ("newcombe", "bootstrap")

TABLE_COLUMNS = ("defense_a", "defense_b", "accuracy_a", "accuracy_b", "difference", "low", "high", "b", "c",
                 "pvalue", "pvalue_adjusted", "reject")


@dataclass(frozen=True)
class DefenseComparison:
    """Result of :func:`compare_defenses` / :func:`compare_paired`.

    Attributes
    ----------
    table : DataFrame
        The tidy frame: one row per pair of defenses (input order) with
        ``defense_a``, ``defense_b``, ``accuracy_a``, ``accuracy_b``,
        ``difference`` (a - b), ``low``, ``high`` (its ``1 - alpha``
        interval), ``b``, ``c`` (discordant counts: only a survives, only b
        survives), ``pvalue`` (McNemar), ``pvalue_adjusted``, ``reject``.
    accuracy : DataFrame
        One row per defense: ``defense``, ``accuracy``, ``low``, ``high``
        (Wilson), ``n``.
    cochran : CochranQResult
        Cochran's Q across all defenses (its ``pairwise`` is the McNemar part
        of ``table``).
    correct : DataFrame of shape (n_examples, n_defenses)
        Per-example correctness under the attack.
    interval : str
        ``"newcombe"`` or ``"bootstrap"``.
    alpha : float
    p_adjust : str
    """

    table: pd.DataFrame = field(compare=False)
    accuracy: pd.DataFrame = field(compare=False)
    cochran: CochranQResult = field(compare=False)
    correct: pd.DataFrame = field(compare=False, repr=False)
    interval: str
    alpha: float
    p_adjust: str


def newcombe_paired_interval(correct_a, correct_b, alpha=0.05):
    """Newcombe's (1998) interval for the difference of two paired proportions.

    Method 10 of Newcombe (1998): the square-and-add combination of the two
    Wilson score intervals, with Newcombe's continuity-corrected phi
    correlation of the 2x2 table: with ``A = n11 n00 - n10 n01``, phi is
    ``(A - n/2) / sqrt(margins)`` when ``A > n/2``, 0 when ``0 <= A <= n/2``,
    ``A / sqrt(margins)`` when ``A < 0``, and 0 when a margin is empty (as
    Fagerland, Lydersen & Laake's ``Newcombe_square_and_add_CI_paired_2x2``
    and Altman et al.'s *Statistics with Confidence*, p. 52).
    Hand-written because neither statsmodels nor scipy has it; the R twin
    (``paired_comparison``) uses the same formula.

    Parameters
    ----------
    correct_a, correct_b : array-like of bool of shape (n_examples,)
    alpha : float, default=0.05

    Returns
    -------
    (estimate, low, high) : tuple of float

    References
    ----------
    .. [1] Newcombe, R. G. (1998). Improved confidence intervals for the
       difference between binomial proportions based on paired data.
       Statistics in Medicine 17, 2635-2650.
    .. [2] Fagerland, M. W., Lydersen, S. & Laake, P. (2017). Statistical
       Analysis of Contingency Tables, chapter 8. CRC Press.

    Examples
    --------
    >>> from robustsk.stats import newcombe_paired_interval
    >>> a = [1] * 30 + [1] * 10 + [0] * 3 + [0] * 7
    >>> b = [1] * 30 + [0] * 10 + [1] * 3 + [0] * 7
    >>> [round(v, 4) for v in newcombe_paired_interval(a, b)]
    [0.14, -0.0032, 0.2775]
    """
    from ._validation import check_paired

    a, b_ = check_paired(correct_a, correct_b, names=["correct_a", "correct_b"])
    n11, n10 = int((a & b_).sum()), int((a & ~b_).sum())
    n01, n00 = int((~a & b_).sum()), int((~a & ~b_).sum())
    return _newcombe_counts(n11, n10, n01, n00, check_alpha(alpha))


def _newcombe_counts(n11, n10, n01, n00, alpha):
    n = n11 + n10 + n01 + n00
    p1, p2 = (n11 + n10) / n, (n11 + n01) / n
    w1 = interval_from_counts(n11 + n10, n, "wilson", alpha)
    w2 = interval_from_counts(n11 + n01, n, "wilson", alpha)
    denom = (n11 + n10) * (n01 + n00) * (n11 + n01) * (n10 + n00)
    # Newcombe's continuity-corrected phi: A - n/2 above n/2, 0 on [0, n/2], A below 0
    A = n11 * n00 - n10 * n01
    A = A - n / 2 if A > n / 2 else (0 if A >= 0 else A)
    phi = A / np.sqrt(float(denom)) if denom > 0 else 0.0
    d1l, d1u = p1 - w1.low, w1.high - p1
    d2l, d2u = p2 - w2.low, w2.high - p2
    low = p1 - p2 - np.sqrt(max(d1l**2 - 2 * phi * d1l * d2u + d2u**2, 0.0))
    high = p1 - p2 + np.sqrt(max(d1u**2 - 2 * phi * d1u * d2l + d2l**2, 0.0))
    return float(p1 - p2), float(low), float(high)


def compare_paired(correct, names=None, *, interval="newcombe", p_adjust="holm", alpha=0.05, exact=True,
                   n_resamples=2000, random_state=0, backend="python"):
    """Compare defenses scored on the same test examples: Q, McNemar with Holm, intervals.

    Parameters
    ----------
    correct : DataFrame or array-like of shape (n_examples, n_defenses), or dict
        Per-example correctness under attack, one column per defense, the
        same examples in the same order (a dict ``{name: vector}`` works
        too; a dict of pandas Series is paired on their index, as a DataFrame
        is). A tidy frame (``example_id``, ``eps``, ``attack``, ``correct``,
        ``defense``) with one (eps, attack) is paired by ``example_id``.
    names : list of str, optional
        Defense names; default the column names / dict keys.
    interval : {"newcombe", "bootstrap"}, default="newcombe"
        Interval for each difference in robust accuracy: Newcombe's (1998)
        paired square-and-add interval, or the paired bootstrap percentile
        interval (:func:`paired_bootstrap`, ``n_resamples``,
        ``random_state``).
    p_adjust : str, default="holm"
        Adjustment of the pairwise McNemar p-values (R's ``p.adjust`` names).
    alpha : float, default=0.05
    exact : bool, default=True
        Exact (binomial) McNemar tests.
    n_resamples, random_state :
        For ``interval="bootstrap"``.
    backend : {"python", "r"}, default="python"

    Returns
    -------
    DefenseComparison

    References
    ----------
    .. [1] Cochran, W. G. (1950). The comparison of percentages in matched
       samples. Biometrika 37, 256-266.
    .. [2] Newcombe, R. G. (1998). Improved confidence intervals for the
       difference between binomial proportions based on paired data.
       Statistics in Medicine 17, 2635-2650.
    .. [3] Holm, S. (1979). Scand. J. Statist. 6, 65-70.

    Examples
    --------
    >>> from robustsk.stats import compare_paired
    >>> res = compare_paired({"madry": [1, 1, 1, 0, 1, 1, 0, 1], "trades": [1, 1, 0, 0, 1, 1, 0, 1],
    ...                       "none": [0, 0, 0, 0, 1, 0, 0, 0]})
    >>> row = res.table.iloc[1]
    >>> row["defense_a"], row["defense_b"], float(row["difference"])
    ('madry', 'none', 0.625)
    """
    backend = check_backend(backend)
    alpha = check_alpha(alpha)
    interval = check_choice(interval, _INTERVALS, "interval")
    check_choice(p_adjust, tuple(P_ADJUST_METHODS), "p_adjust")
    exact = check_flag(exact, "exact")
    if isinstance(correct, dict) and len(correct) > 1 \
            and all(isinstance(v, pd.Series) for v in correct.values()):
        # Series are paired on their index, as mcnemar, cochran_q and a DataFrame pair them
        keys = [str(k) for k in correct]
        correct = pd.DataFrame(dict(zip(keys, check_paired(*correct.values(), names=keys))))
    elif isinstance(correct, dict):
        lengths = {k: len(v) for k, v in correct.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"paired outcome vectors must have the same length (the same test examples "
                             f"under each defense); got lengths {lengths}. Score every defense on the "
                             f"same X, y.")
        correct = pd.DataFrame({str(k): np.asarray(v) for k, v in correct.items()})
    q = cochran_q(correct, names=names, p_adjust=p_adjust, exact=exact, alpha=alpha, backend=backend)
    wide = _as_wide(correct, q)
    rows = []
    for (i, j), pw in zip(itertools.combinations(range(q.k), 2), q.pairwise.itertuples()):
        a, b_ = wide.iloc[:, i].to_numpy(), wide.iloc[:, j].to_numpy()
        if interval == "newcombe":
            if backend == "r":
                from ._rbackend import r_call

                r = r_call("newcombe_paired_interval", a, b_, alpha=alpha)
                est, low, high = float(r["estimate"]), float(r["low"]), float(r["high"])
            else:
                est, low, high = newcombe_paired_interval(a, b_, alpha)
        else:
            boot = paired_bootstrap(a, b_, n_resamples=n_resamples, random_state=random_state, alpha=alpha,
                                    backend=backend)
            est, low, high = boot.estimate, boot.low, boot.high
        rows.append((pw.group_a, pw.group_b, a.mean(), b_.mean(), est, low, high, pw.b, pw.c, pw.pvalue,
                     pw.pvalue_adjusted, pw.reject))
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    acc = [interval_from_counts(int(wide[c].sum()), len(wide), "wilson", alpha) for c in wide.columns]
    accuracy = pd.DataFrame({"defense": list(wide.columns), "accuracy": [r.estimate for r in acc],
                             "low": [r.low for r in acc], "high": [r.high for r in acc], "n": len(wide)})
    return DefenseComparison(table=table, accuracy=accuracy, cochran=q, correct=wide, interval=interval,
                             alpha=alpha, p_adjust=p_adjust)


def _as_wide(correct, q):
    """The validated outcome matrix as a boolean DataFrame named like ``q.pairwise``."""
    from ._frame import paired_correct
    from ._validation import check_paired, is_tidy_frame

    if is_tidy_frame(correct):
        wide = paired_correct(correct, by="defense")
    elif isinstance(correct, pd.DataFrame):
        wide = correct
    else:
        mat = np.asarray(correct, dtype=object)
        wide = pd.DataFrame({j: mat[:, j] for j in range(mat.shape[1])})
    names = list(dict.fromkeys(list(q.pairwise["group_a"]) + list(q.pairwise["group_b"])))
    arrays = check_paired(*[wide.iloc[:, j] for j in range(wide.shape[1])], names=names)
    return pd.DataFrame(dict(zip(names, arrays)))


def compare_defenses(estimators, X, y, attack, *, interval="newcombe", p_adjust="holm", alpha=0.05,
                     exact=True, n_resamples=2000, random_state=0, backend="python"):
    """Attack several fitted defenses on one test set and compare them, paired by example.

    Each estimator is attacked with ``attack`` on ``(X, y)``; an example is
    correct for a defense when it is classified correctly both without and
    under the attack (robustsk's robust accuracy). The per-example outcomes
    then go to :func:`compare_paired`: Cochran's Q across all defenses,
    exact McNemar for every pair with Holm's adjustment, and an interval for
    every difference in robust accuracy, in one tidy frame.

    Parameters
    ----------
    estimators : dict of str to fitted estimator
        At least two fitted classifiers (robustsk defenses or pipelines).
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
    attack : Attack
        A robustsk attack (anything with ``generate(estimator, X, y)``).
    interval, p_adjust, alpha, exact, n_resamples, random_state, backend :
        See :func:`compare_paired`.

    Returns
    -------
    DefenseComparison

    References
    ----------
    .. [1] Dietterich, T. G. (1998). Approximate statistical tests for
       comparing supervised classification learning algorithms. Neural
       Computation 10(7).
    .. [2] Newcombe, R. G. (1998). Statistics in Medicine 17, 2635-2650.

    Examples
    --------
    Two logistic regressions (any classifier with ``predict`` works with a
    gradient-free attack such as Square; robustsk defenses with any attack):

    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from robustsk.attacks import Square
    >>> from robustsk.stats import compare_defenses
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> fits = {f"C={c}": LogisticRegression(C=c, max_iter=500).fit(X[:300], y[:300]) for c in (0.05, 1.0)}
    >>> attack = Square(eps=0.2, n_iter=20, random_state=0, clip_min=0.0, clip_max=1.0)
    >>> res = compare_defenses(fits, X[300:400], y[300:400], attack)
    >>> res.table[["defense_a", "defense_b"]].iloc[0].tolist()
    ['C=0.05', 'C=1.0']
    >>> row = res.table.iloc[0]
    >>> bool(row["low"] <= row["difference"] <= row["high"])
    True
    """
    if not isinstance(estimators, dict) or len(estimators) < 2:
        raise ValueError(
            "estimators must be a dict {name: fitted estimator} with two or more defenses; got "
            f"{type(estimators).__name__} of length {len(estimators) if hasattr(estimators, '__len__') else '?'}."
        )
    if not hasattr(attack, "generate"):
        raise TypeError(f"attack must be a robustsk Attack (e.g. PGD(eps=0.1)); got {type(attack).__name__}.")
    y = np.asarray(y).ravel()
    if len(X) != len(y):
        raise ValueError(f"X and y must hold the same examples; got {len(X)} and {len(y)} rows.")
    correct = {}
    for name, est in estimators.items():
        clean = est.predict(X) == y
        adv = est.predict(attack.generate(est, X, y)) == y
        correct[str(name)] = clean & adv
    return compare_paired(correct, interval=interval, p_adjust=p_adjust, alpha=alpha, exact=exact,
                          n_resamples=n_resamples, random_state=random_state, backend=backend)
