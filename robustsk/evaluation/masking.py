"""Checks for gradient masking: signs that gradient attacks overstate robustness.

A defense can look robust because gradient attacks fail on it, not because
adversarial examples are absent (Athalye, Carlini & Wagner, 2018). The checks
here are the standard symptoms (Carlini et al., 2019, and AutoAttack's flags):

=============================  ===============================================
warning                         fires when
=============================  ===============================================
``BlackBoxBeatsWhiteBoxWarning``  a gradient-free attack fools examples the
                                  gradient attacks could not
``MoreStepsHelpWarning``          more steps and restarts lower accuracy further
``LargeEpsWarning``               accuracy stays above ~0 at a huge radius
``ZeroGradientWarning``           input gradients are zero, NaN or vanishing
``RandomizedModelWarning``        two predictions on one input differ
``SoftmaxOutputWarning``          the module outputs probabilities, not logits
``SaturatedCrossEntropyWarning``  a scale-invariant attack (DLR, margin) fools
                                  many more examples than the CE attacks
=============================  ===============================================

Each is a :class:`GradientMaskingWarning` (a ``UserWarning``); their
docstrings give the cause and the fix. :func:`check_gradient_masking` runs
them and returns one :class:`MaskingFinding` per warning that fired.
"""
from dataclasses import dataclass
from typing import Any
import warnings

import numpy as np
from sklearn.base import clone
import torch

from ..attacks import (
    APGD,
    FAB,
    ThreatDefaults,
    WorstCase,
    check_threat,
    derive_seed,
    model_input,
    scale_invariant_apgd,
    seed_from_random_state,
)
from ._ensemble import ensemble, gradient_free_attack, loss_kind, named_attacks
from ._inputs import check_data, check_estimator
from ._models import EOTModule, is_randomized
from ._runner import configure, differentiable_target, is_gradient_free, run_attack
from .findings import (
    SATURATION_TOL,
    BlackBoxBeatsWhiteBoxWarning,
    GradientMaskingWarning,
    LargeEpsWarning,
    MaskingFinding,
    MoreStepsHelpWarning,
    RandomizedModelWarning,
    SaturatedCrossEntropyWarning,
    SoftmaxOutputWarning,
    ZeroGradientWarning,
    black_box_finding,
    finding,
    more_steps_finding,
    randomized_finding,
    saturation_finding,
    softmax_finding,
    zero_gradient_finding,
)

__all__ = ["GradientMaskingWarning", "BlackBoxBeatsWhiteBoxWarning", "MoreStepsHelpWarning",
           "LargeEpsWarning", "ZeroGradientWarning", "RandomizedModelWarning",
           "SoftmaxOutputWarning", "SaturatedCrossEntropyWarning", "MaskingFinding",
           "check_gradient_masking", "gradient_free_attack", "SATURATION_TOL"]


def stronger(attack, steps_factor=2, extra_restarts=1):
    """A copy of ``attack`` with ``steps_factor`` times the steps and more restarts.

    Targeted attacks (one run per target class already) get the extra steps only.
    """
    attack = clone(attack)
    if isinstance(attack, WorstCase):
        return attack.set_params(attacks=[stronger(a, steps_factor, extra_restarts)
                                          for a in attack.attacks])
    params = attack.get_params(deep=False)
    update = {}
    for name in ("n_iter", "n_queries", "max_queries"):
        if isinstance(params.get(name), int):
            update[name] = params[name] * steps_factor
    targeted = bool(params.get("targeted")) or str(params.get("loss")).lower() == "dlr-targeted"
    if isinstance(params.get("n_restarts"), int) and not targeted:
        update["n_restarts"] = params["n_restarts"] + extra_restarts
    return attack.set_params(**update)


