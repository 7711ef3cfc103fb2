"""Robustness evaluation: the per-example worst case over an ensemble of attacks.

:func:`evaluate_robustness` runs a list of attacks (by default an
AutoAttack-style ensemble) over one radius or a grid, attacking only the
examples no earlier attack has fooled, re-checks every reported success with
``estimator.predict``, detects randomized models and attacks them with
expectation over transformation, runs the gradient-masking checks, and
returns a frozen :class:`RobustnessResult` with tidy pandas frames.

Accuracy is the library's: robust accuracy is the fraction of **all**
examples still classified correctly under attack; an example misclassified
without attack counts as a failure (as in :func:`robustsk.metrics.robust_accuracy`).
"""
from dataclasses import dataclass, field
import numbers
import platform
import time
from types import MappingProxyType
from typing import Mapping

import numpy as np
import pandas as pd
import torch

from ..attacks import (
    check_positive_int,
    check_threat,
    derive_seed,
    model_input,
    output_like,
    seed_from_random_state,
)
from ..parallel import limit_worker_threads
from . import masking
from ._ensemble import WORST, ensemble, named_attacks
from ._inputs import check_data, check_estimator
from ._models import is_randomized
from ._runner import configure, differentiable_target, run_attack

__all__ = ["RobustnessResult", "evaluate_robustness", "autoattack_ensemble"]

#: the more-steps check of an evaluation: twice the steps and one more restart
#: of every gradient attack, on the examples the whole ensemble left
MORE_STEPS = (2, 1)
FRAME_COLUMNS = ["example_id", "eps", "attack", "attacked", "correct", "perturbation_norm",
                 "queries"]


@dataclass(frozen=True, eq=False)
class RobustnessResult:
    """The outcome of :func:`evaluate_robustness`.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per example, eps and attack (the attacks in order, then
        ``attack == "worst-case"``), columns ``example_id`` (row of ``X``),
        ``eps``, ``attack``, ``attacked`` (bool: the attack ran on the example;
        examples misclassified already, or fooled by an earlier attack, are
        skipped and listed with ``attacked=False``), ``correct`` (bool: still
        classified correctly after this attack; with ``skip_fooled=True`` this
        is the worst case over this attack and the earlier ones),
        ``perturbation_norm`` (threat-norm size of the returned point; NaN where
        not attacked; for the worst case, of the adversarial example found, NaN
        where none was), ``queries`` (model evaluations spent on the example:
        counted exactly by the score-based attacks (Square, SPSA); for the
        gradient attacks their per-example budget, an upper bound since they
        stop on fooled examples (``metadata["queries_exact"]`` says which); 0
        where not attacked; summed over attacks for the worst case).
    summary : pandas.DataFrame
        Per ``eps`` and ``attack``: ``clean_accuracy``, ``robust_accuracy``
        (fraction of all examples ``correct``), ``n``, ``n_attacked``,
        ``n_unverified`` (reported successes the re-check rejected),
        ``forward_passes`` (examples passed forward through the network by
        the attack, NaN where not counted: attacks without a torch function),
        ``backward_passes`` (of those, the examples a gradient was taken for:
        one backward pass each) and ``seconds``. Examples already fooled
        leave the batch (and, with ``skip_fooled``, the later attacks), so
        these are what the evaluation spent, below the attacks' budgets.
    findings : tuple of MaskingFinding
        Gradient-masking symptoms found (empty if none or not checked).
    randomized : bool
        Whether two predictions on the same input differed.
    eot_iter : int
        Forward passes averaged per gradient (1: no expectation over transformation).
    attacks : tuple of str
        The attacks' names, in the order they ran.
    notes : tuple of str
        Substitutions made (e.g. the loss used for models with few classes).
    metadata : mapping
        Seeds, settings, versions (python, torch, sklearn, skorch, robustsk, ...)
        and timing.
    adversarial_examples : mapping of float to ndarray
        Per eps, ``X`` with each fooled example replaced by its adversarial
        example, in the dtype the attacks return: ``X``'s own if float32 or
        float64, else float32 (integer ``X`` would truncate the examples).
    """

    frame: pd.DataFrame
    summary: pd.DataFrame
    findings: tuple = ()
    randomized: bool = False
    eot_iter: int = 1
    attacks: tuple = ()
    notes: tuple = ()
    metadata: Mapping = field(default_factory=dict)
    adversarial_examples: Mapping = field(default_factory=dict)

    @property
    def clean_accuracy(self):
        """Fraction of the examples classified correctly without attack."""
        return float(self.summary["clean_accuracy"].iloc[0])

    @property
    def robust_accuracy(self):
        """Worst-case robust accuracy per eps (a Series indexed by eps)."""
        rows = self.summary[self.summary["attack"] == WORST]
        return pd.Series(rows["robust_accuracy"].to_numpy(), index=rows["eps"].to_numpy(),
                         name="robust_accuracy")

    @property
    def passes(self):
        """Forward and backward passes the attacks spent, per eps and attack (a DataFrame).

        Columns ``eps``, ``attack``, ``n_attacked``, ``forward_passes``,
        ``backward_passes`` and ``seconds``; the ``"worst-case"`` rows are the
        evaluation's totals per eps (NaN where an attack's passes were not
        counted).
        """
        return self.summary[["eps", "attack", "n_attacked", "forward_passes",
                             "backward_passes", "seconds"]].reset_index(drop=True)

    @property
    def masking_detected(self):
        """True when a gradient-masking check fired."""
        return len(self.findings) > 0

    def __repr__(self):
        acc = ", ".join(f"eps={e:g}: {a:.3f}" for e, a in self.robust_accuracy.items())
        flags = ", ".join(f.name for f in self.findings) or "none"
        return (f"RobustnessResult(clean_accuracy={self.clean_accuracy:.3f}, robust_accuracy="
                f"{{{acc}}}, attacks={list(self.attacks)}, randomized={self.randomized}, "
                f"findings=[{flags}])")


