"""Cochran's Q test across k defenses, with pairwise McNemar follow-ups."""

from __future__ import annotations

from dataclasses import dataclass, field
import itertools
import warnings

import numpy as np
import pandas as pd
from statsmodels.stats.contingency_tables import cochrans_q as _sm_cochrans_q
from statsmodels.stats.multitest import multipletests

from ._frame import paired_correct
from ._validation import (
    check_alpha,
    check_backend,
    check_choice,
    check_flag,
    check_paired,
    is_tidy_frame,
)
from .mcnemar import mcnemar_python

__all__ = ["CochranQResult", "cochran_q", "P_ADJUST_METHODS", "adjust_pvalues"]

#: Multiple-comparison corrections, by their name in R's ``p.adjust``, with
#: the ``statsmodels.stats.multitest.multipletests`` method used for each.
P_ADJUST_METHODS = {
    "holm": "holm",
    "bonferroni": "bonferroni",
    "hochberg": "simes-hochberg",
    "hommel": "hommel",
    "BH": "fdr_bh",
    "BY": "fdr_by",
    "none": None,
}

PAIRWISE_COLUMNS = ("group_a", "group_b", "b", "c", "statistic", "pvalue", "pvalue_adjusted", "reject")


@dataclass(frozen=True)
class CochranQResult:
    """Result of :func:`cochran_q`.

    Attributes
    ----------
    statistic : float
        Cochran's Q; NaN when every example has the same outcome under every
        defense (the statistic is 0/0 there, as in R).
    pvalue : float
        Upper tail of the chi-squared distribution with ``k - 1`` degrees of
        freedom; NaN with the statistic.
    df : int
        ``k - 1``.
    k : int
        Number of defenses compared.
    n : int
        Number of examples.
    p_adjust : str
        Multiple-comparison correction of the pairwise p-values.
    method : str
        ``"Cochran's Q test"``.
    pairwise : DataFrame
        One row per pair of defenses (in input order) with columns
        ``group_a``, ``group_b``, ``b``, ``c`` (discordant counts, see
        :class:`McNemarResult`), ``statistic``, ``pvalue`` (McNemar),
        ``pvalue_adjusted`` and ``reject`` (``pvalue_adjusted <= alpha``).
    """

    statistic: float
    pvalue: float
    df: int
    k: int
    n: int
    p_adjust: str
    method: str
    pairwise: pd.DataFrame = field(compare=False)


def adjust_pvalues(pvalues, method):
    """Adjust p-values like R's ``p.adjust``: NaN entries are left out."""
    pvalues = np.asarray(pvalues, dtype=float)
    out = np.full_like(pvalues, np.nan)
    keep = ~np.isnan(pvalues)
    if not keep.any():
        return out
    sm_method = P_ADJUST_METHODS[method]
    if sm_method is None:
        out[keep] = pvalues[keep]
    elif method == "holm":
        # Written out (R's p.adjust formula) because statsmodels' Holm branch calls
        # gc.collect() on every call: ~0.3 s in a process that holds torch.
        p = pvalues[keep]
        order = np.argsort(p, kind="stable")
        adjusted = np.minimum(np.maximum.accumulate((p.size - np.arange(p.size)) * p[order]), 1.0)
        out_keep = np.empty_like(p)
        out_keep[order] = adjusted
        out[keep] = out_keep
    else:
        out[keep] = multipletests(pvalues[keep], method=sm_method)[1]
    return out


def _ndim(value):
    try:
        return np.ndim(value)
    except ValueError:  # ragged nested lists
        lengths = [len(v) if hasattr(v, "__len__") else 1 for v in value]
        raise ValueError(f"the outcome vectors have different lengths {lengths}: expected one "
                         "entry per example in each (paired by position).") from None


def _groups_from_input(corrects, names):
    if len(corrects) == 1 and is_tidy_frame(corrects[0]):
        wide = paired_correct(corrects[0], by="defense")
        return [wide[c] for c in wide.columns], list(wide.columns) if names is None else names
    if len(corrects) == 1 and isinstance(corrects[0], pd.DataFrame):
        wide = corrects[0]
        return [wide[c] for c in wide.columns], [str(c) for c in wide.columns] if names is None else names
    if len(corrects) == 1 and _ndim(corrects[0]) == 2:
        mat = np.asarray(corrects[0], dtype=object)
        return [mat[:, j] for j in range(mat.shape[1])], names
    return list(corrects), names