class AttackRecord:
    """Which rows each attack ran on and fooled at one radius, completed on demand.

    Each attack's result on a row does not depend on the other rows (random
    streams are seeded by the row in ``X``), so an attack run later on rows it
    skipped gives exactly what it would have given them in the evaluation:
    the checks compare attacks per example whatever order they ran in.

    Parameters
    ----------
    n : int
        Rows of ``X``.

    Attributes
    ----------
    attacks : dict of str to (Attack, int)
        Each attack and the key its seed is derived from (``MaskingSetup.run``).
    attacked, fooled : dict of str to ndarray of bool of shape (n,)
        The rows each attack ran on, and those it fooled (verified).
    """

    def __init__(self, n):
        self.n = n
        self.attacks, self.attacked, self.fooled = {}, {}, {}

    def add(self, name, attack, key, rows=(), verified=()):
        """Record that ``attack`` (seeded by ``key``) ran on ``rows`` and fooled ``verified``."""
        if name not in self.attacks:
            self.attacks[name] = (attack, key)
            self.attacked[name] = np.zeros(self.n, dtype=bool)
            self.fooled[name] = np.zeros(self.n, dtype=bool)
        rows = np.asarray(rows, dtype=np.int64)
        self.attacked[name][rows] = True
        self.fooled[name][rows[np.asarray(verified, dtype=bool)]] = True

    def known(self, names):
        """Rows some attack of ``names`` is known to fool (without running anything)."""
        out = np.zeros(self.n, dtype=bool)
        for name in names:
            out |= self.fooled[name]
        return out

    def fools(self, setup, eps, rows, names):
        """Per row of ``rows``, whether an attack of ``names`` fools it.

        An attack that skipped an undecided row (an earlier attack had fooled
        it) is run on it now, with the seed it ran with.
        """
        rows = np.asarray(rows, dtype=np.int64)
        hit = np.zeros(len(rows), dtype=bool)
        for name in names:
            missing = rows[~hit & ~self.attacked[name][rows]]
            if len(missing):
                attack, key = self.attacks[name]
                self.add(name, attack, key, missing,
                         setup.run(attack, eps, key, missing, name=name).verified)
            hit |= self.fooled[name][rows]
        return hit

    def beyond(self, setup, eps, first, others):
        """The correctly classified rows an attack of ``first`` fools and none of ``others``."""
        rows = np.flatnonzero(setup.clean_ok & ~self.known(others))
        rows = rows[self.fools(setup, eps, rows, first)]
        return rows[~self.fools(setup, eps, rows, others)]


def saturation_check(setup, named, eps, record, n_classes, key=70, tol=SATURATION_TOL):
    """Compare the CE and the scale-invariant attacks of ``named`` at ``eps``.

    Counts the examples a scale-invariant attack fools and no CE attack does,
    per attack (:class:`AttackRecord`), whatever order the attacks ran in:
    an attack that skipped such an example (another had fooled it first) is
    run on it. When ``named`` has no scale-invariant attack,
    :func:`~robustsk.attacks.scale_invariant_apgd` (20 iterations, 3
    targets, seeded by ``key``) runs on what the CE attacks left.

    Parameters
    ----------
    setup : MaskingSetup
    named : dict of str to Attack
    eps : float
    record : AttackRecord
        What the attacks of ``named`` did at ``eps``.
    n_classes : int
    key : int, default=70
    tol : float, default=SATURATION_TOL

    Returns
    -------
    finding : MaskingFinding or None
    """
    order = list(named)
    ce = [k for k in order if loss_kind(named[k]) == "ce"]
    invariant = [k for k in order if loss_kind(named[k]) == "scale-invariant"]
    if not ce or setup.target is None:
        return None
    if not invariant:
        name, attack, _ = scale_invariant_apgd(n_classes, n_iter=20, n_target_classes=3)
        record.add(name, attack, key)
        invariant = [name]
    n_gap = len(record.beyond(setup, eps, invariant, ce))
    return saturation_finding(n_gap, len(setup.y), eps, ce, invariant, tol)


def large_eps_eps(estimator, target, eps, X, norm, factor=10.0):
    """The huge radius of the large-eps check: the box's width, or ``factor * eps``."""
    lo = target.threat_default("clip_min") if target is not None else None
    hi = target.threat_default("clip_max") if target is not None else None
    if lo is not None and hi is not None:
        shape = np.asarray(X).shape[1:]
        width = np.broadcast_to(np.asarray(hi, float) - np.asarray(lo, float), shape)
        return float(width.max() if norm == "inf" else np.linalg.norm(width.ravel()))
    return float(factor * eps)


def large_eps_run(estimator, target, X, y, index, huge, seed, eot_iter, batch_size, tol):
    attacks = [APGD(n_iter=20, loss="ce"), APGD(n_iter=20, loss="margin")]
    todo = np.asarray(index)
    n_clean = len(todo)
    for pos, attack in enumerate(attacks):
        if len(todo) == 0:
            break
        run = run_attack(estimator, target, configure(attack, huge, derive_seed(seed, 101 + pos)),
                         X, y, todo, eot_iter=eot_iter, batch_size=batch_size,
                         name=f"large-eps APGD-{attack.loss}")
        todo = todo[~run.verified]
    frac = len(todo) / max(n_clean, 1)
    if frac <= tol:
        return None
    return finding(LargeEpsWarning,
                   f"At the huge radius eps={huge:g} APGD still left {len(todo)} of {n_clean} "
                   f"correctly classified examples ({frac:.0%}) unfooled; a working attack "
                   "reaches about 0% there. The gradients do not lead the attack "
                   "(gradient masking) or the threat model's units are off.",
                   frac, tol, eps=huge, n_survivors=len(todo), n=n_clean)


