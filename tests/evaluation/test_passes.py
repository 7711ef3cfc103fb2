"""Only the examples still standing are attacked, and the passes spent are reported."""
import numpy as np
from sklearn.base import clone
import torch

from robustsk.attacks import APGD, PGD, WorstCase, derive_seed
from robustsk.evaluation import evaluate_robustness

ATTACKS = [PGD(n_iter=5, n_restarts=2), APGD(n_iter=5)]


def test_skipping_the_fooled_spends_fewer_passes_for_the_same_accuracy(standard, data):
    _, _, X, y = data
    runs = {skip: evaluate_robustness(standard, X, y, attacks=ATTACKS, random_state=0,
                                      check_masking=False, skip_fooled=skip)
            for skip in (True, False)}
    assert runs[True].robust_accuracy.equals(runs[False].robust_accuracy)
    fast, full = (runs[s].passes.set_index("attack") for s in (True, False))
    assert fast.loc["worst-case", "backward_passes"] < full.loc["worst-case", "backward_passes"]
    assert fast.loc["worst-case", "forward_passes"] < full.loc["worst-case", "forward_passes"]
    # within an attack (restarts included) fooled examples leave the batch too:
    # far below running every step of every restart on every example
    clean = int((standard.predict(X) == y).sum())
    naive = clean * (2 * 5 + (5 + 1))
    assert full.loc["worst-case", "backward_passes"] < naive
    assert (fast["backward_passes"] <= fast["forward_passes"]).all()


def test_worst_case_counts_its_passes(standard, data):
    _, _, X, y = data
    attack = WorstCase(ATTACKS, random_state=0)
    X_adv = attack.generate(standard, X, y)
    accuracy = np.mean(standard.predict(X_adv) == y)
    assert 0 < attack.n_backward_ < attack.n_forward_
    # each attack alone on every example (with the stream WorstCase gives it),
    # the per-example worst case taken afterwards
    alone, backward = np.asarray(standard.predict(X) == y), [0]

    def count(module, inputs):
        if inputs[0].requires_grad and torch.is_grad_enabled():
            backward[0] += len(inputs[0])

    hook = standard.module_.register_forward_pre_hook(count)
    try:
        for position, a in enumerate(ATTACKS):
            single = clone(a).set_params(random_state=derive_seed(0, position))
            alone &= standard.predict(single.generate(standard, X, y)) == y
    finally:
        hook.remove()
    assert accuracy == alone.mean()
    assert attack.n_backward_ < backward[0]
