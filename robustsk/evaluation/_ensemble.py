"""The attacks an evaluation runs: the AutoAttack-style ensemble and attack names."""
from typing import Mapping

from ..attacks import APGD, FAB, Attack, Square, scale_invariant_apgd

__all__ = ["WORST", "ensemble", "gradient_free_attack", "autoattack_square", "attack_name",
           "named_attacks",
           "loss_kind", "SCALE_INVARIANT_LOSSES"]

#: the name of the per-example worst case over the attacks
WORST = "worst-case"

#: losses unchanged (up to a positive factor) when the logits are scaled or shifted
SCALE_INVARIANT_LOSSES = ("dlr", "dlr-targeted", "margin", "cw")


def loss_kind(attack):
    """``"ce"``, ``"scale-invariant"`` or None: the kind of loss a gradient attack follows.

    An attack whose ``loss`` parameter is ``"ce"`` follows cross-entropy,
    whose gradient underflows when the logits are large; DLR, targeted DLR
    and margin losses are scale-invariant. Anything else (a custom or KL loss,
    a gradient-free or composite attack) is None.
    """
    if getattr(attack, "gradient_free", False):
        return None
    loss = attack.get_params(deep=False).get("loss") if hasattr(attack, "get_params") else None
    if not isinstance(loss, str):
        return None
    loss = loss.lower()
    if loss == "ce":
        return "ce"
    return "scale-invariant" if loss in SCALE_INVARIANT_LOSSES else None


def gradient_free_attack(n_queries=1000):
    """``robustsk.attacks.Square`` with ``n_queries`` queries (the masking checks' black box).

    Returns
    -------
    attack : Attack
    note : None
        Kept for callers that report a substitution (there is none).
    """
    return Square(n_iter=n_queries), None


def autoattack_square(n_queries=5000):
    """Square as AutoAttack's standard ensemble runs it: ``p_init=0.8``, and the schedule
    of ``p`` counted in iterations (``resc_schedule=False``)."""
    return Square(n_iter=n_queries, p_init=0.8, rescale_schedule=False)


def ensemble(n_classes, n_iter=100, n_queries=5000, n_target_classes=9):
    """The AutoAttack-style ensemble by name, and the notes on substitutions made."""
    notes = []
    attacks = {"APGD-CE": APGD(n_iter=n_iter, loss="ce")}
    name, attack, note = scale_invariant_apgd(n_classes, n_iter=n_iter,
                                              n_target_classes=n_target_classes)
    attacks[name] = attack
    if note is not None:
        notes.append(note)
    attacks["FAB-T"] = FAB(n_iter=n_iter, targeted=True, minimize=False,
                           n_target_classes=min(n_target_classes, n_classes - 1))
    attacks["Square"] = autoattack_square(n_queries)
    return attacks, notes


def attack_name(attack):
    """The name an attack is reported under (APGD-CE, APGD-T, FAB-T, PGD-20, Square, ...)."""
    if isinstance(attack, APGD):
        loss = attack.loss.lower() if isinstance(attack.loss, str) else "custom"
        if loss == "dlr-targeted":
            return "APGD-T"
        tag = {"ce": "CE", "dlr": "DLR", "cw": "margin"}.get(loss, loss)
        return f"APGD-T-{tag}" if attack.targeted else f"APGD-{tag}"
    if isinstance(attack, FAB):
        return "FAB-T" if attack.targeted else "FAB"
    n_iter = getattr(attack, "n_iter", None)
    if type(attack).__name__ == "PGD" and n_iter is not None:
        return f"PGD-{n_iter}"
    return type(attack).__name__


def named_attacks(attacks, n_classes, differentiable=True):
    """``attacks`` (None, an Attack, a list or dict) as an ordered dict by unique name,
    and the notes on substitutions.

    ``attacks=None`` is the AutoAttack-style :func:`ensemble`; for a model the
    gradient attacks cannot differentiate (``differentiable=False``: trees,
    kernel SVMs, nearest neighbours), its gradient-free part, Square.
    """
    if attacks is None and not differentiable:
        return {"Square": autoattack_square(5000)}, [
            "the model cannot be differentiated, so the ensemble ran its gradient-free "
            "attack only (Square, 5,000 queries per example): its robust accuracy is an "
            "upper bound that gradient attacks cannot tighten here."]
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
