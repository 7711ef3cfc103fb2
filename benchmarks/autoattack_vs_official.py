"""robustsk's APGD-CE and AutoAttack-style ensemble against the official AutoAttack code: time and accuracy.

On one PGD-trained :class:`~robustsk.modules.SmallCNN` (digits, Linf eps 0.1
in [0, 1]) and the same test examples:

``APGD-CE``
    robustsk's ``score_adversarial`` with ``APGD(n_iter=100, loss="ce")``
    (numpy in, score out) against the official ``APGDAttack(n_iter=100,
    loss="ce", n_restarts=1)`` on tensors, then the accuracy.
``ensemble``
    robustsk's :func:`~robustsk.evaluation.evaluate_robustness` with its
    default AutoAttack-style ensemble (APGD-CE, APGD-T, FAB-T, Square 5000
    queries) and ``check_masking=False`` (the masking checks are extra work
    the official code does not do), against the official
    ``AutoAttack(version="standard").run_standard_evaluation``.

The two alternate which runs first, run after run; the script prints per
method the median time of each side, the ratio official / robustsk (above 1:
robustsk faster) with its range, and both robust accuracies (lower: stronger
attack). The issue's target: ratio >= 1 at equal or lower robust accuracy.

The official code (github.com/fra31/auto-attack) is not on PyPI and is never
part of robustsk: put its ``autoattack/`` package in a folder (e.g. ``git
clone https://github.com/fra31/auto-attack DIR``) and pass ``--official DIR``;
without it the script says so and exits. Run::

    OMP_NUM_THREADS=1 python benchmarks/autoattack_vs_official.py --official DIR --runs 3
"""
import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np
import torch

try:
    import robustsk
except ImportError:  # run from a source tree without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import robustsk
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_data import load_split  # noqa: E402

from robustsk.attacks import APGD  # noqa: E402
from robustsk.defenses import AdversarialTraining  # noqa: E402
from robustsk.evaluation import evaluate_robustness  # noqa: E402


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", help="folder holding the official autoattack/ package")
    parser.add_argument("--n-test", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--n-iter", type=int, default=100)
    parser.add_argument("--methods", nargs="+", choices=["apgd", "ensemble"],
                        default=["apgd", "ensemble"])
    parser.add_argument("--quick", action="store_true", help="60 examples, 1 run, APGD only")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_test, args.runs, args.methods = 60, 1, ["apgd"]
    if args.official:
        sys.path.insert(0, args.official)
    try:
        from autoattack import AutoAttack
        from autoattack.autopgd_base import APGDAttack
    except ImportError:
        print("skipped: the official AutoAttack code is missing (clone "
              "github.com/fra31/auto-attack and pass --official DIR)")
        return None
    torch.set_num_threads(1)
    X_tr, X_te, y_tr, y_te = load_split("digits", 1200, args.n_test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = AdversarialTraining(eps=args.eps, clip_min=0.0, clip_max=1.0, max_epochs=10,
                                  random_state=0).fit(X_tr, y_tr)
    model = clf.module_.eval()
    x = torch.from_numpy(X_te)
    y = torch.from_numpy(np.searchsorted(clf.classes_, y_te)).long()  # the encoded labels
    print(f"digits, AdversarialTraining (10 epochs): 1200 train / {len(X_te)} test, clean "
          f"accuracy {clf.score(X_te, y_te):.3f}; Linf eps {args.eps}; APGD {args.n_iter} it.; "
          f"1 thread; {args.runs} runs, order alternating; robustsk from "
          f"{os.path.dirname(robustsk.__file__)}; official AutoAttack from {args.official}")

    def official_acc(x_adv):
        with torch.no_grad():
            return float((model(x_adv).argmax(1) == y).float().mean())

    sides = {}
    if "apgd" in args.methods:
        ours = APGD(eps=args.eps, n_iter=args.n_iter, loss="ce", random_state=0)
        theirs = APGDAttack(model, n_iter=args.n_iter, norm="Linf", n_restarts=1, eps=args.eps,
                            seed=0, loss="ce", device="cpu")
        sides["APGD-CE"] = (lambda: clf.score_adversarial(X_te, y_te, ours),
                            lambda: official_acc(theirs.perturb(x, y)))
    if "ensemble" in args.methods:
        aa = AutoAttack(model, norm="Linf", eps=args.eps, version="standard", device="cpu",
                        verbose=False, seed=0)
        sides["AutoAttack ensemble"] = (
            lambda: float(evaluate_robustness(clf, X_te, y_te, eps=args.eps, check_masking=False,
                                              random_state=0).robust_accuracy.iloc[0]),
            lambda: official_acc(aa.run_standard_evaluation(x, y, bs=256)))
    times = {name: ([], [], [], []) for name in sides}
    for run in range(args.runs):
        for name, (rsk, off) in sides.items():
            t_r, t_o, a_r, a_o = times[name]
            order = [(rsk, t_r, a_r), (off, t_o, a_o)]
            for fn, t, a in (order if run % 2 == 0 else order[::-1]):
                seconds, acc = _timed(fn)
                t.append(seconds)
                a.append(acc)
            print(f"run {run + 1} {name}: robustsk {t_r[-1]:.2f} s (acc {a_r[-1]:.3f}), "
                  f"official {t_o[-1]:.2f} s (acc {a_o[-1]:.3f})", flush=True)
    header = (f"{'method':<20} | {'s robustsk':>10} {'official':>9} | "
              f"{'official/robustsk':>17} {'[min, max]':>13} | {'rob. acc robustsk':>17} "
              f"{'official':>9}")
    print(header)
    print("-" * len(header))
    for name, (t_r, t_o, a_r, a_o) in times.items():
        ratios = [o / r for r, o in zip(t_r, t_o)]
        print(f"{name:<20} | {statistics.median(t_r):>10.2f} {statistics.median(t_o):>9.2f} | "
              f"{statistics.median(ratios):>17.2f} "
              f"{f'[{min(ratios):.2f}, {max(ratios):.2f}]':>13} | "
              f"{statistics.mean(a_r):>17.3f} {statistics.mean(a_o):>9.3f}")
    return times


if __name__ == "__main__":
    main()
