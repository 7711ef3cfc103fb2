"""The report's statistics: Wilson intervals, McNemar against the baseline, per-example rows.

Every accuracy comes from per-example correctness vectors on the same test
points, so any comparison is paired: :func:`mcnemar_vs_baseline` runs the
exact McNemar test (:func:`robustsk.stats.mcnemar`) of each defense against the
undefended baseline, per attack at the training eps, and Holm-corrects the
p-values over all those comparisons (``statsmodels``' ``multipletests``).
"""
import numpy as np
import pandas as pd

from .options import CLEAN

__all__ = ["RESULT_COLUMNS", "PER_EXAMPLE_COLUMNS", "MCNEMAR_COLUMNS", "SELECTION_MARGIN", "results_frame",
           "per_example_frame", "mcnemar_vs_baseline", "format_mcnemar", "select_defense",
           "format_selection"]

#: Default margin of :func:`select_defense`: one point of robust accuracy.
SELECTION_MARGIN = 0.01

RESULT_COLUMNS = ["defense", "attack", "eps", "accuracy", "ci_low", "ci_high", "n_test",
                  "fit_seconds"]
PER_EXAMPLE_COLUMNS = ["defense", "attack", "eps", "example_id", "correct"]
MCNEMAR_COLUMNS = ["attack", "eps", "defense", "baseline", "n", "accuracy",
                   "baseline_accuracy", "difference", "b", "c", "statistic", "pvalue",
                   "pvalue_holm", "reject_holm"]


def results_frame(cells, fit_seconds):
    """One row per (defense, attack, eps): accuracy and its 95% Wilson interval.

    Parameters
    ----------
    cells : list of (defense, attack, eps, correct)
        ``correct`` a boolean array of shape (n_test,).
    fit_seconds : dict of str to float
        Per defense (NaN for a model the report did not fit).

    Returns
    -------
    results : pandas.DataFrame with :data:`RESULT_COLUMNS`
    """
    from ..stats import accuracy_interval
    rows = []
    for defense, attack, eps, correct in cells:
        ci = accuracy_interval(np.asarray(correct, dtype=bool), method="wilson", alpha=0.05)
        rows.append({"defense": defense, "attack": attack, "eps": float(eps),
                     "accuracy": ci.estimate, "ci_low": ci.low, "ci_high": ci.high,
                     "n_test": ci.n, "fit_seconds": fit_seconds.get(defense, np.nan)})
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def per_example_frame(cells):
    """The tidy per-example frame: defense, attack, eps, example_id, correct."""
    parts = [pd.DataFrame({"defense": defense, "attack": attack, "eps": float(eps),
                           "example_id": np.arange(len(correct)),
                           "correct": np.asarray(correct, dtype=bool)})
             for defense, attack, eps, correct in cells]
    if not parts:
        return pd.DataFrame(columns=PER_EXAMPLE_COLUMNS)
    return pd.concat(parts, ignore_index=True)[PER_EXAMPLE_COLUMNS]


def per_class_frame(cells, y):
    """Accuracy per true class: defense, attack, eps, class, n, accuracy.

    Parameters
    ----------
    cells : list of (defense, attack, eps, correct)
    y : array-like of shape (n_test,)
        The true labels the ``correct`` vectors refer to.
    """
    y = np.asarray(y)
    labels = np.unique(y)
    rows = [{"defense": defense, "attack": attack, "eps": float(eps), "class": label.item(),
             "n": int((y == label).sum()),
             "accuracy": float(np.asarray(correct)[y == label].mean())}
            for defense, attack, eps, correct in cells for label in labels]
    return pd.DataFrame(rows, columns=["defense", "attack", "eps", "class", "n", "accuracy"])


def mcnemar_vs_baseline(cells, eps, baseline, alpha=0.05):
    """Exact McNemar test of each defense against ``baseline``, per attack, at ``eps``.

    Parameters
    ----------
    cells : list of (defense, attack, eps, correct)
    eps : float
        The training eps (the clean rows are not compared).
    baseline : str
        The defense every other one is compared with.
    alpha : float, default=0.05
        Family-wise error rate of ``reject_holm``.

    Returns
    -------
    table : pandas.DataFrame with :data:`MCNEMAR_COLUMNS`
        ``b``: examples the defense gets right and the baseline wrong; ``c``:
        the reverse; ``difference = (b - c) / n`` (defense minus baseline);
        ``statistic`` is ``b`` (R's ``binom.test(b, b + c)``); ``pvalue_holm``
        is Holm-adjusted over all rows. Empty when there is nothing to compare.
    """
    from statsmodels.stats.multitest import multipletests

    from ..stats import mcnemar
    at_eps = {(d, a): c for d, a, e, c in cells if a != CLEAN and np.isclose(e, eps)}
    rows = []
    for (defense, attack), correct in at_eps.items():
        base = at_eps.get((baseline, attack))
        if defense == baseline or base is None:
            continue
        res = mcnemar(np.asarray(correct, bool), np.asarray(base, bool), exact=True)
        rows.append({"attack": attack, "eps": float(eps), "defense": defense,
                     "baseline": baseline, "n": res.n, "accuracy": float(np.mean(correct)),
                     "baseline_accuracy": float(np.mean(base)), "difference": res.difference,
                     "b": res.b, "c": res.c, "statistic": res.statistic,
                     "pvalue": res.pvalue})
    table = pd.DataFrame(rows, columns=MCNEMAR_COLUMNS)
    if len(table):
        reject, adjusted, _, _ = multipletests(table["pvalue"].to_numpy(), alpha=alpha,
                                               method="holm")
        table["pvalue_holm"], table["reject_holm"] = adjusted, reject
    return table


