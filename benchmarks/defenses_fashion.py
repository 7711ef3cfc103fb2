"""Every robustsk defense on Fashion-MNIST: clean, PGD-20 and APGD-CE accuracy, s/epoch.

Trains each defense of :func:`robustsk.defenses.all_defenses` (plus
``AdversarialTraining(criterion=MCELoss)`` as ``madry+mce``) with one shared
budget: the same network (:class:`~robustsk.modules.SmallCNN`, the default
module for (1, 28, 28) images), the same ``random_state`` (so the same initial
weights and batch order), optimizer (Adam, lr 1e-3), batch size, number of
epochs and threat model (Linf, ``eps``, ``n_iter`` training attack steps of
``eps / 4``, inputs in [0, 1]: ``clip_min=0``, ``clip_max=1``). Every other
parameter is the defense's default (TRADES beta 6, FAT tau 0, Fast step
1.25 eps, Dynamic c_max 0.5, JSR's lambdas, cost-sensitive protection weight
4).

Each trained model is evaluated on the first ``--n-test`` Fashion-MNIST test
images:

==============  ==================================================================
nets            networks trained by the fit (an ensemble's ``n_members``; 1 otherwise)
s/epoch         ``fit`` wall time (``time.perf_counter``) / ``--epochs``; includes
                robustsk's input validation and its small post-fit check
clean           accuracy on the clean test images
PGD-20          ``PGD(eps, n_iter=20, random_state=seed)`` (uniform start, step
                eps/4, best iterate), robust accuracy (fraction of *all* test
                examples still correct)
APGD-CE         ``APGD(eps, n_iter=--apgd-iter, loss="ce", random_state=seed)``
PGD-20 [c]      PGD-20 robust accuracy of the test examples of protected class
                ``c``, for every defense (so the cost-sensitive row can be read
                against the others): the same numbers as
                ``robust_accuracy(clf, X, y, attack, per_class=True)[c]``
==============  ==================================================================

Accuracies are printed with their Wilson 95 % interval
(:func:`robustsk.stats.accuracy_interval`). Each attack runs once per defense:
the per-example correctness it yields gives the overall accuracy, its interval
and the per-class accuracies.

``CostSensitiveAdversarialTraining`` protects ``--protected`` (default ``0,6``:
T-shirt/top and Shirt, the pair a standard Fashion-MNIST classifier confuses
most often).

Data: Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package. If it is
missing::

    apt-get install dataset-fashion-mnist
    # or point ROBUSTSK_FASHION_MNIST at a folder with the IDX files

Usage::

    python benchmarks/defenses_fashion.py                       # hours on one CPU core
    python benchmarks/defenses_fashion.py --n-train 2000 --n-test 500 --epochs 5
    python benchmarks/defenses_fashion.py --defenses standard,madry,trades --output out.csv

Options: ``--n-train`` (5000), ``--n-test`` (1000), ``--epochs`` (10), ``--eps``
(0.1), ``--n-iter`` (training attack steps, 10), ``--apgd-iter`` (100),
``--defenses`` (comma-separated short names, or ``all``: standard, madry,
trades, friendly, fast, interpolated, dynamic, jsr, cost, trs, boosting, ensemble-at, madry+mce),
``--protected`` (0,6), ``--seed`` (0), ``--threads`` (1, for
``torch.set_num_threads``; 2 only on an otherwise idle 2-core machine),
``--batch-size`` (128), ``--output`` (a CSV path, optional).
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd
import torch

try:
    import robustsk
except ImportError:  # run from a source tree without installing: use the tree's package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import robustsk
from robustsk.attacks import APGD, PGD
from robustsk.criteria import MCELoss
from robustsk.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist
from robustsk.defenses import AdversarialTraining, all_defenses
from robustsk.modules import SmallCNN, UnitSphereFeatures
from robustsk.stats import accuracy_interval

#: Short names of the classes of ``all_defenses()``; a class missing here is
#: still benchmarked, under its lower-cased class name.
SHORT_NAMES = {
    "StandardTraining": "standard",
    "AdversarialTraining": "madry",
    "TRADES": "trades",
    "FriendlyAdversarialTraining": "friendly",
    "FastAdversarialTraining": "fast",
    "InterpolatedAdversarialTraining": "interpolated",
    "DynamicAdversarialTraining": "dynamic",
    "JacobianSaliencyRegularization": "jsr",
    "CostSensitiveAdversarialTraining": "cost",
    "TRSEnsemble": "trs",
    "MarginBoostingEnsemble": "boosting",
    "EnsembleAdversarialTraining": "ensemble-at",
    "IWDAdversarialTraining": "iwd",
    "DomainInvariantAdversarialLearning": "dial",
    "AdversarialFeatureDesensitization": "afd",
}


def defense_factories(protected):
    """Short name -> (description, function of the shared parameters -> estimator)."""
    found = {}
    for class_name, cls in all_defenses().items():
        extra = {}
        if class_name == "CostSensitiveAdversarialTraining":
            extra = {"protected_classes": list(protected)}
        found[SHORT_NAMES.get(class_name, class_name.lower())] = (
            class_name, lambda common, cls=cls, extra=extra: cls(**common, **extra))
    found["madry+mce"] = ("AdversarialTraining(criterion=MCELoss)",
                          lambda common: AdversarialTraining(criterion=MCELoss, **common))
    return found


def _interval(correct):
    iv = accuracy_interval(np.asarray(correct, dtype=bool))
    return iv.estimate, iv.low, iv.high


def evaluate(clf, X, y, attacks, protected):
    """Clean and per-attack accuracy with Wilson intervals, and per protected class."""
    row = {}
    row["clean"], row["clean_low"], row["clean_high"] = _interval(clf.predict(X) == y)
    for name, attack in attacks.items():
        # What robust_accuracy(clf, X, y, attack) does, kept per example for the
        # interval and the per-class numbers (one attack run instead of two).
        correct = clf.predict(attack.generate(clf, X, y)) == y
        row[name], row[f"{name}_low"], row[f"{name}_high"] = _interval(correct)
        if name == "pgd20":
            for c in protected:
                mask = y == c
                row[f"pgd20_class{c}"] = float(np.mean(correct[mask])) if mask.any() \
                    else float("nan")
    return row


def _fmt(row, key):
    return f"{row[key]:.3f} [{row[key + '_low']:.2f}, {row[key + '_high']:.2f}]"


def format_table(table, protected):
    """The printed table: one line per defense."""
    cls_cols = [f"pgd20_class{c}" for c in protected]
    header = (f"{'defense':<12} | {'nets':>4} | {'s/epoch':>7} | {'clean [95% CI]':>20} | "
              f"{'PGD-20 [95% CI]':>20} | {'APGD-CE [95% CI]':>20} | "
              + " ".join(f"{f'PGD-20[{c}]':>10}" for c in protected))
    lines = [header, "-" * len(header)]
    for _, row in table.iterrows():
        lines.append(f"{row['defense']:<12} | {row['networks']:>4} | {row['s_per_epoch']:>7.2f} | "
                     f"{_fmt(row, 'clean'):>20} | {_fmt(row, 'pgd20'):>20} | "
                     f"{_fmt(row, 'apgd'):>20} | "
                     + " ".join(f"{row[c]:>10.3f}" for c in cls_cols))
    return "\n".join(lines)


def _parse_protected(text):
    try:
        classes = [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--protected {text!r}: expected comma-separated class labels 0-9, e.g. 0,6")
    if not classes or any(c not in range(10) for c in classes):
        raise argparse.ArgumentTypeError(
            f"--protected {text!r}: expected comma-separated class labels 0-9, e.g. 0,6")
    return classes


def main(argv=None):
    """Run the benchmark; print and return the table (a DataFrame, one row per defense)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=5000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--n-iter", type=int, default=10, help="training attack steps")
    parser.add_argument("--apgd-iter", type=int, default=100)
    parser.add_argument("--defenses", default="all",
                        help="comma-separated short names, or 'all'")
    parser.add_argument("--protected", type=_parse_protected, default=[0, 6],
                        help="classes CostSensitiveAdversarialTraining protects (default 0,6)")
    parser.add_argument("--seed", type=int, default=0)
    # One thread by default: on a 2-core machine with anything else running, two
    # OpenMP threads straggle.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--output", help="write the table to this CSV file")
    args = parser.parse_args(argv)
    if min(args.n_train, args.n_test, args.epochs, args.n_iter, args.apgd_iter,
           args.batch_size, args.threads) < 1:
        parser.error("--n-train, --n-test, --epochs, --n-iter, --apgd-iter, --batch-size "
                     "and --threads must be at least 1")
    factories = defense_factories(args.protected)
    if args.defenses == "all":
        chosen = list(factories)
    else:
        chosen = [d.strip() for d in args.defenses.split(",") if d.strip()]
        unknown = [d for d in chosen if d not in factories]
        if unknown or not chosen:
            parser.error(f"--defenses: unknown {unknown}; expected 'all' or some of "
                         f"{', '.join(factories)}")
    torch.set_num_threads(args.threads)
    try:
        X_train, y_train = load_fashion_mnist(subset="train", n_samples=args.n_train,
                                              return_X_y=True)
        X_test, y_test = load_fashion_mnist(subset="test", n_samples=args.n_test,
                                            return_X_y=True)
    except FileNotFoundError as err:
        raise SystemExit(f"{err}\nThis benchmark needs Fashion-MNIST: "
                         "apt-get install dataset-fashion-mnist") from None

    # module=None: robustsk's default module for (1, 28, 28) images, SmallCNN
    # (checked after each fit below).
    common = dict(eps=args.eps, norm="inf", n_iter=args.n_iter,
                  clip_min=0.0, clip_max=1.0, optimizer=torch.optim.Adam, lr=1e-3,
                  batch_size=args.batch_size, max_epochs=args.epochs,
                  random_state=args.seed)
    attacks = {"pgd20": PGD(eps=args.eps, n_iter=20, random_state=args.seed),
               "apgd": APGD(eps=args.eps, n_iter=args.apgd_iter, loss="ce",
                            random_state=args.seed)}
    names = ", ".join(f"{c} {FASHION_MNIST_CLASSES[c]}" for c in args.protected)
    print(f"Fashion-MNIST train[:{len(X_train)}] / test[:{len(X_test)}], SmallCNN(1x28x28), "
          f"Adam lr 1e-3, batch {args.batch_size}, {args.epochs} epochs, random_state "
          f"{args.seed}; Linf eps {args.eps} in [0, 1], training attacks {args.n_iter} steps "
          f"of eps/4; eval PGD-20 (step eps/4, uniform start) and APGD-CE "
          f"{args.apgd_iter} it.; cost-sensitive protects {names}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); robustsk "
          f"{robustsk.__version__} from {os.path.dirname(robustsk.__file__)}")

    rows, notes = [], []
    for short in chosen:
        class_name, make = factories[short]
        clf = make(common)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            clf.fit(X_train, y_train)
            seconds = time.perf_counter() - start
            # an ensemble's module_ combines its members (robustsk.ensembles)
            nets = list(getattr(clf.module_, "members", [clf.module_]))
            # AFD puts the SmallCNN's features on the unit sphere (UnitSphereFeatures)
            nets = [net.module if isinstance(net, UnitSphereFeatures) else net for net in nets]
            if not all(isinstance(net, SmallCNN) for net in nets):
                # a certified defense that needs its own architecture (SDPCertifiedNetwork)
                note = (f"{short}: trains its own {type(nets[0]).__name__}, not the shared "
                        "SmallCNN")
                notes.append(note)
                print(f"  note: {note}", flush=True)
            row = {"defense": short, "estimator": class_name, "networks": len(nets),
                   "s_per_epoch": seconds / args.epochs}
            row.update(evaluate(clf, X_test, y_test, attacks, args.protected))
        for w in caught:
            note = f"{short}: {w.category.__name__}: {str(w.message).splitlines()[0]}"
            if note not in notes:
                notes.append(note)
        rows.append(row)
        print(f"  {short:<12} done: {seconds:.0f} s fit, clean {row['clean']:.3f}, "
              f"PGD-20 {row['pgd20']:.3f}, APGD {row['apgd']:.3f}", flush=True)

    table = pd.DataFrame(rows)
    print(format_table(table, args.protected))
    print(f"accuracy [Wilson 95% interval] on {len(X_test)} test images; PGD-20[c]: PGD-20 "
          f"robust accuracy of the {', '.join(str(int(np.sum(y_test == c))) for c in args.protected)} "
          f"test images of class {', '.join(map(str, args.protected))}; s/epoch: fit time / "
          "epochs, one run (the machine is noisy: +-10 %)")
    for note in notes:
        print("warning:", note)
    if args.output:
        table.to_csv(args.output, index=False)
        print(f"table written to {args.output}")
    return table


if __name__ == "__main__":
    main()
