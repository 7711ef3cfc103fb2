"""The attacks of ``--attacks``: how each is built and how it sweeps the radii.

Every attack gets the report's box (``clip_min=0, clip_max=1``), norm
(``--norm``: "inf" or "2") and eps explicitly, so it also works on a user's scikit-learn model, which has no
threat model to inherit. Three ways to sweep a grid of radii:

* nested balls (all but ``cw`` and ``autoattack``): the radii are attacked in
  ascending order, each only on the examples that survived the smaller one (an
  adversarial example of a smaller ball lies in every larger one), so the
  accuracy at eps is the worst case over the grid's radii up to eps;
* minimum norm (``cw``): Carlini-Wagner L2 runs once without a bound and an
  example counts as broken at eps when the smallest perturbation found has L2
  norm at most ``eps * sqrt(d)`` (d features per example): the radius of the
  smallest L2 ball that contains the Linf ball of radius eps. That is a larger
  threat model than the other attacks' Linf ball (CW's accuracy is a lower
  reference, not a like-for-like number); with ``--norm 2`` the bound is eps;
* ensemble (``autoattack``): :func:`robustsk.evaluation.evaluate_robustness`
  with :func:`~robustsk.evaluation.autoattack_ensemble` (APGD-CE, targeted
  APGD-DLR, targeted FAB, Square with 5,000 queries), per radius on the survivors
  of the smaller one, every success re-checked.

Attack classes are imported when an attack is built, so a robustsk without
one of them fails with a clear message before any training.
"""
from dataclasses import dataclass
import math

import numpy as np

from .options import ReportOptionError

__all__ = ["AttackSpec", "AttackContext", "ATTACKS", "build_attack", "check_available",
           "plan_attacks", "attack_curve", "attack_info"]


@dataclass(frozen=True)
class AttackSpec:
    """One entry of :data:`ATTACKS`.

    Attributes
    ----------
    label : str
        The name in the table, the CSV and the plot.
    summary : str
        One line for ``--help``.
    gradient : bool
        Needs the model's input gradients (a differentiable model).
    min_classes : int
        Fewest classes the attack's loss needs.
    sweep : {"nested", "min-norm", "ensemble"}
    """

    label: str
    summary: str
    gradient: bool = True
    min_classes: int = 2
    sweep: str = "nested"


#: Names of ``--attacks`` in the order they run.
ATTACKS = {
    "fgsm": AttackSpec("FGSM", "one signed-gradient step of size eps"),
    "pgd": AttackSpec("PGD-20", "20 steps of eps/4 from a uniform random start"),
    "apgd": AttackSpec("APGD-CE", "Auto-PGD on cross-entropy, 100 iterations"),
    "apgd-dlr": AttackSpec("APGD-DLR", "Auto-PGD on the DLR loss, 100 iterations",
                           min_classes=3),
    "apgd-t": AttackSpec("APGD-T", "targeted Auto-PGD-DLR, 100 iterations per target class "
                         "(up to 9); skipped below 4 classes", min_classes=4),
    "rfgsm": AttackSpec("R+FGSM", "a random step of eps/2, then FGSM with the rest"),
    "square": AttackSpec("Square", "gradient-free Square attack, 1,000 queries",
                         gradient=False),
    "spsa": AttackSpec("SPSA", "gradient-free SPSA, 40 Adam steps of 16 directions (slow)",
                       gradient=False),
    "cw": AttackSpec("CW-L2", "Carlini-Wagner L2 (minimum norm), counted at L2 radius "
                     "eps*sqrt(d)", sweep="min-norm"),
    "autoattack": AttackSpec("AutoAttack", "worst case of APGD-CE, APGD-T, FAB-T and Square-5000 "
                             "(robustsk.evaluation's ensemble; slow)", sweep="ensemble"),
}


@dataclass(frozen=True)
class AttackContext:
    """What the attacks need to know about the run.

    Attributes
    ----------
    seed : int
    n_classes : int
    input_shape : tuple of int
        Shape of one example.
    clip_min, clip_max : float
    norm : {"inf", "2"}
        The attacks' ball (``--norm``).
    """

    seed: int
    n_classes: int
    input_shape: tuple
    clip_min: float = 0.0
    clip_max: float = 1.0
    norm: str = "inf"

    @property
    def n_features(self):
        return int(np.prod(self.input_shape))

    @property
    def square_image_shape(self):
        """``(1, s, s)`` for flat square images (Square's windows), else None."""
        side = math.isqrt(self.n_features)
        return (1, side, side) if len(self.input_shape) == 1 and side * side == \
            self.n_features else None


