"""Adversarial attacks: pure torch functions and parameter-holding classes.

Each attack is a torch function ``(model, x, y, *, eps, ...) -> x_adv`` built
from the primitives in :mod:`robustsk.attacks._primitives`, and a class that
only holds parameters and exposes ``generate(estimator, X, y) -> X_adv``.
"""
from ._primitives import Randomness, attack_context
from .apgd import APGD, apgd, apgd_checkpoints
from .base import Attack, Threat
from .early_stopped import EarlyStoppedPGD, early_stopped_pgd
from .fgsm import FGSM, fgsm
from .pgd import PGD, pgd
from .rfgsm import RFGSM, rfgsm
from .worst_case import WorstCase

__all__ = ["Attack", "Threat", "Randomness", "attack_context", "FGSM", "fgsm", "PGD", "pgd",
           "RFGSM", "rfgsm", "APGD", "apgd", "apgd_checkpoints", "EarlyStoppedPGD",
           "early_stopped_pgd", "WorstCase", "default_attack"]


def default_attack():
    """The attack ``score_adversarial`` uses by default.

    PGD-20 from a uniform random start with step eps/4, then APGD-CE with 20
    iterations on the examples PGD did not fool (:class:`WorstCase`), in the
    estimator's own threat model. Per example it is the worst case of the two,
    so never weaker than PGD-20, at most about twice its cost. On PGD-trained
    digits models APGD-CE-20 after PGD-20 matched APGD-CE with 50 or 100
    iterations; for a final evaluation add restarts, APGD-DLR and targeted
    APGD (``APGD(loss="dlr-targeted")``).
    """
    return WorstCase([PGD(n_iter=20), APGD(n_iter=20, loss="ce")])
