"""Run one attack on a subset of the examples and re-check what it reports.

Shared by :mod:`.evaluate`, :mod:`.masking` and :mod:`.transfer`. An attack
with a torch function (``Attack.perturb``) against a differentiable target is
run by :func:`robustsk.attacks.run_batches` on the selected rows with the
per-example random streams it would use on all of ``X`` (streams seeded by an
example's index in ``X``), so attacking a subset gives each example exactly the
attack it would get alone.
A score-based attack (``ScoreAttack``) against any other model goes through
``attack.generate(estimator, X, y, rows=index)``, with the same per-row
streams. Any other attack goes through ``attack.generate`` on the subset.

Every reported success is re-checked: the adversarial example must lie in the
ball (as the attack measures it: ``Attack.perturbation_size``) and the box, and
``estimator.predict`` (eval mode) must misclassify it.
"""
from dataclasses import dataclass
import math
import time
import warnings

import numpy as np
from sklearn.base import clone
import torch

from ..attacks import (
    APGD,
    FAB,
    Attack,
    ScoreAttack,
    ThreatDefaults,
    as_target,
    attack_context,
    model_input,
    output_like,
    run_batches,
)
from ._models import CountingModule, EOTModule

__all__ = ["AttackRun", "UnverifiedSuccessWarning", "run_attack", "is_gradient_free",
           "differentiable_target", "query_budget", "configure"]

#: tolerances of the re-check (float32 rounding of x + delta)
BALL_RTOL, BALL_ATOL, BOX_ATOL = 1e-5, 1e-6, 1e-6


class UnverifiedSuccessWarning(UserWarning):
    """An attack reported a success that the re-check rejected.

    Cause: the returned point lies outside the ``eps`` ball or the box, or
    ``estimator.predict`` (eval mode) still classifies it correctly, e.g. an
    attack run in another mode than ``predict``, a randomized model, or a bug.
    Such examples are counted as *not* fooled. Fix: check the attack's
    projection and clipping, and the model's train/eval behaviour.
    """


@dataclass
class AttackRun:
    """What one attack did to the rows ``index`` (global positions in ``X``)."""

    index: np.ndarray
    X_adv: np.ndarray
    claimed: np.ndarray
    verified: np.ndarray
    norms: np.ndarray
    queries: np.ndarray
    queries_exact: bool
    forward_passes: float
    seconds: float
    backward_passes: float = np.nan
    n_outside_ball: int = 0
    n_outside_box: int = 0
    n_predict_disagrees: int = 0


def is_gradient_free(attack):
    """True for score-based attacks (Square, SPSA, the random-search fallback)."""
    return bool(getattr(attack, "gradient_free", False)) or type(attack).__name__ in (
        "Square", "SPSA")


def differentiable_target(estimator):
    """``as_target(estimator)``, or None when the gradient attacks cannot differentiate it."""
    try:
        return as_target(estimator)
    except TypeError:
        return None


def _uses_module(attack, target):
    return target is not None and type(attack).perturb is not Attack.perturb


def configure(attack, eps, seed):
    """A clone of ``attack`` at radius ``eps`` seeded by ``seed`` (if it has those parameters)."""
    attack = clone(attack)
    params = attack.get_params(deep=False)
    update = {}
    if "eps" in params:
        update["eps"] = eps
    if "random_state" in params and params["random_state"] is None:
        update["random_state"] = seed
    return attack.set_params(**update)


def query_budget(attack, n_classes, eot_iter=1):
    """Model evaluations an attack may spend on one example (an upper bound).

    Attacks stop on an example once it is fooled, so this bounds, not counts.
    NaN when the attack's budget is unknown.
    """
    p = attack.get_params(deep=False)
    if isinstance(attack, APGD):
        targets = min(p["n_target_classes"], n_classes - 1) if attack._is_targeted() else 1
        budget = 1 + p["n_restarts"] * targets * (p["n_iter"] + 1)
    elif isinstance(attack, FAB):  # a gradient and a prediction per step
        targets = min(p["n_target_classes"], n_classes - 1) if p["targeted"] else 1
        budget = 1 + p["n_restarts"] * targets * 2 * p["n_iter"]
    elif "n_samples" in p and "n_iter" in p:  # SPSA: two points per sample and step
        budget = 1 + p["n_iter"] * 2 * p["n_samples"]
    elif "n_queries" in p:
        budget = 1 + p["n_queries"]
    elif "max_queries" in p:
        budget = 1 + p["max_queries"]
    elif "n_iter" in p:  # PGD-like (one gradient per step), or Square (one query per step)
        budget = 1 + p.get("n_restarts", 1) * (p["n_iter"] + 1)
    elif type(attack).__name__ == "FGSM":
        budget = 2
    else:
        return math.nan
    return float(budget * (1 if is_gradient_free(attack) else eot_iter))


def _in_box(X_adv, threat):
    flat = np.asarray(X_adv, np.float64).reshape(len(X_adv), -1)
    ok = np.isfinite(flat).all(axis=1)
    shape = np.asarray(X_adv).shape[1:]
    for bound, sign in ((threat.clip_min, 1.0), (threat.clip_max, -1.0)):
        if bound is None:
            continue
        b = np.broadcast_to(np.asarray(bound, np.float64), shape).reshape(-1)
        ok &= (sign * (flat - b) >= -BOX_ATOL).all(axis=1)
    return ok


