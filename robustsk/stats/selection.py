"""Choose the cheapest candidate not significantly worse than the best (a GridSearchCV ``refit``)."""

from __future__ import annotations

from dataclasses import dataclass, field
import numbers

import numpy as np
import pandas as pd
from scipy import stats

from ._validation import check_alpha, check_backend, check_choice, check_fold_size
from .cv_compare import compare_cv_results, cv_scores

__all__ = ["MarginSelection", "WithinMarginSelector", "explain_selection", "one_standard_error_rule",
           "select_within_margin"]

_RULES = ("margin", "one-se")
_PREFER = ("fit_time", "score_time")


@dataclass(frozen=True)
class MarginSelection:
    """The choice of a :class:`WithinMarginSelector` and its evidence.

    Attributes
    ----------
    index : int
        The chosen candidate's row in ``cv_results_`` (``best_index_``).
    candidate : str
        Its name.
    best_index : int
        Row of the candidate with the best mean score.
    best_candidate : str
    rule : str
        ``"margin"`` or ``"one-se"``.
    margin : float
        The margin in score units (for ``"one-se"``: the best candidate's
        standard error).
    table : DataFrame
        One row per candidate, best mean first: ``candidate``, ``index``,
        ``mean``, ``shortfall`` (best mean minus this mean), ``std_error``
        (of the shortfall; of the best mean for ``"one-se"``), ``pvalue``
        (one-sided test that the shortfall exceeds ``margin``; NaN for the
        best and for ``"one-se"``), ``eligible``, ``cost`` (what ``prefer``
        ranks, lower first), ``chosen``, ``left_out``. Candidates with a
        missing (NaN) split score, e.g. a failed fit under
        ``error_score=np.nan``, are not compared: they come last, with
        ``left_out=True``, ``eligible=False`` and NaN statistics (scikit-learn
        likewise ranks them last).
    reason : str
        The choice in plain words.
    """

    index: int
    candidate: str
    best_index: int
    best_candidate: str
    rule: str
    margin: float
    table: pd.DataFrame = field(compare=False)
    reason: str = field(compare=False)

    def __str__(self):
        return self.reason


def _fastest_split_time(mean, std, n_splits):
    """Fit (or score) time of a candidate's fastest split, from its mean and std over splits.

    GridSearchCV keeps only ``mean_*_time`` and ``std_*_time`` (``ddof=0``).
    For ``J`` values with that mean and std the smallest is at most
    ``mean - std / sqrt(J - 1)``, with equality when all splits but one take
    the same time. That one is typically the first fit in a worker process,
    which pays one-off costs (lazy imports such as torch's compiler stack on
    the first optimizer, allocator warm-up); like ``timeit``, which reports
    the fastest repeat, this ranks candidates by the time the fit itself
    takes, not by that overhead.
    """
    if n_splits < 2:
        return mean
    std = np.where(np.isfinite(std), std, 0.0)
    return np.maximum(mean - std / np.sqrt(n_splits - 1), 0.0)


def _cost(info, prefer, cv_results, n_splits):
    if callable(prefer):
        return np.array([prefer(p) for p in info["params"]], dtype=object)
    key = f"mean_{prefer}"
    if key not in cv_results:
        raise ValueError(f"prefer={prefer!r} needs '{key}' in cv_results (GridSearchCV records it); "
                         f"pass a callable prefer=lambda params: ... instead.")
    rows = info["index"].to_numpy()
    if f"min_{prefer}" in cv_results:  # split times known (dict of cross_validate results)
        return np.asarray(cv_results[f"min_{prefer}"], dtype=float)[rows]
    mean = np.asarray(cv_results[key], dtype=float)[rows]
    if f"std_{prefer}" not in cv_results:
        return mean
    return _fastest_split_time(mean, np.asarray(cv_results[f"std_{prefer}"], dtype=float)[rows], n_splits)


def _subset(cv_results, keep):
    """``cv_results`` restricted to the candidates at positions ``keep``."""
    if isinstance(cv_results, pd.DataFrame):
        return cv_results.iloc[keep].reset_index(drop=True)
    if "params" not in cv_results:  # dict of cross_validate results
        names = list(cv_results)
        return {names[i]: cv_results[names[i]] for i in keep}
    n = len(cv_results["params"])
    out = {}
    for k, v in cv_results.items():
        if isinstance(v, np.ndarray) and v.ndim >= 1 and len(v) == n:
            out[k] = v[keep]
        elif isinstance(v, (list, tuple)) and len(v) == n:
            out[k] = [v[i] for i in keep]
        else:
            out[k] = v
    return out


