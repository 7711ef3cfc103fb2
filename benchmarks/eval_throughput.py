"""How fast is robustsk's evaluation next to a raw PyTorch PGD loop and torchattacks?

Fits one robustsk classifier on the embedded digits (8x8 images in [0, 1]):
PGD adversarial training (``--defense madry``, the default: eps 0.1, 7 steps)
or standard training. Then, on the same test examples and the same network
(``clf.module_``, eval mode), it measures examples per second of

=====================  ==================================================================
robustsk PGD           ``PGD(eps, n_iter=20, step_size=eps/4, random_start="uniform")
                       .generate(clf, X, y)`` then ``clf.predict`` (numpy in, numpy out)
raw PyTorch PGD        :func:`raw_loops.raw_pgd`: the loop one writes by hand, same start,
                       step, projection and clip, last iterate; then one forward pass
torchattacks PGD       ``torchattacks.PGD(module, eps, alpha=eps/4, steps=20,
                       random_start=True)`` then one forward pass (as torchattacks
                       does it: the parameters keep ``requires_grad``)
robustsk APGD-CE       ``APGD(eps, n_iter=20, loss="ce").generate`` then ``clf.predict``
torchattacks APGD-CE   ``torchattacks.APGD(module, eps=eps, steps=20, n_restarts=1,
                       loss="ce")`` then one forward pass
evaluate_robustness    ``evaluate_robustness(clf, X, y, attacks=[PGD(n_iter=20)],
                       check_masking=False)``: the attack plus the evaluation machinery
                       (clean predict, randomness probe, re-check of every success with
                       ``predict``, the tidy frames and metadata)
robustsk pgd(),        the torch function :func:`robustsk.attacks.pgd` on tensors with
last it.               ``return_best=False`` (the training path: last iterate, no
                       dropping), then one forward pass: the raw loop's arithmetic
                       through the library's primitives and per-example random streams;
                       its ratio to the raw loop is the library's per-step overhead
=====================  ==================================================================

All sides get the test set as numpy arrays and batches of ``--batch-size``;
conversion to tensors is inside the timed region. Every method runs once
untimed (warm-up), then ``--runs`` times in an order that alternates (forward
on even runs, reversed on odd runs); run ``r`` seeds every side with ``r``.
The table gives the median examples/s with its range over the runs; the
ratios to the raw loop and to torchattacks' version of the same attack, taken
per run (both sides timed close together, wall-clock time) then the median
over the runs; the robust accuracy (fraction of all test examples still classified
correctly; mean over the runs), and ``fwd/ex``: examples passed through the
network per test example (forward passes with or without gradient, counted
by a hook in one extra untimed run; 20 gradient steps plus one final
prediction give 21 for the raw loop).

Speed and strength are not independent: robustsk's evaluation attacks keep,
per example, the first misclassified iterate (else the highest-loss one) and
drop fooled examples from the batch. That costs a prediction check per step
but saves gradient work on examples already fooled, so it helps most on weak
models; the raw loop and torchattacks' PGD return the last iterate and attack
every example for all steps. Read the robust-accuracy column next to the
speed: lower is a stronger attack.

torchattacks is *not* a dependency of robustsk. Install it for this script only,
without its declared torchvision dependency (PyPI's torchvision does not match
the installed torch; the PGD and APGD used here do not need it)::

    pip install --no-deps torchattacks
    python benchmarks/eval_throughput.py --runs 5
    python benchmarks/eval_throughput.py --runs 5 --defense standard

Options: ``--runs`` (5), ``--n-test`` (500), ``--batch-size`` (256, the
attacks' default), ``--epochs`` (10), ``--threads`` (1, for
``torch.set_num_threads``; 2 only on an otherwise idle 2-core machine),
``--defense`` {madry, standard}.
"""
import argparse
import gc
import os
import statistics
import sys
import time

import numpy as np
import torch

try:
    import robustsk
except ImportError:  # run from a source tree without installing: use the tree's package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import robustsk
from robustsk.attacks import APGD, PGD, pgd
from robustsk.datasets import load_digits_images
from robustsk.defenses import AdversarialTraining, StandardTraining
from robustsk.evaluation import evaluate_robustness

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from raw_loops import raw_pgd  # noqa: E402

EPS, N_ITER = 0.1, 20


# ---------------------------------------------------------------- raw PyTorch
def _frozen_eval(model):
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)