def _argmax_batched(model, x, batch_size):
    with attack_context(model, "eval"), torch.no_grad():
        return torch.cat([model(x[i:i + batch_size]).argmax(dim=1)
                          for i in range(0, len(x), batch_size)]) if len(x) else \
            torch.zeros(0, dtype=torch.long, device=x.device)


def run_attack(estimator, target, attack, X, y, index, *, eot_iter=1, batch_size=256,
               name=None, n_classes=None):
    """Run a configured ``attack`` on the rows ``index`` of ``X`` and re-check it.

    Parameters
    ----------
    estimator : fitted classifier
    target : AttackTarget or None
        ``differentiable_target(estimator)``.
    attack : Attack
        Already configured (``eps`` and ``random_state`` set, see :func:`configure`).
    X : ndarray of shape (n_samples, ...)
    y : ndarray of shape (n_samples,)
    index : ndarray of int
        Rows to attack.
    eot_iter : int, default=1
        Forward passes averaged by the torch path (expectation over transformation).
    batch_size : int, default=256
        Batches of the prediction checks (and of attacks without their own).
    name : str, default=None
        The attack's name in warnings.
    n_classes : int, default=None
        For the query budget of targeted attacks; None: the estimator's.

    Returns
    -------
    run : AttackRun
    """
    start = time.perf_counter()
    index = np.asarray(index, dtype=np.int64)
    if n_classes is None:
        n_classes = len(getattr(estimator, "classes_", np.unique(y)))
    X_sub, y_sub = X[index], y[index]
    forward = backward = math.nan
    if len(index) == 0:
        empty = np.zeros(0, dtype=bool)
        return AttackRun(index, X_sub.copy(), empty, empty, np.zeros(0), np.zeros(0), True,
                         0.0, 0.0, 0.0)
    if _uses_module(attack, target):
        threat = attack.resolve_threat(target)
        attack.check_target(target)
        # the full X, so that run_batches seeds each row's stream by its row in X
        x = target.prepare_X(X, box=(threat.clip_min, threat.clip_max))
        y_t = target.encode_y(y, n_samples=len(x))
        counter = CountingModule(target.module)
        # EOT averages gradients; score attacks query single draws (as AutoAttack's
        # randomized version, which runs gradient attacks only with EOT)
        use_eot = eot_iter > 1 and not is_gradient_free(attack)
        model = EOTModule(counter, eot_iter) if use_eot else counter
        rows = torch.as_tensor(index)
        x_adv, info = run_batches(attack, model, x, y_t, threat=threat,
                                  seed=attack.random_seed(target), rows=rows,
                                  batch_size=getattr(attack, "batch_size", None) or batch_size,
                                  return_info=True)
        # score attacks count their queries per example
        exact = "queries" in info
        queries = np.asarray(info["queries"].cpu(), dtype=float) if exact else None
        forward, backward = float(counter.n_forward), float(counter.n_backward)
        claimed = (_argmax_batched(model, x_adv, batch_size) != y_t[rows]).cpu().numpy()
        X_adv = output_like(x_adv.cpu().numpy(), X_sub)
    else:
        try:
            threat = attack.resolve_threat(target if target is not None
                                           else ThreatDefaults(estimator))
        except (TypeError, AttributeError):
            threat = attack.resolve_threat(ThreatDefaults(estimator))
        exact = isinstance(attack, ScoreAttack)
        if exact:  # the full X, so that each row keeps its random stream, as above
            X_adv, info = attack.generate(estimator, X, y, rows=index, return_info=True)
            queries = np.asarray(info["queries"], dtype=float)
        else:
            X_adv, queries = attack.generate(estimator, X_sub, y_sub), None
        X_adv = np.asarray(X_adv).reshape(X_sub.shape)
        claimed = np.asarray(estimator.predict(model_input(estimator, X_adv))) != y_sub
    if queries is None:
        queries = np.full(len(index), query_budget(attack, n_classes, eot_iter))
    norms = attack.perturbation_size(X_adv, X_sub, threat)
    in_ball = norms <= threat.eps * (1 + BALL_RTOL) + BALL_ATOL
    in_box = _in_box(X_adv, threat)
    wrong = np.asarray(estimator.predict(model_input(estimator, X_adv))) != y_sub
    verified = claimed & in_ball & in_box & wrong
    run = AttackRun(index, X_adv, claimed, verified, norms, queries, exact, forward,
                    time.perf_counter() - start, backward,
                    n_outside_ball=int((claimed & ~in_ball).sum()),
                    n_outside_box=int((claimed & ~in_box).sum()),
                    n_predict_disagrees=int((claimed & ~wrong).sum()))
    bad = int((claimed & ~verified).sum())
    if bad:
        warnings.warn(
            f"{name or type(attack).__name__} reported {bad} successes that failed the re-check "
            f"({run.n_outside_ball} outside the eps={threat.eps:g} {threat.norm} ball, "
            f"{run.n_outside_box} outside the box, {run.n_predict_disagrees} still classified "
            "correctly by estimator.predict): they are counted as not fooled."
            + (" On a randomized model each prediction is a random draw, so some of this is "
               "expected." if eot_iter > 1 else ""),
            UnverifiedSuccessWarning, stacklevel=3)
    return run
