"""Operators per PGD step, robustsk against torchattacks (the oversubscription question).

With more torch threads than free cores, every parallel operator ends in a
barrier that waits for a descheduled thread, so a step's cost under load grows
with its number of operators large enough to run in parallel (torch's grain:
32,768 elements). This counts them, per step, by a dispatch mode, for PGD on
256 Fashion-MNIST-sized inputs and the default SmallCNN (eps tiny: no example
is fooled, so robustsk's batch never shrinks)::

    pip install --no-deps torchattacks==3.5.1
    python benchmarks/eval_ops_per_step.py
"""
import collections
import os
import sys

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from robustsk.attacks import pgd  # noqa: E402
from robustsk.modules import SmallCNN  # noqa: E402

GRAIN = 32768


class OpCounter(TorchDispatchMode):
    """Counts every operator, and those with an output of at least GRAIN elements."""

    def __init__(self):
        super().__init__()
        self.total, self.large = 0, collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.total += 1
        outs = out if isinstance(out, (tuple, list)) else [out]
        if any(torch.is_tensor(o) and o.numel() >= GRAIN for o in outs):
            self.large[str(func)] += 1
        return out


def per_step(attack):
    """Operators per step: the difference between 6 and 2 steps, over 4."""
    counts = []
    for n_iter in (2, 6):
        with OpCounter() as counter:
            attack(n_iter)
        counts.append(counter)
    large = counts[1].large - counts[0].large
    return (counts[1].total - counts[0].total) / 4, sum(large.values()) / 4


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    try:
        import torchattacks
    except ImportError:
        torchattacks = None
        print("torchattacks not found: pip install --no-deps torchattacks==3.5.1")
    model = SmallCNN((1, 28, 28), 10).eval()
    x = torch.rand(256, 1, 28, 28)
    y = model(x).argmax(1)
    attacks = {"robustsk pgd": lambda k: pgd(model, x, y, eps=1e-4, n_iter=k, step_size=2.5e-5,
                                             clip_min=0, clip_max=1, random_state=0)}
    if torchattacks is not None:
        attacks["torchattacks PGD"] = lambda k: torchattacks.PGD(
            model, eps=1e-4, alpha=2.5e-5, steps=k)(x, y)
    for name, attack in attacks.items():
        total, large = per_step(attack)
        print(f"{name:<17}: {total:5.1f} operators per step, {large:5.1f} with >= {GRAIN} "
              "output elements (parallel regions)")


if __name__ == "__main__":
    main()
