"""No host-device synchronisation inside the attacks' step loops (checked on the CPU).

A dispatch mode records every operator that needs a tensor's value on the
host (``.item()``, ``bool(tensor)``, ``nonzero``, boolean-mask indexing): under
:func:`sync_free`, their number must not grow with the number of steps.
"""
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from robustsk.attacks import Randomness, apgd, carlini_wagner_l2, pgd, square, sync_free

_SYNCING = {torch.ops.aten._local_scalar_dense.default, torch.ops.aten.nonzero.default,
            torch.ops.aten.masked_select.default}
_INDEXING = {torch.ops.aten.index.Tensor, torch.ops.aten.index_put_.default,
             torch.ops.aten.index_put.default, torch.ops.aten._index_put_impl_.default}


class SyncCounter(TorchDispatchMode):
    """Counts the operators that read a tensor's value on the host."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in _SYNCING:
            self.count += 1
        elif func in _INDEXING and any(torch.is_tensor(i) and i.dtype == torch.bool
                                       for i in args[1] if i is not None):
            self.count += 1
        return func(*args, **(kwargs or {}))


def _problem():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 4))
    x = torch.rand(24, 1, 4, 4)
    y = model(x).argmax(1)  # all correct at first: every example is attacked
    return model, x, y


ATTACKS = {
    "pgd": lambda m, x, y, k: pgd(m, x, y, eps=0.3, n_iter=k, n_restarts=2, clip_min=0,
                                  clip_max=1, random_state=Randomness.for_examples(0, len(x))),
    "pgd-l2": lambda m, x, y, k: pgd(m, x, y, eps=1.0, norm=2, n_iter=k, random_state=0),
    "apgd": lambda m, x, y, k: apgd(m, x, y, eps=0.3, n_iter=k, clip_min=0, clip_max=1,
                                    random_state=0),
    "apgd-t": lambda m, x, y, k: apgd(m, x, y, eps=0.3, n_iter=k, loss="dlr", targeted=True,
                                      n_target_classes=2, random_state=0),
    "cw": lambda m, x, y, k: carlini_wagner_l2(m, x, y, n_iter=k, n_binary_steps=2),
    "square": lambda m, x, y, k: square(m, x, y, eps=0.3, n_iter=k, clip_min=0, clip_max=1,
                                        random_state=0),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_syncs_do_not_grow_with_the_steps(name):
    model, x, y = _problem()
    counts = []
    for n_iter in (3, 9):
        with sync_free(), SyncCounter() as counter:
            ATTACKS[name](model, x, y, n_iter)
        counts.append(counter.count)
    assert counts[0] == counts[1], f"{name}: {counts[0]} syncs at 3 steps, {counts[1]} at 9"


def test_the_counter_sees_the_cpu_loop_read_values():
    # without sync_free the CPU loop reads which examples are fooled, every step
    # (a radius too small to fool any: every example stays for every step)
    model, x, y = _problem()
    counts = []
    for n_iter in (3, 9):
        with SyncCounter() as counter:
            pgd(model, x, y, eps=1e-6, n_iter=n_iter, random_state=0)
        counts.append(counter.count)
    assert counts[1] > counts[0]


@pytest.mark.parametrize("name", ["pgd", "apgd", "square"])
def test_sync_free_gives_the_same_examples(name):
    model, x, y = _problem()
    with sync_free():
        free = ATTACKS[name](model, x, y, 6)
    dropping = ATTACKS[name](model, x, y, 6)
    fooled = model(free).argmax(1) != y
    assert torch.equal(fooled, model(dropping).argmax(1) != y)
    assert torch.allclose(free, dropping, atol=1e-6)