class WithinMarginSelector:
    """A ``refit`` callable for ``GridSearchCV``: see :func:`select_within_margin`.

    Calling it with ``cv_results_`` returns the chosen ``best_index_`` and
    stores the evidence in ``selection_`` (also reachable from the
    search with :func:`explain_selection`).

    Attributes
    ----------
    selection_ : MarginSelection
        Set by each call.
    """

    def __init__(self, scoring=None, margin=0.01, prefer="fit_time", *, rule="margin", n_train=None,
                 n_test=None, alpha=0.05, correction="nadeau-bengio", backend="python"):
        self.scoring = scoring
        self.margin = margin
        self.prefer = prefer
        self.rule = rule
        self.n_train = n_train
        self.n_test = n_test
        self.alpha = alpha
        self.correction = correction
        self.backend = backend

    def __repr__(self):
        if self.rule == "one-se":
            return f"one_standard_error_rule({self.scoring!r}, prefer={self.prefer!r})"
        return f"select_within_margin({self.scoring!r}, margin={self.margin!r}, prefer={self.prefer!r})"

    def __call__(self, cv_results):
        self.selection_ = self.select(cv_results)
        return self.selection_.index

    def select(self, cv_results):
        """Return the :class:`MarginSelection` for ``cv_results`` (without storing it)."""
        correction = self.correction
        if self.rule == "one-se" and (self.n_train is None) != (self.n_test is None):
            raise ValueError(_one_se_sizes_message(self.n_train, self.n_test))
        if self.rule == "one-se" and self.n_train is None:
            correction = "none"
        all_scores, all_info, scoring = cv_scores(cv_results, self.scoring)
        names = all_info["candidate"].tolist()
        failed = all_scores.isna().any().to_numpy()
        keep = np.flatnonzero(~failed)
        if keep.size == 0:
            raise ValueError(
                f"every candidate ({len(names)}) has a missing (NaN) split score for {scoring!r}, "
                "e.g. every fit failed under error_score=np.nan; there is nothing to choose from. "
                "Fit with error_score='raise' to see the error, fix it, and search again."
            )
        sub = _subset(cv_results, keep)
        if keep.size == 1:
            summary, n_splits, scoring = _single(all_scores.iloc[:, keep[0]], all_info.iloc[keep[0]], scoring)
            shortfall, vs_best = np.zeros(1), None
        else:
            comp = compare_cv_results(sub, self.scoring, n_train=self.n_train, n_test=self.n_test,
                                      alpha=self.alpha, correction=correction, backend=self.backend,
                                      names=[names[i] for i in keep])
            summary, n_splits, scoring = comp.summary, comp.n_splits, comp.scoring
            best_name = summary["candidate"].iloc[0]
            vs_best = comp.pairwise[comp.pairwise["candidate_a"] == best_name].set_index("candidate_b")
            shortfall = np.r_[0.0, vs_best.loc[summary["candidate"].iloc[1:], "difference"].to_numpy()]
        best = summary["candidate"].iloc[0]
        df = n_splits - 1
        if self.rule == "one-se":
            factor = 1 / n_splits + (self.n_test / self.n_train if correction != "none" else 0.0)
            margin = float(summary["std"].iloc[0] * np.sqrt(factor))
            se = np.full(len(summary), margin)
            pvalue = np.full(len(summary), np.nan)
            eligible = np.r_[True, shortfall[1:] <= margin]
        else:
            margin = float(self.margin)
            se = np.zeros(1) if vs_best is None else np.r_[
                0.0, vs_best.loc[summary["candidate"].iloc[1:], "std_error"].to_numpy()]
            with np.errstate(divide="ignore", invalid="ignore"):
                z = (shortfall - margin) / se
            pvalue = np.where(se > 0, stats.t.sf(z, df), np.where(shortfall > margin, 0.0, 1.0))
            pvalue[0] = np.nan
            eligible = np.r_[True, pvalue[1:] > self.alpha]
        info_cost = _cost(summary, self.prefer, _timings(sub, summary), n_splits)
        table = pd.DataFrame({"candidate": summary["candidate"], "index": keep[summary["index"].to_numpy()],
                              "mean": summary["mean"], "shortfall": shortfall, "std_error": se,
                              "pvalue": pvalue, "eligible": eligible, "cost": info_cost})
        pool = table[table["eligible"]].assign(_rank=np.flatnonzero(table["eligible"]))
        pool = pool.assign(_neg_mean=-pool["mean"]).sort_values(["cost", "_neg_mean", "_rank"], kind="stable")
        chosen = int(pool.index[0])
        table["chosen"] = table.index == chosen
        table["left_out"] = False
        row = table.loc[chosen]
        dropped = [names[i] for i in np.flatnonzero(failed)]
        if dropped:
            table = pd.concat([table, pd.DataFrame({
                "candidate": dropped, "index": np.flatnonzero(failed), "mean": np.nan, "shortfall": np.nan,
                "std_error": np.nan, "pvalue": np.nan, "eligible": False,
                "cost": pd.Series([np.nan] * len(dropped), dtype=table["cost"].dtype),
                "chosen": False, "left_out": True})], ignore_index=True)
        reason = _reason(self, scoring, best, summary, table, row, margin, correction, dropped)
        return MarginSelection(
            index=int(row["index"]), candidate=str(row["candidate"]), best_index=int(table["index"].iloc[0]),
            best_candidate=str(best), rule=self.rule, margin=margin, table=table.reset_index(drop=True),
            reason=reason,
        )