def _thawed(model):
    for p in model.parameters():
        p.requires_grad_(True)


def _batches(n, size):
    return [slice(s, s + size) for s in range(0, n, size)]


def _forward_accuracy(model, x_adv, y):
    with torch.no_grad():
        return float((model(x_adv).argmax(1) == y).float().mean())


# ---------------------------------------------------------------- the sides
def make_methods(clf, X, y, batch_size, torchattacks):
    """name -> (function of the run's seed returning robust accuracy, reference names)."""
    model = clf.module_
    n = len(X)
    parts = _batches(n, batch_size)

    def rsk_attack(attack):
        def run(seed):
            X_adv = attack.set_params(random_state=seed).generate(clf, X, y)
            return float(np.mean(clf.predict(X_adv) == y))
        return run

    def raw(seed):
        x, t = torch.from_numpy(X), torch.from_numpy(y)
        gen = torch.Generator().manual_seed(seed)
        _frozen_eval(model)
        try:
            x_adv = torch.cat([raw_pgd(model, x[s], t[s], EPS, EPS / 4, N_ITER, gen)
                               for s in parts])
            return _forward_accuracy(model, x_adv, t)
        finally:
            _thawed(model)

    def rsk_last_iterate(seed):
        x, t = torch.from_numpy(X), torch.from_numpy(y)
        x_adv = torch.cat([pgd(model, x[s], t[s], eps=EPS, step_size=EPS / 4, n_iter=N_ITER,
                               random_start="uniform", clip_min=0.0, clip_max=1.0,
                               return_best=False, random_state=seed + s.start)
                           for s in parts])
        return _forward_accuracy(model.eval(), x_adv, t)

    def ta_attack(attack):
        def run(seed):
            x, t = torch.from_numpy(X), torch.from_numpy(y)
            torch.manual_seed(seed)  # torchattacks' PGD draws from the global generator
            if hasattr(attack, "seed"):
                attack.seed = seed  # APGD reseeds the global generator with it
            model.eval()  # torchattacks also sets eval mode for the attack itself
            x_adv = torch.cat([attack(x[s], t[s]) for s in parts])
            return _forward_accuracy(model, x_adv, t)
        return run

    def evaluation(seed):
        result = evaluate_robustness(clf, X, y, attacks=[PGD(n_iter=N_ITER,
                                                             batch_size=batch_size)],
                                     random_state=seed, check_masking=False)
        return float(result.robust_accuracy.iloc[0])

    methods = {
        "raw PyTorch PGD": (raw, None),
        "robustsk PGD": (rsk_attack(PGD(eps=EPS, n_iter=N_ITER, step_size=EPS / 4,
                                        random_start="uniform", batch_size=batch_size)),
                         "torchattacks PGD"),
        "evaluate_robustness PGD": (evaluation, "torchattacks PGD"),
        "robustsk pgd(), last it.": (rsk_last_iterate, "torchattacks PGD"),
        "robustsk APGD-CE": (rsk_attack(APGD(eps=EPS, n_iter=N_ITER, n_restarts=1, loss="ce",
                                             batch_size=batch_size)),
                             "torchattacks APGD-CE"),
    }
    if torchattacks is not None:
        methods["torchattacks PGD"] = (ta_attack(torchattacks.PGD(
            model, eps=EPS, alpha=EPS / 4, steps=N_ITER, random_start=True)), None)
        methods["torchattacks APGD-CE"] = (ta_attack(torchattacks.APGD(
            model, norm="Linf", eps=EPS, steps=N_ITER, n_restarts=1, loss="ce", seed=0)), None)
    return methods


# ---------------------------------------------------------------- timing
def _timed(fn, seed):
    """Wall-clock seconds of one run, and its robust accuracy."""
    gc.collect()
    start = time.perf_counter()
    acc = fn(seed)
    return time.perf_counter() - start, acc


def _ratio(fast, slow):
    """Per run, how many times faster ``fast`` was than ``slow``: median, min, max."""
    ratios = [b / a for a, b in zip(fast, slow)]
    return statistics.median(ratios), min(ratios), max(ratios)


def count_forwards(model, fn, seed, n):
    """Examples passed through ``model`` per test example in one run of ``fn``."""
    seen = [0]
    handle = model.register_forward_pre_hook(
        lambda module, inputs: seen.__setitem__(0, seen[0] + len(inputs[0])))
    try:
        fn(seed)
    finally:
        handle.remove()
    return seen[0] / n


