"""Compare the candidates of a cross-validation with the corrected resampled t-test."""

from __future__ import annotations

from dataclasses import dataclass, field
import itertools
import numbers
import re

import numpy as np
import pandas as pd
from scipy import stats

from ._validation import check_alpha, check_backend, check_choice, check_fold_size
from .cochran import P_ADJUST_METHODS, adjust_pvalues

__all__ = ["CVComparison", "compare_cv_results", "cv_scores"]

_ALTERNATIVES = ("two-sided", "greater", "less")
_CORRECTIONS = ("nadeau-bengio", "none")

PAIRWISE_COLUMNS = ("candidate_a", "candidate_b", "mean_a", "mean_b", "difference", "std_error",
                    "statistic", "df", "pvalue", "pvalue_adjusted", "reject", "low", "high",
                    "p_better", "p_rope", "p_worse")


@dataclass(frozen=True)
class CVComparison:
    """Result of :func:`compare_cv_results`.

    Attributes
    ----------
    summary : DataFrame
        One row per candidate, best mean score first: ``candidate``,
        ``index`` (its row in ``cv_results_``), ``mean``, ``std`` (over
        splits, ``ddof=1``), ``mean_fit_time`` (NaN if unknown), ``params``.
    pairwise : DataFrame
        One row per pair ``(a, b)`` of candidates, ``a`` ranked above ``b``:
        ``candidate_a``, ``candidate_b``, ``mean_a``, ``mean_b``,
        ``difference`` (mean over splits of score a - score b),
        ``std_error`` (corrected), ``statistic`` (t), ``df`` (splits - 1),
        ``pvalue``, ``pvalue_adjusted`` (``p_adjust`` over all pairs),
        ``reject`` (``pvalue_adjusted <= alpha``), ``low``, ``high`` (the
        ``1 - alpha`` interval for the mean difference, equal to the
        Bayesian credible interval), ``p_better`` = P(difference > rope),
        ``p_rope`` = ``P(|difference| <= rope)``, ``p_worse`` = P(difference <
        -rope) under the posterior.
    scores : DataFrame
        The per-split scores, one column per candidate (ranked order).
    n_splits, n_train, n_test : int
        Number of splits; training and test fold sizes as given (they enter
        only the Nadeau-Bengio correction; None when not given).
    scoring : str
    rope : float
        Half-width of the region of practical equivalence.
    alpha : float
    p_adjust : str
    alternative : str
    correction : str
    method : str
    """

    summary: pd.DataFrame = field(compare=False)
    pairwise: pd.DataFrame = field(compare=False)
    scores: pd.DataFrame = field(compare=False, repr=False)
    n_splits: int
    n_train: int | None
    n_test: int | None
    scoring: str
    rope: float
    alpha: float
    p_adjust: str
    alternative: str
    correction: str
    method: str

    def posterior(self, candidate_a, candidate_b):
        """The posterior of the mean difference a - b: a frozen scipy Student t.

        ``St(df = n_splits - 1, loc = difference, scale = std_error)``
        (Benavoli et al., 2017, with the corrected variance).
        """
        rows = self.pairwise
        hit = rows[(rows.candidate_a == candidate_a) & (rows.candidate_b == candidate_b)]
        sign = 1.0
        if hit.empty:
            hit = rows[(rows.candidate_a == candidate_b) & (rows.candidate_b == candidate_a)]
            sign = -1.0
        if hit.empty:
            raise ValueError(f"no pair ({candidate_a!r}, {candidate_b!r}); candidates are "
                             f"{self.summary['candidate'].tolist()}.")
        row = hit.iloc[0]
        return stats.t(row["df"], loc=sign * row["difference"], scale=row["std_error"])


def _label(value):
    if hasattr(value, "get_params") and not isinstance(value, type):
        return type(value).__name__
    return str(value)