def format_mcnemar(table, baseline):
    """The McNemar table as text (or why there is none)."""
    if table is None or not len(table):
        return (f"McNemar vs the baseline: nothing to compare (needs the baseline "
                f"{baseline!r} and at least one other defense).")
    text = table[["attack", "defense", "accuracy", "baseline_accuracy", "b", "c", "pvalue",
                  "pvalue_holm"]].copy()
    for column in ("accuracy", "baseline_accuracy"):
        text[column] = text[column].map(lambda a: f"{a:.3f}")
    for column in ("pvalue", "pvalue_holm"):
        text[column] = text[column].map(lambda p: f"{p:.2g}")
    text = text.rename(columns={"baseline_accuracy": baseline, "pvalue": "p",
                                "pvalue_holm": "p (Holm)"})
    return (f"Exact McNemar test of each defense vs {baseline} at eps={table['eps'].iloc[0]:g} "
            f"(b: right only with the defense, c: right only with {baseline}); p Holm-"
            f"adjusted over {len(table)} comparisons:\n" + text.to_string(index=False))


def select_defense(cells, eps, fit_seconds, margin=SELECTION_MARGIN, alpha=0.05):
    """Which defense to pick: the fastest to train not significantly worse than the best.

    Robust accuracy is taken worst-case over the attacks at ``eps``, the
    report's attack radius (``--eps``; the defenses train at ``--train-eps``
    when it is given): an example counts only if it survives every attack. For each
    defense, Newcombe's paired interval (:func:`robustsk.stats.newcombe_paired_interval`,
    level ``1 - 2 alpha``, i.e. a one-sided ``1 - alpha`` lower bound) is
    computed for "best minus this defense"; a defense is eligible unless that
    lower bound exceeds ``margin``. The eligible defense with the smallest
    fit time is picked.

    Returns
    -------
    dict or None
        ``choice``, ``best``, ``margin``, ``alpha``, ``eligible`` (list),
        ``reason`` (text) and ``table`` (DataFrame: ``defense``,
        ``robust_accuracy``, ``shortfall``, ``lower_bound``, ``eligible``,
        ``fit_seconds``); None when fewer than two defenses have fit times.
    """
    from ..stats import newcombe_paired_interval
    worst = {}
    for defense, attack, e, correct in cells:
        if attack != CLEAN and np.isclose(e, eps):
            prev = worst.get(defense)
            worst[defense] = np.asarray(correct, bool) if prev is None else prev & np.asarray(correct, bool)
    worst = {d: c for d, c in worst.items() if np.isfinite(fit_seconds.get(d, np.nan))}
    if len(worst) < 2:
        return None
    best = max(worst, key=lambda d: (worst[d].mean(), -fit_seconds[d]))
    rows = []
    for defense, correct in worst.items():
        if defense == best:
            low = 0.0
        else:
            _, low, _ = newcombe_paired_interval(worst[best], correct, alpha=2 * alpha)
        rows.append({"defense": defense, "robust_accuracy": float(correct.mean()),
                     "shortfall": float(worst[best].mean() - correct.mean()), "lower_bound": low,
                     "eligible": bool(low <= margin), "fit_seconds": float(fit_seconds[defense])})
    table = pd.DataFrame(rows)
    eligible = table[table["eligible"]].sort_values(["fit_seconds", "shortfall"])
    choice = eligible.iloc[0]
    reason = (f"{choice['defense']} (robust accuracy {choice['robust_accuracy']:.3f}, fit "
              f"{choice['fit_seconds']:.1f} s): the fastest to train of the defenses not significantly "
              f"worse than the best, {best} ({worst[best].mean():.3f}), by more than {margin:g} "
              f"(one-sided {100 * (1 - alpha):g}% Newcombe bound, worst case over the attacks at "
              f"eps={eps:g}). Eligible: {', '.join(eligible['defense'])}.")
    return {"choice": str(choice["defense"]), "best": str(best), "margin": margin, "alpha": alpha,
            "eligible": eligible["defense"].tolist(), "reason": reason, "table": table}


def format_selection(selection):
    """The selection as text (or why there is none)."""
    if selection is None:
        return "Selection: needs two or more trained defenses."
    return f"Selection at margin {selection['margin']:g}: " + selection["reason"]
