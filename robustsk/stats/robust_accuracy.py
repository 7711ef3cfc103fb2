"""Robust accuracy over all examples, or over the correctly classified ones."""

from __future__ import annotations

from dataclasses import dataclass
import warnings

from ._validation import check_alpha, check_backend, check_choice, check_paired
from .interval import INTERVAL_METHODS, interval_from_counts

__all__ = ["RobustAccuracy", "robust_accuracy_from_correct"]

_OVER = ("all", "clean_correct")


@dataclass(frozen=True)
class RobustAccuracy:
    """A robust accuracy and the counts behind it.

    Attributes
    ----------
    estimate : float
        ``successes / n``; NaN when ``n == 0`` (no clean-correct example
        with ``over="clean_correct"``).
    successes : int
        Examples correct both without and under attack.
    n : int
        The denominator: every example (``over="all"``) or the examples
        correct without attack (``over="clean_correct"``).
    n_total : int
        Number of examples evaluated.
    over : str
        ``"all"`` or ``"clean_correct"``.
    """

    estimate: float
    successes: int
    n: int
    n_total: int
    over: str

    def __float__(self):
        return float(self.estimate)

    def interval(self, method="wilson", alpha=0.05):
        """Confidence interval for ``estimate`` (see :func:`accuracy_interval`).

        For ``over="clean_correct"`` the interval treats the number of
        clean-correct examples as fixed (conditional inference).
        """
        if self.n == 0:
            raise ValueError("no example in the denominator (n=0): the accuracy and its interval are undefined.")
        method = check_choice(method, INTERVAL_METHODS, "method")
        return interval_from_counts(self.successes, self.n, method, check_alpha(alpha))


def robust_accuracy_from_correct(clean_correct, adv_correct, over="all", *, backend="python"):
    """Robust accuracy from per-example clean and adversarial outcomes.

    Parameters
    ----------
    clean_correct : array-like of shape (n_examples,)
        Booleans (or 0/1): the example is classified correctly without attack.
    adv_correct : array-like of shape (n_examples,)
        Booleans (or 0/1): the example is classified correctly under attack.
    over : {"all", "clean_correct"}, default="all"
        ``"all"``: robust accuracy as defined throughout robustsk, the
        fraction of *all* examples correct under attack, where an example
        misclassified without attack counts as a failure (so an example
        that the attack happens to "fix" does not count).
        ``"clean_correct"``: the conditional robust accuracy, the fraction of
        the clean-correct examples that stay correct under attack, as Li et
        al. (2022) report it. It is larger or equal, and not comparable
        across models with different clean accuracy.
    backend : {"python", "r"}, default="python"

    Returns
    -------
    RobustAccuracy

    References
    ----------
    .. [1] Li, Y., Cheng, M., Hsieh, C.-J. and Lee, T. C. M. (2022). A review
       of adversarial attack and defense for classification methods. The
       American Statistician 76(4), 329-345.

    Examples
    --------
    >>> from robustsk.stats import robust_accuracy_from_correct
    >>> clean = [True, True, True, False]
    >>> adv = [True, False, True, True]
    >>> robust_accuracy_from_correct(clean, adv).estimate
    0.5
    >>> round(robust_accuracy_from_correct(clean, adv, over="clean_correct").estimate, 4)
    0.6667
    """
    backend = check_backend(backend)
    over = check_choice(over, _OVER, "over")
    clean, adv = check_paired(clean_correct, adv_correct, names=["clean_correct", "adv_correct"])
    if backend == "r":
        from ._rbackend import r_call

        res = r_call("robust_accuracy_from_correct", clean, adv, over=over)
        successes, n, n_total = int(res["successes"]), int(res["n"]), int(res["n_total"])
        estimate = float(res["estimate"])
    else:
        successes = int((clean & adv).sum())
        n = clean.size if over == "all" else int(clean.sum())
        n_total = clean.size
        estimate = successes / n if n else float("nan")
    if n == 0:
        warnings.warn(
            "no example is correctly classified without attack, so the conditional "
            "robust accuracy (over='clean_correct') is undefined; returning NaN.",
            RuntimeWarning,
            stacklevel=2,
        )
    return RobustAccuracy(estimate=estimate, successes=successes, n=n, n_total=n_total, over=over)
