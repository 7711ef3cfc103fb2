"""Robust accuracy per class, with intervals and a test that the classes are equal."""

from __future__ import annotations

from dataclasses import dataclass, field
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ._validation import align_on_index, check_alpha, check_backend, check_choice, check_correct
from .interval import INTERVAL_METHODS, interval_from_counts

__all__ = ["PerClassAccuracy", "per_class_accuracy"]


@dataclass(frozen=True)
class PerClassAccuracy:
    """Result of :func:`per_class_accuracy`.

    Attributes
    ----------
    table : DataFrame
        One row per class (sorted): ``class``, ``n``, ``successes``,
        ``accuracy``, ``low``, ``high``.
    statistic : float
        Pearson's chi-squared statistic of the classes x (correct, wrong)
        table (R's ``prop.test(x, n, correct = FALSE)``); NaN when every
        example has the same outcome.
    df : int
        Number of classes - 1.
    pvalue : float
    method : str
        The interval method.
    alpha : float
    """

    table: pd.DataFrame = field(compare=False)
    statistic: float
    df: int
    pvalue: float
    method: str
    alpha: float


def per_class_accuracy(correct, y, *, classes=None, method="wilson", alpha=0.05, backend="python"):
    """Robust accuracy of each class, with intervals, and a test of equality across classes.

    Parameters
    ----------
    correct : array-like of bool of shape (n_examples,)
        Correct under attack (and without it), per example.
    y : array-like of shape (n_examples,)
        The true class of each example, paired with ``correct``.
    classes : list, optional
        Keep only these classes (e.g. the protected classes of
        :class:`~robustsk.defenses.CostSensitiveAdversarialTraining`).
    method : {"wilson", "clopper-pearson", "agresti-coull"}, default="wilson"
        Interval for each class (see :func:`accuracy_interval`).
    alpha : float, default=0.05
    backend : {"python", "r"}, default="python"

    Returns
    -------
    PerClassAccuracy

    Notes
    -----
    The test is Pearson's chi-squared test of homogeneity without continuity
    correction, on ``k - 1`` degrees of freedom (R's ``prop.test(x, n,
    correct = FALSE)``; scipy's ``chi2_contingency(correction=False)``). A
    RuntimeWarning is given when an expected count is below 5, as R warns
    that the approximation may be incorrect.

    References
    ----------
    .. [1] Agresti, A. (2013). Categorical Data Analysis, 3rd ed., Wiley,
       Section 3.2 (chi-squared tests of independence / homogeneity).
    .. [2] Xu, H., Liu, X., Li, Y., Jain, A. and Tang, J. (2021). To be robust
       or to be fair: towards fairness in adversarial training. ICML.

    Examples
    --------
    >>> from robustsk.stats import per_class_accuracy
    >>> correct = [1] * 40 + [0] * 10 + [1] * 25 + [0] * 25
    >>> y = [0] * 50 + [1] * 50
    >>> res = per_class_accuracy(correct, y)
    >>> res.table["accuracy"].tolist(), round(res.statistic, 3)
    ([0.8, 0.5], 9.89)
    """
    backend = check_backend(backend)
    method = check_choice(method, INTERVAL_METHODS, "method")
    alpha = check_alpha(alpha)
    correct, y = align_on_index([correct, y], ["correct", "y"])  # two Series: by index
    correct = check_correct(correct, "correct")
    raw = y
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be one class label per example, of shape (n_examples,); got "
                         f"an array of shape {y.shape}. Pass the labels as a flat vector.")
    if y.dtype.kind in "OUS":  # a list ["a", None] or ["a", nan] becomes strings "None", "nan"
        missing = np.flatnonzero(pd.isna(np.asarray(raw, dtype=object).ravel()))
        if missing.size:
            raise ValueError(
                f"y must not hold missing labels; got {missing.size} missing value(s) (None, NaN "
                f"or pd.NA) of {y.size}, the first at position {missing[0]}. Expected one class "
                "label per example: drop the unlabelled examples from both y and correct first "
                "(keep = pd.notna(y)).")
    if y.dtype.kind == "c" or (y.dtype.kind == "f" and not np.all(np.isfinite(y))):
        raise ValueError(f"y must hold class labels; got dtype {y.dtype} with complex, NaN or "
                         "infinite values. Drop the unlabelled examples first.")
    if y.size != correct.size:
        raise ValueError(
            f"correct and y must be paired (one label per example, in the same order); got lengths "
            f"{correct.size} and {y.size}."
        )
    if classes is not None:
        missing = [c for c in classes if c not in set(y.tolist())]
        if missing:
            raise ValueError(f"classes {missing} do not occur in y; available: {sorted(set(y.tolist()))}.")
        keep = np.isin(y, list(classes))
        correct, y = correct[keep], y[keep]
    try:
        labels, inverse = np.unique(y, return_inverse=True)
    except TypeError:  # labels that cannot be sorted together, e.g. strings and numbers
        kinds = sorted({type(v).__name__ for v in y.tolist()})
        raise ValueError(f"y must hold class labels of one kind; got labels of types {kinds}. "
                         "Convert them to one type first, e.g. y.astype(str).") from None
    if labels.size < 2:
        raise ValueError(f"a test of equality across classes needs two or more classes; got {labels.tolist()}.")
    n = np.bincount(inverse)
    x = np.bincount(inverse, weights=correct).astype(int)
    if backend == "r":
        from ._rbackend import r_call

        res = r_call("per_class_accuracy", correct, np.array([str(v) for v in y], dtype=object),
                     method=method, alpha=alpha)
        statistic, pvalue = float(res["statistic"]), float(res["pvalue"])
        low, high = np.asarray(res["table"]["low"], float), np.asarray(res["table"]["high"], float)
        if [str(v) for v in labels] != list(res["table"]["class"]):  # R sorts the labels as strings
            order = {c: i for i, c in enumerate(res["table"]["class"])}
            idx = [order[str(v)] for v in labels]
            low, high = low[idx], high[idx]
    else:
        ci = [interval_from_counts(xi, ni, method, alpha) for xi, ni in zip(x, n)]
        low, high = np.array([c.low for c in ci]), np.array([c.high for c in ci])
        observed = np.column_stack([x, n - x])
        if observed[:, 0].sum() == 0 or observed[:, 1].sum() == 0:
            statistic = pvalue = float("nan")
        else:
            chi = stats.chi2_contingency(observed, correction=False)
            statistic, pvalue = float(chi.statistic), float(chi.pvalue)
    if np.isnan(statistic):
        warnings.warn("every example has the same outcome: the chi-squared statistic is 0/0 (NaN); "
                      "there is no evidence of a difference between classes.", RuntimeWarning, stacklevel=2)
    else:
        expected = np.outer(n, [x.sum(), n.sum() - x.sum()]) / n.sum()
        if expected.min() < 5:
            warnings.warn(f"an expected count is {expected.min():.2f} < 5: the chi-squared approximation "
                          f"may be incorrect (as R's prop.test warns); merge small classes or use more "
                          f"test examples.", RuntimeWarning, stacklevel=2)
    table = pd.DataFrame({"class": labels, "n": n, "successes": x, "accuracy": x / n, "low": low, "high": high})
    return PerClassAccuracy(table=table, statistic=statistic, df=int(labels.size - 1), pvalue=pvalue,
                            method=method, alpha=alpha)