def build_attack(name, eps, ctx):
    """The attack of ``name`` at radius ``eps`` (``cw``: unbounded; ``autoattack``: a dict)."""
    box = {"clip_min": ctx.clip_min, "clip_max": ctx.clip_max}
    if name not in ("rfgsm", "cw", "autoattack"):
        box["norm"] = ctx.norm
    if name == "fgsm":
        from ..attacks.fgsm import FGSM
        return FGSM(eps=eps, **box)
    if name == "rfgsm":
        from ..attacks.rfgsm import RFGSM
        return RFGSM(eps=eps, random_state=ctx.seed, **box)
    if name == "pgd":
        from ..attacks.pgd import PGD
        return PGD(eps=eps, n_iter=20, random_state=ctx.seed, **box)
    if name in ("apgd", "apgd-dlr", "apgd-t"):
        from ..attacks.apgd import APGD
        loss = {"apgd": "ce", "apgd-dlr": "dlr", "apgd-t": "dlr-targeted"}[name]
        extra = {"n_target_classes": min(9, ctx.n_classes - 1)} if name == "apgd-t" else {}
        return APGD(eps=eps, n_iter=100, loss=loss, random_state=ctx.seed, **extra, **box)
    if name == "square":
        from ..attacks.square import Square
        return Square(eps=eps, n_iter=1000, image_shape=ctx.square_image_shape,
                      random_state=ctx.seed, **box)
    if name == "spsa":
        from ..attacks.spsa import SPSA
        # The library's default (100 steps of 128 directions) took 7.5 minutes on 450
        # digits against one adversarially trained CNN at eps 0.1 (one core); 50 steps of
        # 32 took 2.2 minutes (accuracy 0.82 against 0.80); this budget is ~20x less.
        return SPSA(eps=eps, n_iter=40, n_samples=16, batch_size=128, random_state=ctx.seed,
                    **box)
    if name == "cw":
        from ..attacks.cw import CarliniWagnerL2
        # 100 steps of lr 0.05 find the norms of 1,000 steps of 0.01 (see its docstring);
        # box_method="clip" moves the many digits pixels that sit exactly at 0 or 1.
        return CarliniWagnerL2(eps=None, n_iter=100, lr=0.05, n_binary_steps=5,
                               box_method="clip", **box)
    if name == "autoattack":
        from ..evaluation import autoattack_ensemble
        return {label: attack.set_params(**box, norm=ctx.norm)
                for label, attack in autoattack_ensemble(ctx.n_classes).items()}
    raise ReportOptionError(f"unknown attack {name!r}: expected one of {', '.join(ATTACKS)}.")


def check_available(names):
    """Build each attack once, so a missing attack fails before any training."""
    ctx = AttackContext(seed=0, n_classes=10, input_shape=(1, 8, 8))
    for name in names:
        try:
            build_attack(name, 0.0, ctx)
        except ImportError as exc:
            raise ReportOptionError(
                f"the {ATTACKS[name].label.split('-')[0]} attack is not available in this "
                f"robustsk ({exc}): leave {name!r} out of --attacks, or update robustsk."
            ) from None