def _single(column, info, scoring):
    """The summary of compare_cv_results for a lone candidate (nothing to compare it with)."""
    values = column.to_numpy(dtype=float)
    summary = pd.DataFrame({"candidate": [info["candidate"]], "index": [0], "mean": [values.mean()],
                            "std": [values.std(ddof=1) if values.size > 1 else np.nan],
                            "mean_fit_time": [info["mean_fit_time"]], "params": [info["params"]]})
    return summary, values.size, scoring


def _reason(selector, scoring, best, summary, table, row, margin, correction, dropped):
    prefer = selector.prefer
    what = prefer if isinstance(prefer, str) else "the preference key"
    cost = f"{row['cost']:.4g}" if isinstance(row["cost"], numbers.Real) else repr(row["cost"])
    compared = table[~table["left_out"]]
    if len(compared) == 1:
        text = (f"{best} is the only candidate compared (mean {scoring} {summary['mean'].iloc[0]:.4f}) "
                f"and is chosen.")
    else:
        if selector.rule == "one-se":
            test = f"within one standard error ({margin:.4g}) of the best mean"
        else:
            test = (f"not significantly worse than the best by more than {margin:g} (one-sided "
                    f"{'corrected' if correction != 'none' else 'naive'} t-test, alpha={selector.alpha:g})")
        text = (
            f"Best mean {scoring}: {best} ({summary['mean'].iloc[0]:.4f}). "
            f"{int(compared['eligible'].sum())} of {len(compared)} candidates are {test}: "
            f"{', '.join(compared.loc[compared['eligible'], 'candidate'])}. "
            f"Among them {row['candidate']} has the lowest {what} ({cost}) and is chosen; its mean "
            f"is {row['mean']:.4f}, {row['shortfall']:.4f} below the best."
        )
        if prefer in ("fit_time", "score_time"):
            text += (f" The {what} is the fastest split's (one-off costs of a process's first fit, such "
                     f"as lazy imports, excluded as far as mean and std allow); when candidates' times "
                     f"are close, rank them by a callable prefer=lambda params: ... instead.")
    if dropped:
        text += (f" Left out for missing (NaN) split scores, e.g. failed fits: {', '.join(dropped)}.")
    return text


def _timings(cv_results, summary):
    """``cv_results`` with the ``mean_*_time`` keys, or the split times of a dict of cross_validate runs."""
    if isinstance(cv_results, pd.DataFrame):
        return {c: cv_results[c].to_numpy() for c in cv_results.columns}
    if "params" in cv_results:
        return cv_results
    out = {}
    for what in ("fit_time", "score_time"):
        times = [np.asarray(r.get(what, np.nan), dtype=float) for r in cv_results.values()]
        out[f"mean_{what}"] = np.array([np.mean(t) for t in times])
        out[f"min_{what}"] = np.array([np.min(t) for t in times])
    return out