def _candidate_names(params):
    keys = sorted({k for p in params for k in p})
    varying = [k for k in keys if len({_label(p.get(k, "<unset>")) for p in params}) > 1] or keys
    names = [", ".join(f"{k}={_label(p[k])}" for k in varying if k in p) or f"candidate_{i}"
             for i, p in enumerate(params)]
    if len(set(names)) < len(names):  # fall back to every parameter, then to positions
        names = [", ".join(f"{k}={_label(p[k])}" for k in keys if k in p) for p in params]
    if len(set(names)) < len(names):
        names = [f"{n} #{i}" for i, n in enumerate(names)]
    return names


def _no_split_scores(keys):
    return ValueError(
        "cv_results has no per-split test scores (keys like 'split0_test_score' or "
        "'split0_test_<scoring>'); got keys "
        f"{sorted(map(str, keys))[:12]}. Pass GridSearchCV(...).cv_results_ (or "
        "RandomizedSearchCV's) unchanged, or a dict {name: cross_validate(...)} of two or more "
        "cross_validate results."
    )


def _pick_scoring(metrics, scoring, what):
    if scoring is None:
        if len(metrics) == 1:
            return metrics[0]
        raise ValueError(f"{what} holds several metrics {metrics}; pass scoring= one of them.")
    if scoring not in metrics:
        raise ValueError(f"scoring={scoring!r} is not in {what}; available: {metrics}.")
    return scoring


def cv_scores(cv_results, scoring=None):
    """Per-split test scores of every candidate, as one DataFrame.

    Parameters
    ----------
    cv_results : dict or DataFrame
        ``GridSearchCV(...).cv_results_`` (or a DataFrame of it), or a dict
        ``{name: cross_validate(...)}`` of two or more results made with
        the same splits.
    scoring : str, optional
        The metric (``"score"`` for a single unnamed scorer); required when
        there are several.

    Returns
    -------
    scores : DataFrame of shape (n_splits, n_candidates)
        One column per candidate (in input order).
    info : DataFrame
        ``candidate``, ``index``, ``mean_fit_time``, ``params``.
    scoring : str
    """
    if isinstance(cv_results, pd.DataFrame):
        cv_results = {c: cv_results[c].to_numpy() for c in cv_results.columns}
    if not isinstance(cv_results, dict):
        raise TypeError(
            "cv_results must be GridSearchCV(...).cv_results_ (a dict), a DataFrame of it, or a "
            f"dict {{name: cross_validate(...)}}; got {type(cv_results).__name__}."
        )
    keys = list(cv_results)
    cv_metrics = sorted({m.removeprefix("test_") for m in keys if isinstance(m, str)
                         and m.startswith("test_")})
    if cv_metrics and "params" not in cv_results:
        raise ValueError(
            "this is one cross_validate result, i.e. a single candidate; comparing needs two or "
            "more. Pass a dict {name: cross_validate(estimator, X, y, cv=cv)} with the same "
            "cv (fixed random_state) for each, or GridSearchCV(...).cv_results_."
        )
    if "params" in cv_results:
        split_metrics = sorted({m.group(2) for k in keys
                                for m in [re.fullmatch(r"split(\d+)_test_(.+)", str(k))] if m})
        if not split_metrics:
            raise _no_split_scores(keys)
        scoring = _pick_scoring(split_metrics, scoring, "cv_results")
        split_keys = sorted((k for k in keys if re.fullmatch(rf"split\d+_test_{re.escape(scoring)}", str(k))),
                            key=lambda k: int(re.match(r"split(\d+)", k).group(1)))
        matrix = np.column_stack([np.asarray(cv_results[k], dtype=float) for k in split_keys]).T
        params = [dict(p) for p in cv_results["params"]]
        names = _candidate_names(params)
        fit_time = np.asarray(cv_results.get("mean_fit_time", np.full(len(params), np.nan)), dtype=float)
    else:
        bad = [k for k, v in cv_results.items() if not isinstance(v, dict)]
        if bad or not cv_results:
            raise _no_split_scores(keys)
        names, columns, fit_time, params = [], [], [], []
        for name, res in cv_results.items():
            metrics = sorted(k.removeprefix("test_") for k in res if str(k).startswith("test_"))
            if not metrics:
                raise ValueError(f"cross_validate result {name!r} has no 'test_*' scores; got keys "
                                 f"{sorted(res)}.")
            metric = _pick_scoring(metrics, scoring, f"the result {name!r}")
            columns.append(np.asarray(res[f"test_{metric}"], dtype=float).ravel())
            fit_time.append(float(np.mean(res["fit_time"])) if "fit_time" in res else np.nan)
            names.append(str(name))
            params.append({})
        lengths = {len(c) for c in columns}
        if len(lengths) > 1:
            raise ValueError(f"the cross_validate results have different numbers of splits "
                             f"{dict(zip(names, map(len, columns)))}; use the same cv for each.")
        matrix = np.column_stack(columns)
        scoring = metric
        fit_time = np.asarray(fit_time)
    scores = pd.DataFrame(matrix, columns=names)
    info = pd.DataFrame({"candidate": names, "index": np.arange(len(names)),
                         "mean_fit_time": fit_time, "params": params})
    return scores, info, scoring