def cochran_q(*corrects, names=None, p_adjust="holm", exact=True, correction=True, alpha=0.05,
              backend="python"):
    """Cochran's Q test that k defenses have the same robust accuracy.

    Parameters
    ----------
    *corrects : array-like of shape (n_examples,), or one 2-d input
        One vector of booleans (or 0/1) per defense, paired by position
        (pandas Series are aligned on their index). Or a single array /
        DataFrame of shape (n_examples, k) with one column per defense, or a
        tidy frame (``example_id``, ``eps``, ``attack``, ``correct``,
        ``defense``) with one (eps, attack), paired by ``example_id``.
    names : list of str, optional
        Names of the defenses, used in ``pairwise``. Default: the column
        names, else ``group_0``, ``group_1``, ...
    p_adjust : {"holm", "bonferroni", "hochberg", "hommel", "BH", "BY", "none"}, default="holm"
        Correction of the pairwise McNemar p-values (R's ``p.adjust`` names;
        computed with ``statsmodels.stats.multitest.multipletests``). As in
        R, NaN p-values are left out of the correction.
    exact, correction : bool, default=True
        Passed to :func:`mcnemar` for each pair.
    alpha : float, default=0.05
        Level at which ``pairwise.reject`` is set.
    backend : {"python", "r"}, default="python"

    Returns
    -------
    CochranQResult

    Notes
    -----
    ``Q = (k-1) (k sum_j C_j**2 - N**2) / (k N - sum_i R_i**2)`` with column
    totals ``C_j``, row totals ``R_i`` and grand total ``N``. With ``k = 2``
    it equals McNemar's statistic without continuity correction.

    References
    ----------
    .. [1] Cochran, W. G. (1950). The comparison of percentages in matched
       samples. Biometrika 37, 256-266.
    .. [2] Conover, W. J. (1999). Practical Nonparametric Statistics, 3rd
       ed., Wiley, Section 4.6.
    .. [3] Holm, S. (1979). A simple sequentially rejective multiple test
       procedure. Scand. J. Statist. 6, 65-70.

    Examples
    --------
    >>> from robustsk.stats import cochran_q
    >>> res = cochran_q([1, 1, 0, 1, 1, 0], [1, 0, 0, 1, 0, 0], [1, 1, 1, 1, 1, 0])
    >>> round(res.statistic, 4), res.df
    (4.6667, 2)
    >>> list(res.pairwise.columns[:2])
    ['group_a', 'group_b']
    """
    backend = check_backend(backend)
    alpha = check_alpha(alpha)
    p_adjust = check_choice(p_adjust, tuple(P_ADJUST_METHODS), "p_adjust")
    exact, correction = check_flag(exact, "exact"), check_flag(correction, "correction")
    groups, names = _groups_from_input(corrects, names)
    if len(groups) < 2:
        raise ValueError(
            f"Cochran's Q compares two or more defenses; got {len(groups)} outcome "
            f"vector(s). Pass one vector per defense, or a 2-d array with one column each."
        )
    if names is None:
        names = [f"group_{i}" for i in range(len(groups))]
    names = [str(n) for n in names]
    if len(names) != len(groups):
        raise ValueError(f"names has {len(names)} entries for {len(groups)} groups; give one name per defense.")
    if len(set(names)) != len(names):
        raise ValueError(f"names must be unique; got {names}.")
    arrays = check_paired(*groups, names=names)
    k, n = len(arrays), arrays[0].size
    if backend == "r":
        from ._rbackend import r_call

        res = r_call("cochran_q", np.column_stack(arrays), names=np.array(names, dtype=object),
                     p_adjust=p_adjust, exact=bool(exact), correction=bool(correction), alpha=alpha)
        pairwise = res["pairwise"]
        pairwise["b"] = pairwise["b"].astype(int)
        pairwise["c"] = pairwise["c"].astype(int)
        pairwise["reject"] = pairwise["reject"].astype(bool)
        statistic, pvalue = float(res["statistic"]), float(res["pvalue"])
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 -> NaN, reported below
            sm = _sm_cochrans_q(np.column_stack(arrays).astype(int))
        statistic, pvalue = float(sm.statistic), float(sm.pvalue)
        rows = []
        for i, j in itertools.combinations(range(k), 2):
            r = mcnemar_python(arrays[i], arrays[j], exact, correction)
            rows.append((names[i], names[j], r.b, r.c, r.statistic, r.pvalue))
        pairwise = pd.DataFrame(rows, columns=list(PAIRWISE_COLUMNS[:6]))
        pairwise["pvalue_adjusted"] = adjust_pvalues(pairwise["pvalue"].to_numpy(), p_adjust)
        pairwise["reject"] = pairwise["pvalue_adjusted"].fillna(np.inf) <= alpha
    if np.isnan(statistic):
        warnings.warn(
            "every example has the same outcome under every defense: Cochran's Q is 0/0 "
            "and is returned as NaN (as the formula gives in R); there is no evidence of a difference.",
            RuntimeWarning,
            stacklevel=2,
        )
    return CochranQResult(
        statistic=statistic, pvalue=pvalue, df=k - 1, k=k, n=n, p_adjust=p_adjust,
        method="Cochran's Q test", pairwise=pairwise[list(PAIRWISE_COLUMNS)],
    )
