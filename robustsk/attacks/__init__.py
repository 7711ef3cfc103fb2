"""Adversarial attacks: pure torch functions and parameter-holding classes.

Each attack is a torch function ``(model, x, y, *, eps, ...) -> x_adv`` built
from the primitives in :mod:`robustsk.attacks._primitives`, and a class that
only holds parameters and exposes ``generate(estimator, X, y) -> X_adv``.
"""
from ._primitives import Randomness, attack_context
from .base import Attack, Threat
from .fgsm import FGSM, fgsm
from .pgd import PGD, pgd
from .rfgsm import RFGSM, rfgsm

__all__ = ["Attack", "Threat", "Randomness", "attack_context", "FGSM", "fgsm", "PGD", "pgd",
           "RFGSM", "rfgsm", "default_attack"]


def default_attack():
    """The attack ``score_adversarial`` uses by default.

    PGD-20 from a uniform random start with step eps/4, in the estimator's own
    threat model.
    """
    return PGD(n_iter=20)