def _fit(args, X, y):
    common = {"eps": EPS, "clip_min": 0.0, "clip_max": 1.0, "max_epochs": args.epochs,
              "lr": 1e-2, "random_state": 0}
    if args.defense == "madry":
        return AdversarialTraining(n_iter=7, **common).fit(X, y)
    return StandardTraining(**common).fit(X, y)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=10)
    # One thread by default: on a 2-core machine with anything else running, two
    # OpenMP threads straggle.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--defense", choices=["madry", "standard"], default="madry",
                        help="PGD adversarial training (eps 0.1, 7 steps) or standard training")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.n_test < 1 or args.batch_size < 1:
        parser.error("--runs, --n-test and --batch-size must be at least 1")
    torch.set_num_threads(args.threads)
    try:
        import torchattacks
    except ImportError as err:
        torchattacks = None
        print(f"torchattacks not found ({err}): its rows are left out. It is needed for this "
              "benchmark only: pip install --no-deps torchattacks")

    X, y = load_digits_images(return_X_y=True)
    order = np.random.RandomState(0).permutation(len(X))
    X, y = X[order], y[order]
    if args.n_test >= len(X):
        parser.error(f"--n-test must be below {len(X)}")
    X_train, y_train, X_test, y_test = X[:-args.n_test], y[:-args.n_test], \
        X[-args.n_test:], y[-args.n_test:]
    started = time.perf_counter()
    clf = _fit(args, X_train, y_train)
    fit_seconds = time.perf_counter() - started
    clean = float(np.mean(clf.predict(X_test) == y_test))
    print(f"digits 8x8 in [0, 1], {type(clf).__name__} ({args.defense}, {args.epochs} epochs, "
          f"fit in {fit_seconds:.0f} s): {len(X_train)} train / {len(X_test)} test, clean "
          f"accuracy {clean:.3f}; {type(clf.module_).__name__}")
    print(f"Linf eps {EPS}, {N_ITER} iterations (PGD step eps/4, uniform start), batch "
          f"{args.batch_size}; torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"torchattacks {getattr(torchattacks, '__version__', 'missing')}; {args.runs} runs, "
          f"order alternating; robustsk from {os.path.dirname(robustsk.__file__)}")

    methods = make_methods(clf, X_test, y_test, args.batch_size, torchattacks)
    names = list(methods)
    for name in names:  # warm-up, not timed
        methods[name][0](10_000)
    forwards = {name: count_forwards(clf.module_, methods[name][0], 0, len(X_test))
                for name in names}
    wall = {name: [] for name in names}
    accs = {name: [] for name in names}
    for run in range(args.runs):
        for name in (names if run % 2 == 0 else names[::-1]):
            t_wall, acc = _timed(methods[name][0], run)
            wall[name].append(t_wall)
            accs[name].append(acc)

    n, raw = len(X_test), "raw PyTorch PGD"
    header = (f"{'method':<24} | {'examples/s: median':>18} {'[min, max]':>12} | "
              f"{'vs raw loop: median':>19} {'[min, max]':>12} | "
              f"{'vs torchattacks':>15} | {'robust acc':>10} | {'fwd/ex':>6}")
    print(header)
    print("-" * len(header))
    for name in names:
        rates = [n / t for t in wall[name]]
        med, lo, hi = _ratio(wall[name], wall[raw])
        ref = methods[name][1]
        vs_ta = f"{_ratio(wall[name], wall[ref])[0]:.2f}" if ref in wall else "-"
        print(f"{name:<24} | {statistics.median(rates):>18.0f} "
              f"{f'[{min(rates):.0f}, {max(rates):.0f}]':>12} | {med:>19.2f} "
              f"{f'[{lo:.2f}, {hi:.2f}]':>12} | "
              f"{vs_ta:>15} | {np.mean(accs[name]):>10.3f} | {forwards[name]:>6.1f}")
    print("ratios: per run, time of the reference / time of the method (> 1: faster than the "
          "reference), median over the runs [range]; 'vs torchattacks': against torchattacks' "
          "version of the same attack (PGD or APGD-CE). Robust accuracy: "
          f"mean over the runs (lower: stronger attack). APGD does {N_ITER + 1} gradients per "
          f"example, PGD {N_ITER}.")


if __name__ == "__main__":
    main()
