"""Exact power and sample size of the exact McNemar test for two defenses."""

from __future__ import annotations

from dataclasses import dataclass
import numbers

import numpy as np
from scipy import stats

from ._validation import check_alpha, check_backend, check_count, check_probability

__all__ = ["McNemarPower", "mcnemar_power", "mcnemar_sample_size"]


@dataclass(frozen=True)
class McNemarPower:
    """Result of :func:`mcnemar_power` and :func:`mcnemar_sample_size`.

    Attributes
    ----------
    n : int
        Number of test examples.
    power : float
        Exact probability that the exact two-sided McNemar test rejects at
        ``alpha`` when the true difference and discordance are as given.
    difference : float
        True difference in robust accuracy, ``p10 - p01``.
    discordance : float
        True probability that the two defenses disagree on an example,
        ``p10 + p01``.
    alpha : float
    target : float or None
        The requested power (sample size only).
    n_approximate : int or None
        Connor's (1987) normal-approximation sample size (sample size only).
    method : str
    """

    n: int
    power: float
    difference: float
    discordance: float
    alpha: float
    target: float | None = None
    n_approximate: int | None = None
    method: str = "exact power of the exact (binomial) McNemar test"


def _check_rates(difference, discordance):
    for value, name in ((difference, "difference"), (discordance, "discordance")):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a real number; got {value!r}.")
        if not np.isfinite(value):
            raise ValueError(f"{name} must be a finite number; got {value!r}. Estimate it "
                             "from a pilot evaluation ((b + c) / n and (b - c) / n of mcnemar).")
    if not 0 < discordance <= 1:
        raise ValueError(
            f"discordance must be in (0, 1]: the probability that the two defenses disagree on an "
            f"example (from a pilot: (b + c) / n); got {discordance!r}."
        )
    if abs(difference) > discordance:
        raise ValueError(
            f"|difference| = {abs(difference)!r} cannot exceed the discordance {discordance!r}: the "
            f"difference p10 - p01 is at most p10 + p01. Expected -discordance <= difference "
            f"<= discordance."
        )
    return float(difference), float(discordance)


#: the largest ``n`` whose exact power is computed (a sum over n + 1 counts)
MAX_N = 10**7


def _check_n(n, name="n"):
    n = check_count(n, name, "a number of test examples")
    if n > MAX_N:
        raise ValueError(f"{name}={n!r} is above {MAX_N:,}: the exact power sums over n + 1 "
                         "discordant counts, which would exhaust memory. Expected at most "
                         f"{MAX_N:,}; at such sizes the power is 1 for any detectable difference.")
    return int(n)


def _critical(max_m, alpha):
    """For m = 0..max_m, the largest k with 2 P(X <= k) <= alpha, X ~ Bin(m, 1/2) (-1 if none).

    That is, ``binom.test(k, m)$p.value <= alpha``: the exact McNemar test
    with m discordant examples rejects when b <= k or b >= m - k.
    """
    m = np.arange(max_m + 1)
    k = stats.binom.ppf(alpha / 2, m, 0.5)
    return np.where(2 * stats.binom.cdf(k, m, 0.5) <= alpha, k, k - 1)


def _rejection(max_m, difference, discordance, alpha):
    """For m = 0..max_m discordant examples, the probability that the exact test rejects."""
    m = np.arange(max_m + 1)
    k = _critical(max_m, alpha)
    q = (discordance + difference) / (2 * discordance)  # P(only a survives | they disagree)
    return np.where(k >= 0, stats.binom.cdf(k, m, q) + stats.binom.sf(m - k - 1, m, q), 0.0)


def _power_python(n, difference, discordance, alpha, rejection=None):
    """Exact power on n examples; ``rejection`` (of length > n) may be precomputed, or its
    running maximum, which gives an upper bound of the power that never decreases in n."""
    reject = _rejection(n, difference, discordance, alpha) if rejection is None \
        else rejection[: n + 1]
    weight = stats.binom.pmf(np.arange(n + 1), n, discordance)
    return float(np.clip(np.sum(weight * reject), 0.0, 1.0))


def _connor(difference, discordance, alpha, power):
    za, zb = stats.norm.isf(alpha / 2), stats.norm.isf(1 - power)
    n = (za * np.sqrt(discordance) + zb * np.sqrt(discordance - difference**2)) ** 2 / difference**2
    return int(np.ceil(n))