def _white_box(attack, n_classes, n_iter=50):
    """The white-box attacks to check, by name: ``attack``, or the ensemble's APGD attacks
    (its minimum-norm FAB-T is left out: the checks concern the losses' gradients)."""
    if attack is None:
        return {k: a for k, a in ensemble(n_classes, n_iter=n_iter)[0].items()
                if not is_gradient_free(a) and not isinstance(a, FAB)}
    return named_attacks(attack, n_classes)[0]


@dataclass(frozen=True)
class MaskingSetup:
    """What every gradient-masking check needs, computed once by the caller.

    Attributes
    ----------
    estimator : fitted classifier
    target : AttackTarget or None
        ``differentiable_target(estimator)``.
    X, y : ndarray
        The checked examples and their labels.
    clean_ok : ndarray of bool
        Which examples ``estimator.predict`` gets right.
    randomized : bool
    eot_iter : int
    seed : int
        The seed the checks' attack seeds are derived from.
    batch_size : int
    """

    estimator: Any
    target: Any
    X: Any
    y: Any
    clean_ok: Any
    randomized: bool
    eot_iter: int
    seed: int
    batch_size: int

    def run(self, attack, eps, key, index, name=None):
        """Run ``attack`` at ``eps`` on the rows ``index``, seeded by ``derive_seed(seed, key)``."""
        return run_attack(self.estimator, self.target,
                          configure(attack, eps, derive_seed(self.seed, key)), self.X, self.y,
                          index, eot_iter=self.eot_iter, batch_size=self.batch_size, name=name)


def _model_findings(setup):
    """The randomized-model, softmax and zero-gradient checks."""
    findings = [randomized_finding(setup.randomized, setup.eot_iter)]
    if setup.target is not None:
        findings += module_findings(setup.target, setup.X, setup.y, setup.clean_ok,
                                    setup.eot_iter, setup.batch_size)
    return findings


def _large_eps_finding(setup, eps, huge, tol):
    """APGD at a huge radius (None when the target is not differentiable)."""
    if setup.target is None:
        return None
    if huge is None:
        norm = APGD().resolve_threat(setup.target.with_defaults(eps=eps)).norm
        huge = large_eps_eps(setup.estimator, setup.target, eps, setup.X, norm)
    return large_eps_run(setup.estimator, setup.target, setup.X, setup.y,
                         np.flatnonzero(setup.clean_ok), huge, setup.seed, setup.eot_iter,
                         setup.batch_size, tol)


def _lp_attacks(setup, named, eps):
    """The attacks of ``named`` whose threat model is an Lp ball at ``eps``.

    The black-box and saturation checks compare Lp attacks with each other;
    an attack with its own threat model (IWD, Spatial) is left out of them.
    """
    target = setup.target if setup.target is not None else ThreatDefaults(setup.estimator)
    out = {}
    for name, attack in named.items():
        try:
            lp = configure(attack, eps, 0).resolve_threat(target).is_lp
        except (TypeError, ValueError, AttributeError):  # cannot tell: keep it, as before
            lp = True
        if lp:
            out[name] = attack
    return out