def _pairwise_python(matrix, names, n_train, n_test, rope, alpha, p_adjust, alternative, correction):
    n_splits = matrix.shape[0]
    df = n_splits - 1
    factor = 1 / n_splits + (n_test / n_train if correction == "nadeau-bengio" else 0.0)
    rows = []
    for i, j in itertools.combinations(range(len(names)), 2):
        d = matrix[:, i] - matrix[:, j]
        mean = float(np.mean(d))
        se = float(np.sqrt(np.var(d, ddof=1) * factor))
        if se > 0:
            tstat = mean / se
            if alternative == "two-sided":
                p = 2 * stats.t.sf(abs(tstat), df)
            elif alternative == "greater":
                p = stats.t.sf(tstat, df)
            else:
                p = stats.t.cdf(tstat, df)
            q = stats.t.isf(alpha / 2, df)
            low, high = mean - q * se, mean + q * se
            post = stats.t(df, loc=mean, scale=se)
            p_worse, p_better = float(post.cdf(-rope)), float(post.sf(rope))
            p_rope = float(post.cdf(rope) - post.cdf(-rope))
        else:  # identical differences on every split: a point mass
            tstat = np.nan if mean == 0 else np.copysign(np.inf, mean)
            p = 1.0 if mean == 0 else 0.0
            if alternative == "greater" and mean < 0 or alternative == "less" and mean > 0:
                p = 1.0
            low = high = mean
            p_worse, p_better = float(mean < -rope), float(mean > rope)
            p_rope = 1.0 - p_worse - p_better
        rows.append((names[i], names[j], float(matrix[:, i].mean()), float(matrix[:, j].mean()),
                     mean, se, float(tstat), df, float(min(p, 1.0)), low, high,
                     p_better, p_rope, p_worse))
    cols = [c for c in PAIRWISE_COLUMNS if c not in ("pvalue_adjusted", "reject")]
    pairwise = pd.DataFrame(rows, columns=cols)
    pairwise["pvalue_adjusted"] = adjust_pvalues(pairwise["pvalue"].to_numpy(), p_adjust)
    pairwise["reject"] = pairwise["pvalue_adjusted"] <= alpha
    return pairwise[list(PAIRWISE_COLUMNS)]