def mcnemar_power(n, difference, discordance, alpha=0.05, *, backend="python"):
    """Exact power of the exact McNemar test on ``n`` paired test examples.

    The number of discordant examples is ``M ~ Bin(n, discordance)``; given
    ``M = m`` the test rejects when ``binom.test(b, m)`` has p-value
    ``<= alpha``, with ``b ~ Bin(m, (discordance + difference) /
    (2 discordance))``. The power sums the rejection probabilities over
    ``m`` exactly (no normal approximation). Use it for the power of a test
    set at hand: ``n = len(X_test)``.

    Parameters
    ----------
    n : int
        Number of test examples.
    difference : float
        True difference in robust accuracy between the defenses,
        ``p10 - p01`` (sign irrelevant for the two-sided test).
    discordance : float
        Probability that the defenses disagree on an example, ``p10 + p01``;
        estimate it as ``(b + c) / n`` from a pilot evaluation
        (:func:`mcnemar` reports ``b`` and ``c``).
    alpha : float, default=0.05
    backend : {"python", "r"}, default="python"

    Returns
    -------
    McNemarPower

    References
    ----------
    .. [1] Connor, R. J. (1987). Sample size for testing differences in
       proportions for the paired-sample design. Biometrics 43, 207-211.
    .. [2] Lachin, J. M. (1992). Power and sample size evaluation for the
       McNemar test with application to matched case-control studies.
       Statistics in Medicine 11, 1239-1251.

    Examples
    --------
    >>> from robustsk.stats import mcnemar_power
    >>> res = mcnemar_power(500, difference=0.05, discordance=0.15)
    >>> round(res.power, 3)
    0.802
    """
    backend = check_backend(backend)
    n = _check_n(n)
    difference, discordance = _check_rates(difference, discordance)
    alpha = check_alpha(alpha)
    if backend == "r":
        from ._rbackend import r_call

        power = float(r_call("mcnemar_power", n, difference, discordance, alpha=alpha)["power"])
    else:
        power = _power_python(n, difference, discordance, alpha)
    return McNemarPower(n=n, power=power, difference=difference, discordance=discordance, alpha=alpha)


def mcnemar_sample_size(difference, discordance, power=0.8, alpha=0.05, *, max_n=100_000, backend="python"):
    """Smallest test set on which the exact McNemar test has the given power.

    Returns the first ``n`` whose exact power (see :func:`mcnemar_power`)
    reaches ``power``. Exact power is a saw-tooth in ``n`` (the binomial
    test is discrete), so a slightly larger ``n`` can fall just below the
    target again; the result reports the power reached. The search is
    exact without trying every ``n``: replacing each rejection probability
    given ``m`` discordant examples by its running maximum over ``m`` gives
    an upper bound of the power that never decreases in ``n`` (the number of
    discordant examples grows stochastically with ``n``); a bisection finds
    the first ``n`` where that bound reaches ``power``, below which no
    ``n`` can, and the exact power is scanned upwards from there. Connor's
    (1987) normal approximation is reported beside it; it can be far off
    either way (above the exact answer when one defense dominates, i.e.
    ``|difference|`` close to ``discordance``).

    Parameters
    ----------
    difference : float
        Difference in robust accuracy to detect (``p10 - p01``), non-zero.
    discordance : float
        Probability that the two defenses disagree on an example.
    power : float, default=0.8
    alpha : float, default=0.05
    max_n : int, default=100000
        Give up (ValueError) above this many examples.
    backend : {"python", "r"}, default="python"

    Returns
    -------
    McNemarPower
        With ``n`` the sample size, ``power`` the power reached, ``target``
        and ``n_approximate`` (Connor's formula).

    References
    ----------
    .. [1] Connor, R. J. (1987). Biometrics 43, 207-211.

    Examples
    --------
    >>> from robustsk.stats import mcnemar_sample_size
    >>> res = mcnemar_sample_size(difference=0.05, discordance=0.15, power=0.8)
    >>> res.n, res.n_approximate, bool(res.power >= 0.8)
    (498, 469, True)
    """
    backend = check_backend(backend)
    difference, discordance = _check_rates(difference, discordance)
    alpha = check_alpha(alpha)
    target = check_probability(power, "power", "e.g. 0.8 for an 80% chance to detect the "
                               "difference", "Pass a fraction, not a percentage.")
    max_n = _check_n(max_n, "max_n")
    if difference == 0:
        raise ValueError("difference must be non-zero: no test set has power to detect a zero difference.")
    approx = _connor(difference, discordance, alpha, target)
    if backend == "r":
        from ._rbackend import r_call

        res = r_call("mcnemar_sample_size", difference, discordance, power=target, alpha=alpha, max_n=max_n)
        n, reached = int(res["n"]), float(res["power"])
    else:
        n, reached = _smallest_n(difference, discordance, alpha, target, max_n, approx)
    return McNemarPower(n=n, power=reached, difference=difference, discordance=discordance, alpha=alpha,
                        target=target, n_approximate=approx)


def _smallest_n(difference, discordance, alpha, target, max_n, approx):
    """The first n <= max_n whose exact power reaches ``target``, and that power."""
    def fail():
        return ValueError(f"no n <= max_n={max_n} reaches power {target}; raise max_n or the "
                          "difference.")
    # an n that reaches the target: the exact power's saw-tooth is small against doubling
    high = min(max(approx, 1), max_n)
    rejection = _rejection(high, difference, discordance, alpha)
    while _power_python(high, difference, discordance, alpha, rejection) < target:
        if high == max_n:
            raise fail()
        high = min(2 * high, max_n)
        rejection = _rejection(high, difference, discordance, alpha)
    envelope = np.maximum.accumulate(rejection)  # upper bound, nondecreasing in n
    low = 1
    while low < high:  # first n whose upper bound reaches the target
        mid = (low + high) // 2
        if _power_python(mid, difference, discordance, alpha, envelope) >= target:
            high = mid
        else:
            low = mid + 1
    for n in range(low, max_n + 1):  # no n below low can; ends by the n found above
        reached = _power_python(n, difference, discordance, alpha, rejection)
        if reached >= target:
            return n, reached
    raise fail()