def evaluation_findings(setup, named, grid, per_eps, skip_fooled, tol=0.02,
                        more_steps=(2, 1), large_eps_tol=0.05):
    """The gradient-masking checks of ``evaluate_robustness``, reusing what it already ran.

    Parameters
    ----------
    setup : MaskingSetup
    named : dict of str to Attack
        The evaluated attacks, in the order they ran.
    grid : list of float
        The evaluated radii.
    per_eps : dict of float to dict
        Per radius, ``"survivors"`` (rows no attack fooled) and ``"record"``
        (an :class:`AttackRecord` of what each attack of ``named`` did, seeded
        by its position in ``named``). The black-box and saturation checks
        compare the attacks per example, whatever their order: an attack that
        skipped an example another had fooled is run on it when that decides
        the check. Only the attacks with an Lp threat model take part in
        these two checks (not IWD or Spatial).
    skip_fooled : bool
        Whether the evaluation skipped the examples already fooled (kept for
        callers; the checks no longer depend on it).
    tol, large_eps_tol : float
    more_steps : (int, int)
        The steps factor and extra restarts of the more-steps check.

    Returns
    -------
    findings : list of MaskingFinding
        Also issued as warnings.
    """
    findings = _model_findings(setup)
    white = [k for k, a in named.items() if not is_gradient_free(a)]
    black = [k for k, a in named.items() if is_gradient_free(a)]
    check_eps = [e for e in grid if e > 0]
    main = getattr(setup.estimator, "eps", None)
    main = main if main in check_eps else (check_eps[len(check_eps) // 2] if check_eps else None)
    n = len(setup.y)
    n_classes = len(getattr(setup.estimator, "classes_", np.unique(setup.y)))
    for e in check_eps:
        record = per_eps[e]["record"]
        lp = _lp_attacks(setup, named, e)
        lp_white = [k for k in white if k in lp]
        if not lp_white:
            continue
        findings.append(saturation_check(setup, lp, e, record, n_classes))
        names = shown = [k for k in black if k in lp]
        if not names:  # run a gradient-free attack on what the white-box attacks left
            names, shown = ["Square (black-box check)"], ["Square"]
            record.add(names[0], gradient_free_attack()[0], 50)
        beaten = len(record.beyond(setup, e, names, lp_white))
        findings.append(black_box_finding(beaten, n, e, shown, tol))
    if main is not None and white:
        survivors = per_eps[main]["survivors"]
        for pos, name in enumerate(white):
            if len(survivors) == 0:
                break
            strong = stronger(named[name], *more_steps)
            run = setup.run(strong, main, 60 + pos, survivors, name=f"{name} (more steps)")
            survivors = survivors[~run.verified]
        n_more = len(per_eps[main]["survivors"]) - len(survivors)
        findings.append(more_steps_finding(n_more, n, main, tol, *more_steps))
        findings.append(_large_eps_finding(setup, main, None, large_eps_tol))
    findings = [f for f in findings if f is not None]
    issue(findings, stacklevel=4)
    return findings


def check_gradient_masking(estimator, X, y, eps=None, *, attack=None, black_box=None,
                           random_state=None, eot_iter=None, tol=0.02, large_eps_tol=0.05,
                           steps_factor=2, extra_restarts=1, large_eps=None,
                           max_examples=200, batch_size=256, warn=True,
                           saturation_tol=SATURATION_TOL):
    """Run the gradient-masking checks and return what they found.

    The white-box ``attack`` is run on the correctly classified examples; then a
    copy with ``steps_factor`` times the steps and ``extra_restarts`` more
    restarts, and a gradient-free attack, on its survivors; APGD at a huge
    radius; the comparison of cross-entropy and scale-invariant attacks
    (:class:`SaturatedCrossEntropyWarning`); and the cheap checks of outputs
    and gradients.

    Parameters
    ----------
    estimator : fitted robustsk estimator (or any differentiable target)
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
    eps : float, default=None
        Radius; None uses the estimator's ``eps``.
    attack : Attack, list or dict of Attack, default=None
        The white-box attacks whose result is being checked, run in turn on
        the examples not yet fooled; None uses the gradient attacks of
        :func:`~robustsk.evaluation.autoattack_ensemble` with 50 iterations
        (APGD-CE and targeted APGD-DLR, or their substitutes for few classes).
    black_box : Attack, default=None
        The gradient-free attack; None uses :func:`gradient_free_attack`.
    random_state : int or None, default=None
        Seeds the attacks and the model's own randomness (in a forked torch
        generator: the global state is untouched).
    eot_iter : int, default=None
        Forward passes averaged per gradient on a randomized model; None: 20
        if the model is randomized, else 1.
    tol : float, default=0.02
        A black-box or more-steps check fires when accuracy drops by
        significantly more than this (one-sided exact binomial test at level
        0.05, :func:`beyond_tolerance`: 2 of 60 examples is not enough).
    large_eps_tol : float, default=0.05
        The large-eps check fires when more than this fraction survives.
    steps_factor, extra_restarts : int, default=2, 1
        How much stronger the more-steps attacks are (targeted attacks get
        the extra steps only: they already run once per target class).
    large_eps : float, default=None
        The huge radius; None: the box's width (Linf; its L2 length for L2),
        or ``10 * eps`` when the box is open.
    max_examples : int, default=200
        The checks use the first ``max_examples`` examples.
    batch_size : int, default=256
    warn : bool, default=True
        Also issue each finding as a warning of its class.
    saturation_tol : float, default=0.1
        The saturated-CE check fires when the scale-invariant attacks fool
        more than this fraction of the examples beyond what the cross-entropy
        attacks fool (:class:`SaturatedCrossEntropyWarning`).

    Returns
    -------
    findings : list of MaskingFinding
        Empty when nothing was found.

    References
    ----------
    .. [1] Athalye, A., Carlini, N. and Wagner, D. "Obfuscated Gradients Give a
       False Sense of Security." ICML, 2018.
    .. [2] Carlini, N. et al. "On Evaluating Adversarial Robustness."
       arXiv:1902.06705, 2019.
    .. [3] Croce, F. and Hein, M. "Reliable evaluation of adversarial robustness
       with an ensemble of diverse parameter-free attacks." ICML, 2020.

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import StandardTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = StandardTraining(max_epochs=3, clip_min=0, clip_max=1,
    ...                        random_state=0).fit(X[:300], y[:300])
    >>> findings = check_gradient_masking(clf, X[300:360], y[300:360], eps=0.1,
    ...                                   random_state=0)
    >>> [f.name for f in findings]
    []
    """
    check_estimator(estimator)
    X, y = check_data(X, y, [estimator])
    X, y = X[:max_examples], y[:max_examples]
    if eps is None:
        eps = getattr(estimator, "eps", None)
    eps, _, _ = check_threat(eps, "inf", 0.0)
    seed = seed_from_random_state(random_state)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clean_ok = np.asarray(estimator.predict(model_input(estimator, X))) == y
        randomized = is_randomized(estimator, X)
        eot = resolve_eot(eot_iter, randomized)
        setup = MaskingSetup(estimator, differentiable_target(estimator), X, y, clean_ok,
                             randomized, eot, seed, batch_size)
        findings = _model_findings(setup)
        n_classes = len(getattr(estimator, "classes_", np.unique(y)))
        white = _white_box(attack, n_classes)
        survivors = np.flatnonzero(clean_ok)
        record = AttackRecord(len(y))
        for pos, (name, a) in enumerate(white.items()):
            fooled = setup.run(a, eps, pos, survivors, name=name).verified
            record.add(name, a, pos, survivors, fooled)
            survivors = survivors[~fooled]
        findings.append(saturation_check(setup, white, eps, record, n_classes,
                                         tol=saturation_tol))
        if not all(is_gradient_free(a) for a in white.values()):
            left = survivors
            for pos, (name, a) in enumerate(white.items()):
                more = setup.run(stronger(a, steps_factor, extra_restarts), eps, 20 + pos, left,
                                 name=f"{name} (more steps)")
                left = left[~more.verified]
            findings.append(more_steps_finding(len(survivors) - len(left), len(y), eps, tol,
                                               steps_factor, extra_restarts))
            if black_box is None:
                black_box, _ = gradient_free_attack()
            bb = setup.run(black_box, eps, 40, survivors)
            findings.append(black_box_finding(int(bb.verified.sum()), len(y), eps,
                                              [type(black_box).__name__], tol))
        findings.append(_large_eps_finding(setup, eps, large_eps, large_eps_tol))
    findings = [f for f in findings if f is not None]
    if warn:
        issue(findings)
    return findings


def resolve_eot(eot_iter, randomized):
    """``eot_iter``, or its default: 20 for a randomized model, 1 otherwise."""
    if eot_iter is None:
        return 20 if randomized else 1
    if isinstance(eot_iter, bool) or not isinstance(eot_iter, (int, np.integer)) or eot_iter < 1:
        raise ValueError(f"eot_iter={eot_iter!r}: expected an integer >= 1 (forward passes "
                         "averaged per gradient), or None for 20 on randomized models.")
    return int(eot_iter)


def module_findings(target, X, y, clean_ok, eot_iter, batch_size):
    """The softmax and zero-gradient checks on the correctly classified examples."""
    x = target.prepare_X(X)
    y_t = target.encode_y(y, n_samples=len(x))
    found = [softmax_finding(target.module, x, batch_size)]
    keep = torch.as_tensor(np.flatnonzero(clean_ok))
    if len(keep):
        module = EOTModule(target.module, eot_iter) if eot_iter > 1 else target.module
        found.append(zero_gradient_finding(module, x[keep], y_t[keep], batch_size))
    return found


def issue(findings, stacklevel=3):
    """Issue each finding as a warning of its class."""
    for f in findings:
        warnings.warn(f.message, f.category, stacklevel=stacklevel)
