"""Cheaper training, same robustness? The opt-in training options side by side.

Fits :class:`~robustsk.defenses.AdversarialTraining` and
:class:`~robustsk.defenses.TRADES` plainly and with each option of
:mod:`robustsk.defenses.speedups` and ``early_stop`` / ``reuse_clean_logits``,
on the same data and seeds, and prints per configuration: seconds per epoch
(the median of skorch's per-epoch ``dur`` after the first epoch, so a
compilation in the first epoch is left out and reported separately as the
first epoch's seconds), clean accuracy, and robust accuracy under PGD-20
(step eps/4, uniform start) and APGD-CE, as the mean over ``--seeds`` with its
standard error (std / sqrt(seeds)). "vs plain" is the plain defense's median
s/epoch over this configuration's (above 1: faster).

Configurations: ``madry`` (plain), ``madry+early_stop=0`` (per-example early
stopping), ``madry+compile`` (``compile_attack=True``, torch inductor),
``madry+bf16`` (``autocast="bfloat16"``), ``madry+channels_last``, ``trades``,
``trades+reuse`` (``reuse_clean_logits=True``). On a CPU, bf16 and
channels_last are expected to be slower; they are meant for GPUs.

Run::

    OMP_NUM_THREADS=1 python benchmarks/training_options.py --seeds 3
    python benchmarks/training_options.py --quick     # a smoke run
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

from robustsk.attacks import APGD, PGD  # noqa: E402
from robustsk.defenses import TRADES, AdversarialTraining  # noqa: E402

CONFIGS = {
    "madry": (AdversarialTraining, {}),
    "madry+early_stop=0": (AdversarialTraining, {"early_stop": 0}),
    "madry+compile": (AdversarialTraining, {"compile_attack": True}),
    "madry+bf16": (AdversarialTraining, {"autocast": "bfloat16"}),
    "madry+channels_last": (AdversarialTraining, {"channels_last": True}),
    "trades": (TRADES, {}),
    "trades+reuse": (TRADES, {"reuse_clean_logits": True}),
}


def run_one(name, seed, data, args):
    X_tr, X_te, y_tr, y_te = data
    cls, extra = CONFIGS[name]
    clf = cls(eps=args.eps, n_iter=args.n_iter, clip_min=0.0, clip_max=1.0, lr=args.lr,
              batch_size=args.batch_size, max_epochs=args.epochs, random_state=seed, **extra)
    torch._dynamo.reset()  # every compiled fit pays its own compilation
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X_tr, y_tr)
    total = time.perf_counter() - start
    durs = list(clf.history[:, "dur"])
    pgd20 = PGD(eps=args.eps, n_iter=20, random_state=seed)
    apgd = APGD(eps=args.eps, n_iter=args.apgd_iter, loss="ce", random_state=seed)
    return {"epoch_s": statistics.median(durs[1:] or durs), "first_s": durs[0], "fit_s": total,
            "clean": clf.score(X_te, y_te),
            "pgd20": clf.score_adversarial(X_te, y_te, pgd20),
            "apgd": clf.score_adversarial(X_te, y_te, apgd)}


def _mean_se(values):
    values = np.asarray(values, dtype=float)
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return values.mean(), se


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["digits", "fashion"], default="digits")
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--n-iter", type=int, default=10)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--apgd-iter", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--quick", action="store_true", help="tiny data, 2 epochs, 1 seed")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test, args.epochs, args.seeds = 128, 64, 2, 1
        args.n_iter, args.apgd_iter = 3, 5
    torch.set_num_threads(args.threads)
    data = load_split(args.dataset, args.n_train, args.n_test)
    print(f"{args.dataset}: {len(data[0])} train / {len(data[1])} test, default SmallCNN, "
          f"{args.epochs} epochs, batch {args.batch_size}, Adam lr {args.lr:g}, Linf eps "
          f"{args.eps} in [0, 1], training attack {args.n_iter} steps of eps/4; PGD-20 and "
          f"APGD-CE {args.apgd_iter} it.; seeds {args.first_seed}..{args.first_seed + args.seeds - 1}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s); robustsk from {os.path.dirname(robustsk.__file__)}")
    results = {name: [] for name in args.configs}
    for seed in range(args.first_seed, args.first_seed + args.seeds):  # seeds outermost: a drift of the machine hits all alike
        for name in args.configs:
            results[name].append(run_one(name, seed, data, args))
            print(f"seed {seed} {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in
                                                      results[name][-1].items()), flush=True)
    header = (f"{'configuration':<20} | {'s/epoch':>7} {'vs plain':>8} {'1st epoch s':>11} | "
              f"{'clean':>13} | {'PGD-20':>13} | {'APGD-CE':>13}")
    print(header)
    print("-" * len(header))
    table = {}
    for name, rows in results.items():
        epoch = statistics.median(r["epoch_s"] for r in rows)
        plain = "trades" if name.startswith("trades") else "madry"
        ref = (statistics.median(r["epoch_s"] for r in results[plain])
               if plain in results else float("nan"))
        cells = {k: _mean_se([r[k] for r in rows]) for k in ("clean", "pgd20", "apgd")}
        table[name] = {"epoch_s": epoch, **cells}
        print(f"{name:<20} | {epoch:>7.2f} {ref / epoch:>8.2f} "
              f"{statistics.median(r['first_s'] for r in rows):>11.2f} | "
              + " | ".join(f"{m:.3f} +- {se:.3f}" for m, se in cells.values()))
    print("mean over seeds +- standard error; s/epoch: median over seeds of the median "
          "epoch after the first")
    return table


if __name__ == "__main__":
    main()