def plan_attacks(names, *, n_classes, differentiable, model_name, norm="inf"):
    """The attacks that can run on the model, and notes on those that cannot.

    Attacks whose loss needs more classes are skipped, and so is ``rfgsm``
    (an Linf attack) under ``norm="2"``. On a model the gradient attacks
    cannot differentiate, they are skipped and the gradient-free ``square``
    and ``spsa`` run in their place.
    """
    run, notes, gradient = [], [], []
    for name in names:
        spec = ATTACKS[name]
        if name == "rfgsm" and norm != "inf":
            notes.append("R+FGSM skipped: it is an Linf attack and --norm is 2.")
        elif n_classes < spec.min_classes:
            notes.append(f"{spec.label} skipped: its loss needs {spec.min_classes} classes and "
                         f"the model has {n_classes}.")
        elif spec.gradient and not differentiable:
            gradient.append(spec.label)
        else:
            run.append(name)
    if gradient:
        notes.append(f"{', '.join(gradient)} skipped: {model_name} is not differentiable by "
                     "the gradient attacks (they need a robustsk estimator, a linear "
                     "classifier or a Pipeline of affine steps ending in one).")
        added = [n for n in ("square", "spsa") if n not in run]
        run += added
        if added:
            notes.append(f"The gradient-free {' and '.join(added)} run instead "
                         "(--attacks square,spsa).")
    if "cw" in run and norm != "inf":
        notes.append("CW-L2 counts an example as broken at eps when its smallest L2 "
                     "perturbation found is <= eps (the same L2 ball as the other columns).")
    elif "cw" in run:
        notes.append("CW-L2 counts an example as broken at eps when its smallest L2 "
                     "perturbation found is <= eps*sqrt(d), the smallest L2 ball holding the "
                     "Linf ball: a larger threat model than the other columns.")
    if "autoattack" in run:
        notes.append("AutoAttack is robustsk.evaluation.evaluate_robustness with its default "
                     "ensemble (APGD-CE, APGD-T, FAB-T, Square-5000), every success "
                     "re-checked.")
    return run, notes


def attack_curve(name, model, X, y, correct, grid, ctx, bar=None):
    """Per-example correctness under attack ``name`` at each radius of ``grid`` (ascending).

    Misclassified clean examples count as failures. Returns a dict mapping
    each radius to a boolean array of shape (n_samples,).
    """
    sweep = ATTACKS[name].sweep
    if sweep == "min-norm":
        return _min_norm_curve(name, model, X, y, correct, grid, ctx, bar)
    alive = np.array(correct, dtype=bool)
    out = {}
    for radius in grid:
        if bar is not None:
            bar.set_postfix_str(f"{ATTACKS[name].label} eps={radius:g}", refresh=False)
        if radius > 0 and alive.any():
            index = np.flatnonzero(alive)
            if sweep == "ensemble":
                alive[index] = _ensemble_correct(model, X[index], y[index], radius, ctx)
            else:
                X_adv = build_attack(name, radius, ctx).generate(model, X[index], y[index])
                alive[index] = np.asarray(model.predict(X_adv)) == y[index]
        out[radius] = alive.copy()
        if bar is not None:
            bar.update(1)
    return out


def _ensemble_correct(model, X, y, radius, ctx):
    from ..evaluation import evaluate_robustness
    result = evaluate_robustness(model, X, y, attacks=build_attack("autoattack", radius, ctx),
                                 eps=radius, random_state=ctx.seed, check_masking=False)
    worst = result.frame[result.frame["attack"] == "worst-case"].sort_values("example_id")
    return worst["correct"].to_numpy(dtype=bool)


def _min_norm_curve(name, model, X, y, correct, grid, ctx, bar):
    correct = np.array(correct, dtype=bool)
    norms = np.full(len(y), np.inf)
    index = np.flatnonzero(correct)
    if len(index):
        _, info = build_attack(name, None, ctx).generate(model, X[index], y[index],
                                                         return_info=True)
        norms[index] = np.where(info["success"], info["l2"], np.inf)
    scale = math.sqrt(ctx.n_features) if ctx.norm == "inf" else 1.0
    out = {}
    for radius in grid:
        out[radius] = correct & ~(norms <= radius * scale * (1 + 1e-6))
        if bar is not None:
            bar.update(1)
    return out


def attack_info(name, ctx):
    """The attack's class and parameters for report.json (eps runs over the grid)."""
    attack = build_attack(name, 0.0, ctx)
    if isinstance(attack, dict):
        return {"class": "evaluate_robustness", "eps": "eps_grid",
                "ensemble": {label: {"class": type(a).__name__, **_params(a)}
                             for label, a in attack.items()}}
    info = {"class": type(attack).__name__, "eps": "eps_grid", **_params(attack)}
    if ATTACKS[name].sweep == "min-norm" and ctx.norm == "inf":
        info["eps"] = f"L2 radius eps * sqrt({ctx.n_features}) over eps_grid"
    return info


def _params(attack):
    from ._json import jsonable
    return {k: jsonable(v) for k, v in attack.get_params().items() if k != "eps"}
