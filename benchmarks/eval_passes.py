"""Attacking only the examples still standing: passes and time at identical robust accuracy.

Fits ``AdversarialTraining`` (PGD-7, eps 0.1) on digits or Fashion-MNIST
(``bench_data.load_split``) and evaluates it with the AutoAttack-style
ensemble (``autoattack_ensemble``: APGD-CE, APGD-T, FAB-T, Square, here with
``--n-iter`` iterations and ``--n-queries`` queries) in two ways, interleaved
(order alternating) over ``--runs`` runs:

* ``only standing``: ``evaluate_robustness(..., skip_fooled=True)``, the
  default: each attack runs on the examples no earlier attack fooled, and
  inside an attack (restarts and targets included) fooled examples leave the
  batch;
* ``every attack``: ``skip_fooled=False``: every attack on every correctly
  classified example (the examples an attack fools still leave its batch).

It prints the worst-case robust accuracy of both (they must be equal: each
example gets the same attack either way, from its own random streams), the
forward and backward passes counted (examples through the network,
``RobustnessResult.passes``), the median seconds with their range, and the
budget of the naive evaluation that runs every step of every attack on every
correctly classified example (computed, not run).

    python benchmarks/eval_passes.py --dataset digits --runs 7
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import robustsk  # noqa: F401
except ImportError:  # a source tree: use its package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench_data import load_split  # noqa: E402

from robustsk.defenses import AdversarialTraining  # noqa: E402
from robustsk.evaluation import autoattack_ensemble, evaluate_robustness  # noqa: E402

EPS = 0.1


def naive_passes(attack):
    """(forward, backward) passes per example of every step of ``attack`` (one restart)."""
    p = attack.get_params(deep=False)
    targets = min(p.get("n_target_classes", 9), 9) if p.get("targeted") or \
        p.get("loss") == "dlr-targeted" else 1
    name = type(attack).__name__
    if name == "APGD":
        return 1 + targets * (p["n_iter"] + 1), targets * (p["n_iter"] + 1)
    if name == "FAB":  # a gradient and a prediction per step
        return 1 + targets * 2 * p["n_iter"], targets * p["n_iter"]
    return 2 + p["n_iter"], 0  # Square: the clean input, the start, one query per iteration


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["digits", "fashion"], default="digits")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--n-train", type=int, default=1200)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--n-iter", type=int, default=20)
    parser.add_argument("--n-queries", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    X_tr, X_te, y_tr, y_te = load_split(args.dataset, args.n_train, args.n_test)
    clf = AdversarialTraining(eps=EPS, n_iter=7, clip_min=0.0, clip_max=1.0,
                              max_epochs=args.epochs, lr=1e-2 if args.dataset == "digits"
                              else 1e-3, random_state=0).fit(X_tr, y_tr)
    attacks = autoattack_ensemble(10, n_iter=args.n_iter, n_queries=args.n_queries)
    clean = clf.predict(X_te) == y_te
    naive = int(clean.sum()) * np.sum([naive_passes(a) for a in attacks.values()], axis=0)
    print(f"{args.dataset}: AdversarialTraining ({args.epochs} epochs, {len(X_tr)} train), "
          f"{len(X_te)} test, clean accuracy {clean.mean():.3f}; ensemble {list(attacks)}, "
          f"{args.n_iter} iterations, Square {args.n_queries} queries; Linf eps {EPS}; "
          f"torch {torch.__version__}, {args.threads} thread(s); {args.runs} runs, order "
          "alternating")
    settings = {"only standing": True, "every attack": False}
    seconds = {name: [] for name in settings}
    results = {}
    for run in range(args.runs):
        for name in (list(settings) if run % 2 == 0 else list(settings)[::-1]):
            started = time.perf_counter()
            results[name] = evaluate_robustness(clf, X_te, y_te, attacks=attacks, eps=EPS,
                                                random_state=run, check_masking=False,
                                                skip_fooled=settings[name])
            seconds[name].append(time.perf_counter() - started)
        accs = {name: float(r.robust_accuracy.iloc[0]) for name, r in results.items()}
        if len(set(accs.values())) != 1:
            print(f"run {run}: robust accuracies differ: {accs}")
    header = (f"{'evaluation':<14} | {'robust acc':>10} | {'forward passes':>14} | "
              f"{'backward passes':>15} | {'s: median':>9} {'[min, max]':>14} | time ratio")
    print(header)
    print("-" * len(header))
    ref = seconds["every attack"]
    for name, result in results.items():
        total = result.passes.set_index("attack").loc["worst-case"]
        ratio = statistics.median(b / a for a, b in zip(seconds[name], ref))
        print(f"{name:<14} | {result.robust_accuracy.iloc[0]:>10.3f} | "
              f"{total['forward_passes']:>14.0f} | {total['backward_passes']:>15.0f} | "
              f"{statistics.median(seconds[name]):>9.2f} "
              f"{f'[{min(seconds[name]):.2f}, {max(seconds[name]):.2f}]':>14} | {ratio:.2f}")
    print(f"{'naive budget':<14} | {'':>10} | {naive[0]:>14.0f} | {naive[1]:>15.0f} | (every "
          "step of every attack on every correct example; not run)")
    print("passes: examples through the network in the last run; time ratio: per run, time of "
          "'every attack' / time of the row, median. Per attack (last run, only standing):")
    print(results["only standing"].passes.to_string(index=False))
    print(np.round(results["every attack"].passes.set_index("attack")[
        ["n_attacked", "forward_passes", "backward_passes"]], 0).to_string())


if __name__ == "__main__":
    main()
