"""What the divergence guard (TrainingGuard, a default callback) costs per epoch.

Times one epoch (``partial_fit`` with ``max_epochs=1`` of a fitted estimator)
of :class:`~robustsk.defenses.AdversarialTraining` and of the three-optimizer
:class:`~robustsk.defenses.AdversarialFeatureDesensitization` on digits images
(``SmallCNN``), with the guard and without it (``callbacks__training_guard=None``),
alternating which runs first. CPU time of the process (``time.process_time``),
one torch thread; prints the median ratio guarded / unguarded and its range.

The guard copies every parameter and optimizer state at each batch start, and
at each batch end reads one flag computed from the loss, the gradient norm,
the parameter norm and the attack iterate (one host synchronisation).

Usage::

    python benchmarks/guard_cost.py --runs 7
"""
import argparse
import statistics
import time
import warnings

import torch

from robustsk.datasets import load_digits_images
from robustsk.defenses import AdversarialFeatureDesensitization, AdversarialTraining

DEFENSES = {"madry": AdversarialTraining, "afd": AdversarialFeatureDesensitization}


def epoch_seconds(clf, X, y):
    start = time.process_time()
    clf.partial_fit(X, y)
    return time.process_time() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--n-samples", type=int, default=512)
    parser.add_argument("--n-iter", type=int, default=10)
    parser.add_argument("--defenses", default="madry,afd")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    X, y = load_digits_images(return_X_y=True)
    X, y = X[:args.n_samples], y[:args.n_samples]
    rows = {}
    for name in args.defenses.split(","):
        fitted = {}
        for guarded in (True, False):
            extra = {} if guarded else {"callbacks__training_guard": None}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fitted[guarded] = DEFENSES[name](
                    n_iter=args.n_iter, eps=0.1, clip_min=0.0, clip_max=1.0, max_epochs=1,
                    random_state=0, **extra).fit(X, y)
        ratios, seconds = [], {True: [], False: []}
        for run in range(args.runs):
            order = (True, False) if run % 2 == 0 else (False, True)
            t = {g: epoch_seconds(fitted[g], X, y) for g in order}
            seconds[True].append(t[True])
            seconds[False].append(t[False])
            ratios.append(t[True] / t[False])
        rows[name] = (statistics.median(ratios), min(ratios), max(ratios),
                      statistics.median(seconds[True]), statistics.median(seconds[False]))
        print(f"{name}: guarded/unguarded CPU time per epoch, median {rows[name][0]:.3f} "
              f"(range {rows[name][1]:.3f}-{rows[name][2]:.3f}, {args.runs} runs); median "
              f"{rows[name][3]:.2f} s vs {rows[name][4]:.2f} s per epoch of {len(X)} images, "
              f"n_iter={args.n_iter}", flush=True)
    return rows


if __name__ == "__main__":
    main()