# ------------------------------------------------------------------ validation
def _eps_grid(estimator, eps):
    if eps is None:
        eps = getattr(estimator, "eps", None)
        if eps is None:
            raise ValueError(f"eps=None and {type(estimator).__name__} has no eps: give the "
                             "radius (eps=0.1) or a grid (eps=[0.05, 0.1]).")
    values = [eps] if isinstance(eps, numbers.Real) else list(np.ravel(np.asarray(eps,
                                                                              dtype=object)))
    if not values:
        raise ValueError("eps is an empty list: give at least one radius.")
    grid = [check_threat(v, "inf", 0.0)[0] for v in values]
    if len(set(grid)) != len(grid):
        raise ValueError(f"eps={list(values)} has repeated values: give each radius once.")
    return grid


# -------------------------------------------------------------------- attacks
def autoattack_ensemble(n_classes, *, n_iter=100, n_queries=5000, n_target_classes=9):
    """The default ensemble: APGD-CE, targeted APGD-DLR, targeted FAB and Square,
    as in AutoAttack's standard version.

    For models with few classes the DLR attack is replaced: untargeted APGD-DLR
    for 3 classes (the targeted DLR loss needs 4), APGD with the margin loss
    for 2 (DLR needs 3). FAB-T (:class:`robustsk.attacks.FAB`, minimum-norm,
    targeted at the ``min(n_target_classes, n_classes - 1)`` most likely other
    classes) counts an example fooled when the closest adversarial example it
    finds lies within ``eps``.

    Parameters
    ----------
    n_classes : int
    n_iter : int, default=100
        Iterations of each APGD and FAB run.
    n_queries : int, default=5000
        Queries of the gradient-free attack.
    n_target_classes : int, default=9
        Target classes of targeted APGD-DLR and FAB-T (at most ``n_classes - 1``).

    Returns
    -------
    attacks : dict of str to Attack
        In the order they run.

    References
    ----------
    .. [1] Croce, F. and Hein, M. "Reliable evaluation of adversarial robustness
       with an ensemble of diverse parameter-free attacks." ICML, 2020.
    .. [2] Andriushchenko, M. et al. "Square Attack: a query-efficient black-box
       adversarial attack via random search." ECCV, 2020.
    .. [3] Croce, F. and Hein, M. "Minimally distorted Adversarial Examples with
       a Fast Adaptive Boundary Attack." ICML, 2020.

    Examples
    --------
    >>> list(autoattack_ensemble(10, n_iter=20))
    ['APGD-CE', 'APGD-T', 'FAB-T', 'Square']
    >>> list(autoattack_ensemble(2))[1]
    'APGD-margin'
    """
    n_classes = check_positive_int(n_classes, "n_classes", 2)
    return ensemble(n_classes, n_iter, n_queries, n_target_classes)[0]