def _one_se_sizes_message(n_train, n_test):
    return (
        f"one_standard_error_rule got n_train={n_train!r} and n_test={n_test!r}; the Nadeau-Bengio "
        "corrected standard error needs both (sizes of one training and one test fold: `train, test = "
        "next(cv.split(X, y)); n_train, n_test = len(train), len(test)`). Pass both, or neither for "
        "the uncorrected std / sqrt(J)."
    )


def _check_common(scoring, prefer, alpha, backend, n_train=None, n_test=None):
    check_fold_size(n_train, "n_train")
    check_fold_size(n_test, "n_test")
    if scoring is not None and not isinstance(scoring, str):
        raise TypeError(f"scoring must be the name of a metric in cv_results (e.g. 'robust'); got {scoring!r}.")
    if not callable(prefer):
        check_choice(prefer, _PREFER, "prefer (or a callable params -> cost)")
    check_alpha(alpha)
    check_backend(backend)


def select_within_margin(scoring=None, margin=0.01, prefer="fit_time", *, n_train=None, n_test=None,
                         alpha=0.05, correction="nadeau-bengio", backend="python"):
    """A GridSearchCV ``refit``: the cheapest candidate not significantly worse than the best.

    The candidate with the best mean score is found; every other candidate
    is tested against it with a one-sided corrected resampled t-test (see
    :func:`compare_cv_results`) of H0: "its shortfall is at most
    ``margin``" against H1: "it is worse by more than ``margin``". Those not
    rejected at ``alpha`` are eligible (each is tested on its own: no
    multiplicity adjustment, which keeps the eligible set small), and among
    them the one with the lowest cost (``prefer``) is chosen, ties going to
    the higher mean score.

    Parameters
    ----------
    scoring : str, optional
        The metric of ``cv_results`` to compare (e.g. ``"robust"``), needed
        when the search has several.
    margin : float, default=0.01
        Shortfall from the best that is acceptable, in score units (>= 0).
    prefer : {"fit_time", "score_time"} or callable, default="fit_time"
        ``"fit_time"`` ranks by the fit time of each candidate's fastest
        split (from ``mean_fit_time`` and ``std_fit_time``: at most
        ``mean - std / sqrt(J - 1)``, exact when one split differs), so that
        the one-off cost of a process's first fit (lazy imports, warm-up),
        which lands on one split of whichever candidate is fitted first,
        does not decide; when times are close, prefer a callable. A callable gets each
        candidate's ``params`` dict and returns a sortable cost (lower is
        preferred), e.g. ``lambda p: p["max_epochs"]``.
    n_train, n_test : int
        Training and test fold sizes, for the Nadeau-Bengio correction
        (``train, test = next(cv.split(X, y))``).
    alpha : float, default=0.05
    correction : {"nadeau-bengio", "none"}, default="nadeau-bengio"
    backend : {"python", "r"}, default="python"
        Where the pairwise t-tests are computed.

    Returns
    -------
    WithinMarginSelector
        Pass it as ``GridSearchCV(..., refit=selector)``. After ``fit``,
        ``selector.selection_`` (or ``explain_selection(search)``) holds the
        :class:`MarginSelection`: the choice, the table and the reason.

    References
    ----------
    .. [1] Nadeau, C. and Bengio, Y. (2003). Inference for the generalization
       error. Machine Learning 52, 239-281.
    .. [2] Wellek, S. (2010). Testing Statistical Hypotheses of Equivalence
       and Noninferiority, 2nd ed. CRC Press (tests with a margin).

    Examples
    --------
    >>> import numpy as np
    >>> from robustsk.stats import select_within_margin
    >>> rng = np.random.default_rng(0)
    >>> fold = rng.normal(0, 0.02, 10)
    >>> cv_results = {"params": [{"C": 1}, {"C": 10}],
    ...               "mean_fit_time": np.array([0.1, 2.0])}
    >>> for i in range(10):
    ...     cv_results[f"split{i}_test_score"] = np.array([0.795, 0.80]) + fold[i]
    >>> pick = select_within_margin(margin=0.01, n_train=90, n_test=10)
    >>> pick(cv_results), pick.selection_.best_candidate
    (0, 'C=10')
    """
    _check_common(scoring, prefer, alpha, backend, n_train, n_test)
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real) or not margin >= 0:
        raise ValueError(f"margin must be a non-negative number in score units (e.g. 0.01 for one "
                         f"point of accuracy); got {margin!r}.")
    check_choice(correction, ("nadeau-bengio", "none"), "correction")
    if correction == "nadeau-bengio" and (n_train is None or n_test is None):
        raise ValueError(
            "select_within_margin needs n_train and n_test (sizes of one training and one test fold) "
            "for the corrected t-test: `train, test = next(cv.split(X, y)); n_train, n_test = "
            "len(train), len(test)`. Or pass correction='none' (anti-conservative)."
        )
    return WithinMarginSelector(scoring, margin, prefer, rule="margin", n_train=n_train, n_test=n_test,
                                alpha=alpha, correction=correction, backend=backend)


