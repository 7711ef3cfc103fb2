"""The attacks an evaluation runs: the AutoAttack-style ensemble and attack names."""
from typing import Mapping

from ..attacks import APGD, Attack, Square

__all__ = ["WORST", "ensemble", "gradient_free_attack", "attack_name", "named_attacks"]

#: the name of the per-example worst case over the attacks
WORST = "worst-case"


def gradient_free_attack(n_queries=1000):
    """``robustsk.attacks.Square`` with ``n_queries`` queries.

    Returns
    -------
    attack : Attack
    note : None
        Kept for callers that report a substitution (there is none).
    """
    return Square(n_iter=n_queries), None


def ensemble(n_classes, n_iter=100, n_queries=5000, n_target_classes=9):
    """The AutoAttack-style ensemble by name, and the notes on substitutions made."""
    notes = []
    attacks = {"APGD-CE": APGD(n_iter=n_iter, loss="ce")}
    if n_classes >= 4:
        attacks["APGD-T"] = APGD(n_iter=n_iter, loss="dlr-targeted",
                                 n_target_classes=min(n_target_classes, n_classes - 1))
    elif n_classes == 3:
        attacks["APGD-DLR"] = APGD(n_iter=n_iter, loss="dlr")
        notes.append("The targeted DLR loss needs 4 classes and the model has 3: untargeted "
                     "APGD-DLR replaces targeted APGD-DLR.")
    else:
        attacks["APGD-margin"] = APGD(n_iter=n_iter, loss="margin")
        notes.append(f"The DLR loss needs 3 classes and the model has {n_classes}: APGD with "
                     "the margin (Carlini-Wagner) loss replaces targeted APGD-DLR.")
    attacks["Square"] = gradient_free_attack(n_queries)[0]
    notes.append("Targeted FAB of the standard AutoAttack is not implemented in robustsk and "
                 "is left out.")
    return attacks, notes


def attack_name(attack):
    """The name an attack is reported under (APGD-CE, APGD-T, PGD-20, Square, ...)."""
    if isinstance(attack, APGD):
        loss = attack.loss.lower() if isinstance(attack.loss, str) else "custom"
        if loss == "dlr-targeted":
            return "APGD-T"
        tag = {"ce": "CE", "dlr": "DLR", "cw": "margin"}.get(loss, loss)
        return f"APGD-T-{tag}" if attack.targeted else f"APGD-{tag}"
    n_iter = getattr(attack, "n_iter", None)
    if type(attack).__name__ == "PGD" and n_iter is not None:
        return f"PGD-{n_iter}"
    return type(attack).__name__


def named_attacks(attacks, n_classes):
    """``attacks`` (None, an Attack, a list or dict) as an ordered dict by unique name,
    and the notes on substitutions."""
    if attacks is None:
        return ensemble(n_classes)
    if isinstance(attacks, Attack):
        attacks = [attacks]
    items = list(attacks.items()) if isinstance(attacks, Mapping) else \
        [(None, a) for a in attacks] if isinstance(attacks, (list, tuple)) else None
    if not items or not all(isinstance(a, Attack) for _, a in items):
        raise TypeError(f"attacks must be None (the AutoAttack-style ensemble), an Attack, or a "
                        f"non-empty list or dict of robustsk Attack objects, e.g. "
                        f"[APGD(loss='ce'), APGD(loss='dlr')]; got {attacks!r}.")
    named, seen = {}, {}
    for name, attack in items:
        name = str(name) if name is not None else attack_name(attack)
        if name == WORST:
            raise ValueError(f"{WORST!r} is reserved for the per-example worst case: rename "
                             "that attack.")
        seen[name] = seen.get(name, 0) + 1
        if name in named:
            name = f"{name}#{seen[name]}"
        named[name] = attack
    return named, []