def compare_cv_results(cv_results, scoring=None, *, n_train=None, n_test=None, rope=0.01, alpha=0.05,
                       p_adjust="holm", alternative="two-sided", correction="nadeau-bengio",
                       names=None, backend="python"):
    """Pairwise comparison of cross-validated candidates, frequentist and Bayesian.

    Every pair of candidates is compared on the same splits with the
    corrected resampled t-test of Nadeau and Bengio (2003): the training
    sets of different splits overlap, so the split scores are correlated
    and the naive paired t-test (variance ``s**2 / J``) is anti-conservative.
    The corrected variance of the mean difference over ``J`` splits is
    ``(1/J + n_test/n_train) * s**2`` with ``t`` on ``J - 1`` degrees of
    freedom. The p-values of all pairs are adjusted together (Holm by
    default). The Bayesian side (Benavoli et al., 2017) takes the posterior
    of the mean difference as ``St(J - 1, mean, corrected se)`` and reports
    P(a better by more than ``rope``), P(within ``rope``), P(a worse).

    Parameters
    ----------
    cv_results : dict or DataFrame
        ``GridSearchCV(...).cv_results_`` as it is (it must keep the
        per-split columns ``split<i>_test_<scoring>``), or a dict
        ``{name: cross_validate(...)}`` of two or more results made with the
        same splits (a fixed ``random_state`` in the cv splitter).
    scoring : str, optional
        The metric to compare (``"score"`` for a single unnamed scorer);
        required when ``cv_results`` holds several.
    n_train, n_test : int
        Size of one training fold and one test fold, needed by the
        correction, e.g. ``train, test = next(cv.split(X, y));
        n_train, n_test = len(train), len(test)``. For ``KFold(k)`` on ``n``
        examples, ``n_test = n // k`` and ``n_train = n - n_test``.
    rope : float, default=0.01
        Half-width of the region of practical equivalence, in score units.
    alpha : float, default=0.05
        Level of the tests and error rate of the intervals.
    p_adjust : {"holm", "bonferroni", "hochberg", "hommel", "BH", "BY", "none"}, default="holm"
        Adjustment over all pairs (R's ``p.adjust`` names).
    alternative : {"two-sided", "greater", "less"}, default="two-sided"
        ``"greater"``: H1 is that a (ranked higher) scores more than b.
    correction : {"nadeau-bengio", "none"}, default="nadeau-bengio"
        ``"none"`` gives the naive paired t-test (for comparison only).
    names : list of str, optional
        Candidate names in ``cv_results`` order. Default: the parameters
        that vary (``"kernel=rbf"``), or the dict keys.
    backend : {"python", "r"}, default="python"

    Returns
    -------
    CVComparison

    Notes
    -----
    scikit-learn's gallery example "Statistical comparison of models using
    grid search" divides the variance by ``n_train + n_test`` where the
    correction has ``J``, the number of splits; on its data (100 examples,
    10 x 10-fold) the two coincide, and this function gives its numbers.

    References
    ----------
    .. [1] Nadeau, C. and Bengio, Y. (2003). Inference for the generalization
       error. Machine Learning 52, 239-281.
    .. [2] Bouckaert, R. R. and Frank, E. (2004). Evaluating the replicability
       of significance tests for comparing learning algorithms. PAKDD.
    .. [3] Benavoli, A., Corani, G., Demsar, J. and Zaffalon, M. (2017). Time
       for a change: a tutorial for comparing multiple classifiers through
       Bayesian analysis. JMLR 18(77), 1-36.
    .. [4] Holm, S. (1979). A simple sequentially rejective multiple test
       procedure. Scand. J. Statist. 6, 65-70.

    Examples
    --------
    >>> import numpy as np
    >>> from robustsk.stats import compare_cv_results
    >>> rng = np.random.default_rng(0)
    >>> fold = rng.normal(0, 0.05, 10)
    >>> runs = {"a": {"test_score": 0.80 + fold + rng.normal(0, 0.01, 10)},
    ...         "b": {"test_score": 0.78 + fold + rng.normal(0, 0.01, 10)}}
    >>> res = compare_cv_results(runs, n_train=90, n_test=10)
    >>> res.pairwise[["candidate_a", "candidate_b"]].iloc[0].tolist()
    ['a', 'b']
    >>> bool(res.pairwise["p_better"].iloc[0] > 0.5)
    True
    """
    backend = check_backend(backend)
    alpha = check_alpha(alpha)
    p_adjust = check_choice(p_adjust, tuple(P_ADJUST_METHODS), "p_adjust")
    alternative = check_choice(alternative, _ALTERNATIVES, "alternative")
    correction = check_choice(correction, _CORRECTIONS, "correction")
    if isinstance(rope, bool) or not isinstance(rope, numbers.Real) or not rope >= 0:
        raise ValueError(f"rope must be a non-negative number (half-width in score units, e.g. 0.01); "
                         f"got {rope!r}.")
    n_train, n_test = check_fold_size(n_train, "n_train"), check_fold_size(n_test, "n_test")
    if correction == "nadeau-bengio" and (n_train is None or n_test is None):
        raise ValueError(
            "the Nadeau-Bengio correction needs n_train and n_test, the sizes of one training and "
            "one test fold: e.g. `train, test = next(cv.split(X, y)); n_train, n_test = len(train), "
            "len(test)` (KFold(k) on n examples: n_test = n // k). Or pass correction='none' for the "
            "naive test, which is anti-conservative."
        )
    scores, info, scoring = cv_scores(cv_results, scoring)
    if names is not None:
        names = [str(n) for n in names]
        if len(names) != scores.shape[1] or len(set(names)) != len(names):
            raise ValueError(f"names must be {scores.shape[1]} unique names, one per candidate; got {names}.")
        scores.columns = names
        info["candidate"] = names
    if scores.shape[1] < 2:
        raise ValueError(
            f"cv_results holds a single candidate ({info['candidate'].iloc[0]!r}); comparing needs two "
            "or more. Give GridSearchCV a param_grid with several values, or pass a dict of "
            "cross_validate results."
        )
    if scores.shape[0] < 2:
        raise ValueError(f"the t-test needs at least two splits; cv_results has {scores.shape[0]}.")
    bad = scores.columns[scores.isna().any()].tolist()
    if bad:
        raise ValueError(f"candidate(s) {bad} have missing (NaN) split scores, e.g. failed fits "
                         f"(error_score=nan); drop them from the grid or fix the failures.")
    order = np.argsort(-scores.mean().to_numpy(), kind="stable")
    scores = scores.iloc[:, order]
    info = info.iloc[order].reset_index(drop=True)
    names = list(scores.columns)
    matrix = scores.to_numpy()
    if backend == "r":
        from ._rbackend import r_call

        res = r_call("compare_cv_scores", matrix, names=np.array(names, dtype=object),
                     n_train=n_train, n_test=n_test, rope=float(rope), alpha=alpha, p_adjust=p_adjust,
                     alternative=alternative, correction=correction)
        pairwise = res["pairwise"]
        pairwise["df"] = pairwise["df"].astype(int)
        pairwise["reject"] = pairwise["reject"].astype(bool)
        pairwise = pairwise[list(PAIRWISE_COLUMNS)]
    else:
        pairwise = _pairwise_python(matrix, names, n_train, n_test, float(rope), alpha, p_adjust,
                                    alternative, correction)
    summary = pd.DataFrame({
        "candidate": names, "index": info["index"].to_numpy(), "mean": matrix.mean(axis=0),
        "std": matrix.std(axis=0, ddof=1), "mean_fit_time": info["mean_fit_time"].to_numpy(),
        "params": info["params"].to_numpy(),
    })
    what = "Nadeau-Bengio corrected" if correction == "nadeau-bengio" else "naive (uncorrected)"
    return CVComparison(
        summary=summary, pairwise=pairwise, scores=scores, n_splits=matrix.shape[0], n_train=n_train,
        n_test=n_test, scoring=scoring, rope=float(rope), alpha=alpha, p_adjust=p_adjust,
        alternative=alternative, correction=correction,
        method=f"{what} resampled t-test, {p_adjust} adjustment; Student-t posterior",
    )
