"""The report's constants and the validation of its options.

Every check raises :class:`ReportOptionError` with what was received, what was
expected and what to do; the command line turns it into exit status 2.
"""
import difflib

import numpy as np

from ..params import Norm

__all__ = ["DEFAULT_PROTECTED", "ReportOptionError", "DEFENSES", "DEFAULT_DEFENSES", "DEFENSE_PARAMS", "DEFAULT_EPS_GRID",
           "DEFAULT_EPOCHS", "DEFAULT_ATTACKS", "DEFAULT_THREADS", "DATASETS",
           "FASHION_MNIST_SIZES", "BASELINE", "CLEAN", "CERTIFIED", "split_names", "check_eps",
           "eps_grid", "check_count", "NORMS", "DEFAULT_EPS", "DEFAULT_L2_EPS_GRID",
           "check_norm", "default_eps", "default_eps_grid"]

#: Defense names of ``--defenses``, in report order, and their estimator classes
#: (``--defenses all`` runs every one).
DEFENSES = {
    "standard": "StandardTraining",
    "madry": "AdversarialTraining",
    "trades": "TRADES",
    "fat": "FriendlyAdversarialTraining",
    "fast": "FastAdversarialTraining",
    "iat": "InterpolatedAdversarialTraining",
    "dynamic": "DynamicAdversarialTraining",
    "jsigr": "JacobianSaliencyRegularization",
    "cost-sensitive": "CostSensitiveAdversarialTraining",
    "trs": "TRSEnsemble",
    "margin-boosting": "MarginBoostingEnsemble",
    "ensemble-at": "EnsembleAdversarialTraining",
    "iwd": "IWDAdversarialTraining",
    "mce": "AdversarialTraining",
    "dial": "DomainInvariantAdversarialLearning",
    "afd": "AdversarialFeatureDesensitization",
    "sdp": "SDPCertifiedNetwork",
    "arub": "RobustUpperBoundTraining",
    "rub": "RobustUpperBoundTraining",
}

#: The defenses of a run without ``--defenses`` (the five of the first release;
#: about 1.5 minutes on 2 cores).
DEFAULT_DEFENSES = ("standard", "madry", "trades", "fat", "fast")

#: Classes ``cost-sensitive`` protects unless ``--protect-classes`` says otherwise.
DEFAULT_PROTECTED = (8, 9)

#: The undefended baseline every defense is compared with (McNemar's test).
BASELINE = "standard"

#: Parameters the report sets on a defense beyond the shared ones. FAT gets
#: ``tau=2``: the last value of the FAT paper's schedule (0, then 1, then 2) and,
#: on digits at eps 0.1 with 20 and 10 epochs, the most robust of tau = 0..3
#: under PGD-20 (0.86 against 0.84-0.85; the paper's schedule gave 0.84).
#: ``mce`` is Madry's PGD training with the MCE criterion of Zhang et al. (2022).
#: ``rub`` is RobustUpperBoundTraining's exact one-hidden-layer bound (``arub`` its default).
DEFENSE_PARAMS = {"fat": {"tau": 2}, "mce": {"criterion": "MCELoss"}, "rub": {"method": "rub"}}

#: Attacks of the default run (see :data:`robustsk.report.attacks.ATTACKS` for all).
DEFAULT_ATTACKS = ("fgsm", "pgd", "apgd")

#: Radii of the accuracy-against-eps curves, for images in [0, 1].
DEFAULT_EPS_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)

#: ``--norm`` choices: the Linf and the L2 ball, for training and attacks.
NORMS = ("inf", "2")

#: ``--eps`` when not given, per norm (pixels in [0, 1]; an 8x8 digit has
#: L2 norm about 4, and the L2 ball of radius 0.8 holds the Linf ball of 0.1).
DEFAULT_EPS = {"inf": 0.1, "2": 1.0}

#: Radii of the curves under ``--norm 2`` when ``--eps-grid`` is not given.
DEFAULT_L2_EPS_GRID = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0)

#: ``max_epochs`` of the default run. On digits at eps 0.1 every defense then
#: ends 21-23 points of PGD-20 accuracy above the baseline (15 epochs: 25; 20:
#: 30), and the whole default run takes about 85 s of CPU, so it stays within 3
#: minutes on 2 cores even when other work shares them.
DEFAULT_EPOCHS = 12