def _versions():
    import sklearn
    import skorch

    from .. import __version__
    return {"python": platform.python_version(), "numpy": np.__version__,
            "pandas": pd.__version__, "torch": torch.__version__, "sklearn": sklearn.__version__,
            "skorch": skorch.__version__, "robustsk": __version__}


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return repr(value)


# --------------------------------------------------------------- evaluation
def _progress(verbose, message):
    if verbose:
        print(f"[evaluate_robustness] {message}", flush=True)


def evaluate_robustness(estimator, X, y, attacks=None, eps=None, *, random_state=None,
                        eot_iter=None, check_masking=True, skip_fooled=True, batch_size=256,
                        verbose=0):
    """Worst-case robust accuracy over an ensemble of attacks, with sanity checks.

    For each radius, the attacks run in order on the examples that are still
    classified correctly (clean mistakes and examples an earlier attack fooled
    are skipped: the per-example worst case is the same, for fewer passes).
    Attacks with a torch function, and score-based attacks (Square, SPSA)
    against any classifier, draw their randomness from per-example streams
    seeded by the example's row in ``X``, so an example gets exactly the
    attack it would get if the attack ran alone on all of ``X``.

    Every reported success is re-checked: the adversarial example must lie in
    the ball and the box, and ``estimator.predict`` (eval mode) must
    misclassify it; a success that fails is counted as not fooled and an
    :class:`~robustsk.evaluation.UnverifiedSuccessWarning` is issued.

    A randomized model (two predictions on one input differ) is attacked with
    expectation over transformation: gradient attacks see the mean logits of
    ``eot_iter`` forward passes (:class:`~robustsk.evaluation.EOTModule`).

    Parameters
    ----------
    estimator : fitted classifier
        A robustsk estimator (or a differentiable target such as a Pipeline
        ending in one) for the gradient attacks; any fitted classifier with
        ``predict_proba`` or ``decision_function`` for gradient-free attacks.
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
    attacks : Attack, list or dict of Attack, default=None
        Run in this order (the cheapest first saves the most: later attacks
        skip what earlier ones fooled; the order changes neither the worst
        case nor the masking checks, which compare the attacks per example).
        None: :func:`autoattack_ensemble`
        (APGD-CE, targeted APGD-DLR, targeted FAB, Square; substitutes for few
        classes are listed in ``notes``); for a model the gradient attacks
        cannot differentiate (a random forest, a kernel SVM, a pipeline with
        non-affine steps), its Square attack alone, without the masking
        checks (both said in ``notes``). Dict keys name the attacks. Each attack's ``eps``
        is replaced by the evaluated radius; a ``random_state`` left None is
        derived from ``random_state`` and the attack's position.
    eps : float or list of float, default=None
        Radius or grid of radii; None uses the estimator's ``eps``.
    random_state : int, RandomState or None, default=None
        Seeds the attacks and, in a forked torch generator, the model's own
        randomness (the global generators are untouched). None draws a seed,
        recorded in ``metadata["seed"]``.
    eot_iter : int, default=None
        Forward passes averaged per gradient; None: 20 for a randomized model,
        1 otherwise.
    check_masking : bool, default=True
        Run the gradient-masking checks (:func:`check_gradient_masking`'s
        symptoms), issue their warnings and store them in ``findings``. The
        black-box check counts the examples a gradient-free attack fools and
        no gradient attack does; where a gradient attack skipped such an
        example (with ``skip_fooled``, after a gradient-free attack fooled it
        first), it is run on it, so the verdict does not depend on the
        attacks' order. Attacks with their own threat model (IWD, Spatial)
        take no part in it, nor in the comparison of the cross-entropy
        attacks with the scale-invariant ones (DLR, targeted DLR, margin),
        made in the same way: a
        :class:`~robustsk.evaluation.SaturatedCrossEntropyWarning` when the
        latter fool more than 10% of all examples beyond the former (logits
        scaled up, a saturated softmax: cross-entropy gradients vanish).
    skip_fooled : bool, default=True
        Attack only the examples no earlier attack fooled. False attacks every
        correctly classified example with every attack (each attack's own
        accuracy, at more cost; the worst case is the same).
    batch_size : int, default=256
        Batch size of the checks (attacks batch by their own ``batch_size``).
    verbose : int, default=0
        1 prints a progress line before and after each attack (examples
        attacked, seconds, robust accuracy so far) and before the masking
        checks. The cost grows with the examples still correct: Square's
        5,000 queries per surviving example usually dominate.

    Returns
    -------
    result : RobustnessResult

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.
    TypeError
        If it has neither ``predict_proba`` nor ``decision_function``, or
        ``attacks`` is not a list of attacks.
    ValueError
        For a negative or non-finite ``eps``, or ``X`` and ``y`` of mismatched length.

    References
    ----------
    .. [1] Croce, F. and Hein, M. "Reliable evaluation of adversarial robustness
       with an ensemble of diverse parameter-free attacks." ICML, 2020.
    .. [2] Athalye, A., Carlini, N. and Wagner, D. "Obfuscated Gradients Give a
       False Sense of Security." ICML, 2018.
    .. [3] Carlini, N. et al. "On Evaluating Adversarial Robustness."
       arXiv:1902.06705, 2019.

    Examples
    --------
    >>> from robustsk.attacks import APGD
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import StandardTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = StandardTraining(max_epochs=3, clip_min=0, clip_max=1,
    ...                        random_state=0).fit(X[:300], y[:300])
    >>> result = evaluate_robustness(clf, X[300:360], y[300:360],
    ...                              attacks=[APGD(n_iter=10), APGD(loss="dlr", n_iter=10)],
    ...                              eps=[0.05, 0.1], random_state=0, check_masking=False)
    >>> list(result.summary["attack"].unique())
    ['APGD-CE', 'APGD-DLR', 'worst-case']
    >>> bool((result.robust_accuracy <= result.clean_accuracy).all())
    True
    """
    started = time.perf_counter()
    limit_worker_threads()
    check_estimator(estimator)
    X, y = check_data(X, y, [estimator])
    batch_size = check_positive_int(batch_size, "batch_size")
    grid = _eps_grid(estimator, eps)
    seed = seed_from_random_state(random_state)
    n = len(y)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clean_ok = np.asarray(estimator.predict(model_input(estimator, X))) == y
        randomized = is_randomized(estimator, X)
        eot = masking.resolve_eot(eot_iter, randomized)
        target = differentiable_target(estimator)
        n_classes = len(getattr(estimator, "classes_", np.unique(y)))
        named, notes = named_attacks(attacks, n_classes, differentiable=target is not None)
        seeds = {name: derive_seed(seed, pos) for pos, name in enumerate(named)}
        rows, summary, adversarial, per_eps, exact_queries = [], [], {}, {}, {}
        for e in grid:
            state = clean_ok.copy()
            first = np.zeros(n, dtype=bool)  # fooled by an earlier attack
            record = masking.AttackRecord(n)
            # the attacks' dtype (X's float dtype, else float32): integer X would
            # truncate the adversarial examples written into it
            X_worst = np.array(output_like(np.asarray(X, dtype=np.float64), X), copy=True)
            worst_norm = np.full(n, np.nan)
            worst_queries = np.zeros(n)
            any_attacked = np.zeros(n, dtype=bool)
            for name, attack in named.items():
                todo = np.flatnonzero(state if skip_fooled else clean_ok)
                configured = configure(attack, e, seeds[name])
                _progress(verbose, f"eps={e:g} {name}: attacking {len(todo)} of {n} examples")
                run = run_attack(estimator, target, configured, X, y, todo, eot_iter=eot,
                                 batch_size=batch_size, name=name, n_classes=n_classes)
                exact_queries[name] = run.queries_exact
                attacked = np.zeros(n, dtype=bool)
                attacked[todo] = True
                correct = np.zeros(n, dtype=bool)
                correct[todo] = ~run.verified
                norm_col = np.full(n, np.nan)
                norm_col[todo] = run.norms
                queries = np.zeros(n)
                queries[todo] = run.queries
                # seeded by its position, as masking's re-runs of it (MaskingSetup.run)
                record.add(name, attack, list(named).index(name), todo, run.verified)
                hits = run.verified & ~first[todo]
                new = todo[hits]
                first[new] = True
                X_worst[new] = run.X_adv[hits]
                worst_norm[new] = run.norms[hits]
                state[todo[run.verified]] = False
                _progress(verbose, f"eps={e:g} {name}: done in {run.seconds:.1f} s, "
                                   f"robust accuracy so far {state.mean():.3f}")
                worst_queries += queries
                any_attacked |= attacked
                rows.append(pd.DataFrame({"example_id": np.arange(n), "eps": e, "attack": name,
                                          "attacked": attacked, "correct": correct,
                                          "perturbation_norm": norm_col, "queries": queries}))
                summary.append({"eps": e, "attack": name, "clean_accuracy": clean_ok.mean(),
                                "robust_accuracy": correct.mean(), "n": n,
                                "n_attacked": len(todo),
                                "n_unverified": int((run.claimed & ~run.verified).sum()),
                                "forward_passes": run.forward_passes,
                                "backward_passes": run.backward_passes, "seconds": run.seconds})
            rows.append(pd.DataFrame({"example_id": np.arange(n), "eps": e, "attack": WORST,
                                      "attacked": any_attacked, "correct": state,
                                      "perturbation_norm": worst_norm, "queries": worst_queries}))
            summary.append({"eps": e, "attack": WORST, "clean_accuracy": clean_ok.mean(),
                            "robust_accuracy": state.mean(), "n": n,
                            "n_attacked": int(any_attacked.sum()),
                            "n_unverified": sum(s["n_unverified"] for s in summary[-len(named):]),
                            # NaN (not counted: a model the attacks query as a black box)
                            # in any attack leaves the total unknown, not 0
                            "forward_passes": float(np.sum([s["forward_passes"] for s in
                                                            summary[-len(named):]])),
                            "backward_passes": float(np.sum([s["backward_passes"] for s in
                                                             summary[-len(named):]])),
                            "seconds": sum(s["seconds"] for s in summary[-len(named):])})
            adversarial[e] = X_worst
            per_eps[e] = {"survivors": np.flatnonzero(state), "record": record}
        findings = []
        if check_masking and target is None and attacks is None:
            check_masking = False  # they compare gradient attacks: none can run here
            notes.append("gradient-masking checks skipped: they compare gradient attacks, "
                         "and none can differentiate this model.")
        if check_masking:
            _progress(verbose, "gradient-masking checks")
            checked = masking.MaskingSetup(estimator, target, X, y, clean_ok, randomized, eot,
                                           seed, batch_size)
            findings = masking.evaluation_findings(checked, named, grid, per_eps, skip_fooled,
                                                   more_steps=MORE_STEPS)
    frame = pd.concat(rows, ignore_index=True)[FRAME_COLUMNS]
    frame["attack"] = pd.Categorical(frame["attack"], categories=[*named, WORST])
    metadata = {
        "random_state": _plain(random_state), "seed": seed,
        "attack_random_state": {k: _plain(configure(a, grid[0], seeds[k]).get_params(
            deep=False).get("random_state")) for k, a in named.items()},
        "attack_params": {k: {p: _plain(v) for p, v in a.get_params(deep=False).items()}
                          for k, a in named.items()},
        "eps": list(grid), "norm": _plain(getattr(estimator, "norm", None)),
        "clip_min": _plain(getattr(estimator, "clip_min", None)),
        "clip_max": _plain(getattr(estimator, "clip_max", None)),
        "skip_fooled": skip_fooled, "check_masking": check_masking, "eot_iter": eot,
        "randomized": randomized, "batch_size": batch_size, "n_examples": n,
        "n_classes": n_classes, "estimator": type(estimator).__name__,
        "differentiable": target is not None, "queries_exact": exact_queries,
        "versions": _versions(),
        "seconds": time.perf_counter() - started,
    }
    if randomized:
        notes = [*notes, f"The model is randomized: gradient attacks averaged {eot} forward "
                         "passes per gradient (expectation over transformation)."]
    return RobustnessResult(
        frame=frame, summary=pd.DataFrame(summary), findings=tuple(findings),
        randomized=randomized, eot_iter=eot, attacks=tuple(named), notes=tuple(notes),
        metadata=MappingProxyType(metadata), adversarial_examples=MappingProxyType(adversarial))
