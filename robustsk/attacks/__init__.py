"""Adversarial attacks: pure torch functions and parameter-holding classes.

Each attack is a torch function ``(model, x, y, *, eps, ...) -> x_adv`` built
from the primitives in :mod:`robustsk.attacks._primitives`, and a class that
only holds parameters and exposes ``generate(estimator, X, y) -> X_adv``.
"""
from ._primitives import Randomness, attack_context
from .apgd import APGD, apgd, apgd_checkpoints
from .base import Attack, Threat
from .cw import CarliniWagnerL2, carlini_wagner_l2
from .early_stopped import EarlyStoppedPGD, early_stopped_pgd
from .fgsm import FGSM, fgsm
from .fosc import fosc, fosc_pgd, fosc_values
from .linear import LinearMinimalAttack, minimal_perturbation
from .pgd import PGD, pgd
from .rfgsm import RFGSM, rfgsm
from .spatial import Spatial, spatial, spatial_transform
from .spsa import SPSA, spsa
from .square import Square, square
from .worst_case import WorstCase

__all__ = ["Attack", "Threat", "Randomness", "attack_context", "FGSM", "fgsm", "PGD", "pgd",
           "RFGSM", "rfgsm", "APGD", "apgd", "apgd_checkpoints", "EarlyStoppedPGD",
           "early_stopped_pgd", "WorstCase", "default_attack", "SPSA", "spsa", "Square", "square",
           "CarliniWagnerL2", "carlini_wagner_l2", "LinearMinimalAttack", "minimal_perturbation",
           "Spatial", "spatial", "spatial_transform", "fosc", "fosc_pgd", "fosc_values"]


def default_attack():
    """The attack ``score_adversarial`` and the scorers use by default.

    PGD-20 (uniform random start, step eps/4) with 3 restarts, then APGD-CE
    with 20 iterations on the examples PGD did not fool (:class:`WorstCase`),
    in the estimator's own threat model. The first restart is exactly PGD-20
    with the same seed, so per example it is never weaker than that; restarts
    and APGD run only on the survivors. For a final evaluation use
    :func:`robustsk.evaluation.evaluate_robustness`.
    """
    return WorstCase([PGD(n_iter=20, n_restarts=3), APGD(n_iter=20, loss="ce")])