def one_standard_error_rule(scoring=None, prefer="fit_time", *, n_train=None, n_test=None,
                            backend="python"):
    """A GridSearchCV ``refit``: the cheapest candidate within one standard error of the best.

    The one-standard-error rule of Breiman et al. (1984): eligible are the
    candidates whose mean score is at least the best mean minus the
    standard error of the best mean; the cheapest of them (``prefer``) is
    chosen. The standard error is ``std / sqrt(J)`` over the ``J`` splits,
    or, given ``n_train`` and ``n_test``, the Nadeau-Bengio corrected
    ``std * sqrt(1/J + n_test/n_train)``, which accounts for overlapping
    training sets (and is wider).

    Parameters
    ----------
    scoring : str, optional
    prefer : {"fit_time", "score_time"} or callable, default="fit_time"
    n_train, n_test : int, optional
    backend : {"python", "r"}, default="python"

    Returns
    -------
    WithinMarginSelector

    References
    ----------
    .. [1] Breiman, L., Friedman, J., Olshen, R. and Stone, C. (1984).
       Classification and Regression Trees. Wadsworth, Section 3.4.3.
    .. [2] Hastie, T., Tibshirani, R. and Friedman, J. (2009). The Elements of
       Statistical Learning, 2nd ed., Section 7.10.

    Examples
    --------
    >>> import numpy as np
    >>> from robustsk.stats import one_standard_error_rule
    >>> cv_results = {"params": [{"depth": 2}, {"depth": 8}],
    ...               "split0_test_score": [0.81, 0.84], "split1_test_score": [0.82, 0.79],
    ...               "split2_test_score": [0.80, 0.83]}
    >>> one_standard_error_rule(prefer=lambda p: p["depth"])(cv_results)
    0
    """
    _check_common(scoring, prefer, 0.05, backend, n_train, n_test)
    if (n_train is None) != (n_test is None):
        raise ValueError(_one_se_sizes_message(n_train, n_test))
    return WithinMarginSelector(scoring, None, prefer, rule="one-se", n_train=n_train, n_test=n_test,
                                backend=backend)


def explain_selection(search):
    """The :class:`MarginSelection` behind a fitted search's ``best_index_``.

    Parameters
    ----------
    search : fitted GridSearchCV or RandomizedSearchCV
        Fitted with ``refit=select_within_margin(...)`` (or
        :func:`one_standard_error_rule`).

    Returns
    -------
    MarginSelection

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from robustsk.stats import explain_selection, one_standard_error_rule
    >>> X, y = load_iris(return_X_y=True)
    >>> search = GridSearchCV(DecisionTreeClassifier(random_state=0), {"max_depth": [1, 2, 3, 5]}, cv=5,
    ...                       refit=one_standard_error_rule(prefer=lambda p: p["max_depth"])).fit(X, y)
    >>> explain_selection(search).candidate == f"max_depth={search.best_params_['max_depth']}"
    True
    """
    refit = getattr(search, "refit", None)
    if not isinstance(refit, WithinMarginSelector):
        raise TypeError(
            "explain_selection needs a search fitted with refit=select_within_margin(...) or "
            f"refit=one_standard_error_rule(...); this one has refit={refit!r}."
        )
    if not hasattr(refit, "selection_"):
        raise ValueError("the search has not been fitted yet; call search.fit(X, y) first.")
    return refit.selection_