#: Default sizes of the Fashion-MNIST subsets.
FASHION_MNIST_SIZES = (5000, 1000)

#: How many ``--threads`` the command line uses by default: the networks are
#: tiny (8x8 digits, batch 64), so a second intra-op thread gains little, and on
#: a shared machine two threads that wait on each other ran 5-8x slower.
DEFAULT_THREADS = 1

DATASETS = ("digits", "fashion-mnist")

CLEAN = "clean"

#: The summary column of interval-bound-propagation certified accuracy at eps.
CERTIFIED = "certified"


class ReportOptionError(ValueError):
    """An option of the report is invalid (unknown name, negative eps, unusable model, ...)."""


def split_names(value, choices, what):
    """Names of a comma list (or sequence) checked against ``choices``; repeats dropped.

    The single name ``all`` stands for every choice, in their order.
    """
    names = [name.strip().lower() for name in value.split(",")] if isinstance(value, str) \
        else [str(name).lower() for name in value]
    names = [name for name in names if name]
    if names == ["all"]:
        return list(choices)
    if not names:
        raise ReportOptionError(f"--{what} is empty: give a comma-separated list of "
                                f"{', '.join(choices)}.")
    for name in names:
        if name not in choices:
            close = difflib.get_close_matches(name, list(choices), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ReportOptionError(f"unknown {what[:-1]} {name!r} in --{what}: expected "
                                    f"names from {', '.join(choices)} (or all).{hint}")
    return list(dict.fromkeys(names))


def check_eps(value, what):
    """``value`` as a finite radius >= 0."""
    try:
        eps = float(value)
    except (TypeError, ValueError):
        raise ReportOptionError(f"{what}={value!r} is not a number: expected a radius >= 0, "
                                "e.g. 0.1.") from None
    if not np.isfinite(eps) or eps < 0:
        raise ReportOptionError(f"{what}={value!r}: expected a finite radius >= 0 in the "
                                "[0, 1] pixel scale, e.g. 0.1.")
    return eps


def eps_grid(value, eps=None):
    """Sorted unique radii of a comma list or sequence, with ``eps`` added (unless None).

    Radii within ``np.isclose`` of each other (how the tables match a radius)
    count once: ``eps`` where it is one of them, else the smallest.
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [item for item in items if not (isinstance(item, str) and not item.strip())]
    if not items:
        raise ReportOptionError("--eps-grid is empty: give radii such as 0,0.05,0.1.")
    grid = sorted({check_eps(item.strip() if isinstance(item, str) else item,
                             "eps-grid value") for item in items})
    # radii the tables tell apart with np.isclose count once; eps itself is kept exactly
    if eps is not None:
        grid = [e for e in grid if not np.isclose(e, eps)] + [eps]
    unique = []
    for e in sorted(grid):
        if unique and np.isclose(e, unique[-1]):
            if eps is not None and e == eps:
                unique[-1] = e
            continue
        unique.append(e)
    return unique


def check_count(value, what, minimum):
    """An integer >= ``minimum`` (None passes through)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ReportOptionError(f"{what}={value!r}: expected an integer >= {minimum}.")
    return int(value)


def check_norm(value):
    """``"inf"`` or ``"2"`` from the spellings robustsk accepts (:class:`robustsk.params.Norm`'s,
    and a number written as ``2.0``)."""
    text = str(value).strip().lower()
    if text in Norm.INF:
        return "inf"
    if text in Norm.TWO or _as_number(text) == 2:
        return "2"
    raise ReportOptionError(f"--norm {value!r}: expected inf (the Linf ball) or 2 (the L2 "
                            "ball).")


def _as_number(text):
    try:
        return float(text)
    except ValueError:
        return None


def default_eps(norm):
    """``--eps`` when it is not given: 0.1 for Linf, 1.0 for L2."""
    return DEFAULT_EPS[check_norm(norm)]


def default_eps_grid(norm):
    """The curves' radii when ``--eps-grid`` is not given."""
    return DEFAULT_EPS_GRID if check_norm(norm) == "inf" else DEFAULT_L2_EPS_GRID
