"""An estimate of the report's cost, printed before a long run.

One batch of the data through a fresh default network, forward and backward,
is timed (the *unit*); the run's work is counted in such units: every
training batch costs its defense's attack steps plus one, every attacked
example its attack's gradients (a score query counts one third: forward
only), and the masking checks a fixed budget per model. Nested sweeps over
the radii attack only the survivors of the smaller radius; the count takes
all correctly classified examples at the first radius and half of them at
each larger one. The rest does not scale with the unit: the process's one-off
costs (the warm-up fit's lazy imports, the plot, the files) and, per model,
certification, predictions and tables are counted as fixed seconds
(:data:`FIXED_SECONDS`, :data:`SECONDS_PER_MODEL`; a run of one defense on 100
images with FGSM took 8.8 s, of eight defenses 12.8 s, on a 2-core machine,
where the unit-based parts said 1 s). The figure is rough (a factor of 2
either way): it is meant to tell seconds from minutes from hours before the
run starts. For the
default run on digits (five defenses, 12 epochs, FGSM, PGD-20 and APGD-CE over
five radii) a unit of 7 ms (one idle core) gives about 3 minutes (training
1 min, attacks 1.5 min, masking checks 0.4 min), where the run took 2 min 41 s
on a shared 2-core machine (fits 69 s). The unit is timed in wall-clock time,
so a busy machine's estimate is longer, as its run will be.
"""
from dataclasses import dataclass
import time

import numpy as np

from .attacks import ATTACKS
from .masking import MASKING_EXAMPLES

__all__ = ["CostEstimate", "estimate_cost", "time_unit", "WARN_SECONDS"]

#: Above this estimate the report warns before it starts (10 minutes).
WARN_SECONDS = 600.0

#: Forward-backward passes per training batch, per defense (10 attack steps + 1).
TRAIN_PASSES = {"standard": 1, "fast": 2, "jsigr": 3, "trades": 12}
DEFAULT_TRAIN_PASSES = 11

#: Gradients per attacked example at one radius (``apgd-t``: per target class).
ATTACK_PASSES = {"fgsm": 1, "pgd": 20, "apgd": 100, "apgd-dlr": 100, "apgd-t": 100,
                 "rfgsm": 2, "square": 1000 / 3, "spsa": 40 * 16 * 2 / 3, "cw": 500,
                 "autoattack": 100 + 900 + 5000 / 3}

#: Gradients per example of the masking checks (APGD-50, twice the steps with a
#: restart, Square-300 as forward passes, APGD at the box's width).
MASKING_PASSES = 50 + 200 + 100 + 50

BATCH = 64

#: Seconds a run costs whatever its size (warm-up imports, plot, files), and per
#: model (certification, predictions, tables): measured on a 2-core machine.
FIXED_SECONDS = 8.0
SECONDS_PER_MODEL = 0.5


@dataclass(frozen=True)
class CostEstimate:
    """Estimated seconds of a report run.

    Attributes
    ----------
    unit_seconds : float
        One forward-backward pass of a batch of 64 (timed).
    train, attacks, masking : float
        Estimated seconds of each part.
    other : float
        Fixed seconds: warm-up, certification, plot and files.
    """

    unit_seconds: float
    train: float
    attacks: float
    masking: float
    other: float = 0.0

    @property
    def total(self):
        return self.train + self.attacks + self.masking + self.other

    def text(self):
        """One line for the console."""
        return (f"estimated cost: about {_duration(self.total)} (training {_duration(self.train)}"
                f", attacks {_duration(self.attacks)}, masking checks "
                f"{_duration(self.masking)}, the rest {_duration(self.other)}; from one "
                f"timed batch of {BATCH}, "
                f"{self.unit_seconds * 1e3:.1f} ms, rough to a factor of 2)")


def _duration(seconds):
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def time_unit(X, n_classes, device="cpu", repeats=5):
    """Seconds of one forward-backward pass of a batch of 64 of ``X`` through the default network.

    The fastest of ``repeats`` passes after one warm-up pass (the first is
    several times slower).
    """
    import torch

    from ..modules import default_module

    shape = tuple(X.shape[1:])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        module = default_module(shape)(input_shape=shape, n_classes=n_classes).to(device)
    x = torch.as_tensor(np.asarray(X[:BATCH]), device=device)
    y = torch.zeros(len(x), dtype=torch.long, device=device)
    loss_fn = torch.nn.CrossEntropyLoss()
    best = np.inf
    for _ in range(repeats + 1):  # the first pass warms up
        tic = time.perf_counter()
        module.zero_grad()
        loss_fn(module(x), y).backward()
        best = min(best, time.perf_counter() - tic)
    return best * BATCH / max(len(x), 1)


def estimate_cost(unit_seconds, *, defenses, attacks, n_train, n_test, epochs, n_radii,
                  n_classes, masking):
    """Estimated seconds of a run (see the module's docstring for how it counts).

    Parameters
    ----------
    unit_seconds : float
        :func:`time_unit`'s figure.
    defenses : list of str
        The defenses trained (empty with ``--model``: nothing is trained).
    attacks : list of str
    n_train, n_test : int
    epochs : int
    n_radii : int
        Positive radii of the grid.
    n_classes : int
    masking : bool

    Returns
    -------
    CostEstimate
    """
    batches = n_train / BATCH * epochs
    train = sum(batches * TRAIN_PASSES.get(name, DEFAULT_TRAIN_PASSES) for name in defenses)
    per_model = 0.0
    for name in attacks:
        passes = ATTACK_PASSES[name] * (min(9, n_classes - 1) if name == "apgd-t" else 1)
        radii = 1 if ATTACKS[name].sweep == "min-norm" else 1 + 0.5 * max(n_radii - 1, 0)
        per_model += n_test / BATCH * passes * (radii if n_radii else 0)
    n_models = max(len(defenses), 1)
    checks = MASKING_PASSES * min(n_test, MASKING_EXAMPLES) / BATCH if masking else 0.0
    return CostEstimate(unit_seconds=unit_seconds, train=train * unit_seconds,
                        attacks=per_model * n_models * unit_seconds,
                        masking=checks * n_models * unit_seconds,
                        other=FIXED_SECONDS + SECONDS_PER_MODEL * n_models)
