"""Evaluation speed through the public path, against torchattacks, idle or under load.

Fits the default small CNN (``AdversarialTraining``, PGD-7 at eps 0.1) on digits
or Fashion-MNIST (``bench_data.load_split``), then times, on the same test
images, network, eps (0.1), steps (20, step eps/4, uniform start) and batch:

=======================  ===============================================================
robustsk                 ``clf.score_adversarial(X, y, PGD(...))``: numpy in, score out
                         (conversion, the attack, the projection at the numpy boundary
                         and ``predict`` all inside the timed region)
torchattacks             ``torchattacks.PGD(clf.module_, eps, alpha=eps/4, steps=20,
                         random_start=True)`` batch by batch on tensors made from the
                         same numpy arrays, then one forward pass for the accuracy
raw PyTorch              the loop one writes by hand (same start, step, projection,
                         clip; last iterate), then one forward pass
=======================  ===============================================================

With ``--auto-batches``, one more row runs robustsk's PGD with
``batch_size="auto"`` (batches sized by memory, as on a GPU one would; the
per-example random streams make its examples the same as at any batch size).

Every method runs once untimed, then ``--runs`` times in an order that
alternates (forward on even runs, reversed on odd runs). The table gives the
median seconds with their range, and per run the ratio time(torchattacks) /
time(method) (above 1: faster than torchattacks), median and range.

``--load`` runs a process beside the timed one, started before the warm-up
and stopped after the last run:

* ``none``: nothing;
* ``memory``: a memory-heavy process (numpy, one thread) that keeps streaming
  through 1.5 GB, as a data loader or another evaluation would;
* ``report``: ``python -m robustsk report --dataset fashion-mnist`` with
  ``--report-threads`` torch threads (the case of issue 12).

torchattacks is *not* a dependency of robustsk; install it for this script
only, without its dependencies (which would pull another torch)::

    pip install --no-deps torchattacks==3.5.1
    python benchmarks/eval_speed.py --dataset digits --runs 7
    python benchmarks/eval_speed.py --dataset fashion --runs 7 --load memory
    python benchmarks/eval_speed.py --dataset fashion --device cuda --n-test 10000

Each method ends by reading its accuracy on the host, so a timed run includes
the device's work (no separate synchronisation is needed on a GPU).

Without torchattacks its rows are left out and the ratios are taken against the
raw loop.
"""
import argparse
import gc
import os
import pickle
import signal
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import robustsk
except ImportError:  # a source tree: use its package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import robustsk
from bench_data import load_split  # noqa: E402
from raw_loops import raw_pgd  # noqa: E402

from robustsk.attacks import PGD  # noqa: E402
from robustsk.defenses import AdversarialTraining  # noqa: E402

EPS, N_ITER = 0.1, 20

MEMORY_LOAD = (
    "import numpy as np\n"
    "a = np.ones(190_000_000)\n"
    "while True:\n"
    "    a *= 1.0000001\n"
    "    a.sum()\n"
)


def make_methods(clf, X, y, batch_size, torchattacks, device="cpu", auto_batches=False):
    """name -> function of the run's seed returning the robust accuracy."""
    model = clf.module_
    parts = [slice(s, s + batch_size) for s in range(0, len(X), batch_size)]

    def robustsk_pgd(seed, batch_size=batch_size):
        attack = PGD(eps=EPS, n_iter=N_ITER, step_size=EPS / 4, random_start="uniform",
                     batch_size=batch_size, random_state=seed)
        return clf.score_adversarial(X, y, attack)

    def accuracy(x_adv, t):
        with torch.no_grad():
            return float((model(x_adv).argmax(1) == t).float().mean())

    def tensors():  # the numpy arrays on the device, as the estimator's path makes them
        return (torch.as_tensor(X, dtype=torch.float32, device=device),
                torch.as_tensor(y, device=device))

    def raw(seed):
        x, t = tensors()
        gen = torch.Generator(device=device).manual_seed(seed)
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        try:
            x_adv = torch.cat([raw_pgd(model, x[s], t[s], EPS, EPS / 4, N_ITER, gen)
                               for s in parts])
            return accuracy(x_adv, t)
        finally:
            for p in model.parameters():
                p.requires_grad_(True)

    methods = {"robustsk score_adversarial PGD": robustsk_pgd, "raw PyTorch PGD": raw}
    if auto_batches:  # the same attack in batches sized by memory (the same examples out)
        methods["robustsk PGD, batch_size auto"] = lambda seed: robustsk_pgd(seed, "auto")
    if torchattacks is not None:
        attack = torchattacks.PGD(model, eps=EPS, alpha=EPS / 4, steps=N_ITER,
                                  random_start=True)

        def ta_pgd(seed):
            x, t = tensors()
            torch.manual_seed(seed)  # torchattacks draws from the global generator
            model.eval()
            x_adv = torch.cat([attack(x[s], t[s]) for s in parts])
            return accuracy(x_adv, t)

        methods["torchattacks PGD"] = ta_pgd
    return methods


def start_load(kind, report_threads, output):
    """The process beside the benchmark (None for ``none``)."""
    if kind == "none":
        return None
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if kind == "memory":
        cmd = [sys.executable, "-c", MEMORY_LOAD]
    else:
        env["OMP_NUM_THREADS"] = str(report_threads)
        cmd = [sys.executable, "-m", "robustsk", "report", "--dataset", "fashion-mnist",
               "--n-train", "2000", "--n-test", "1000", "--epochs", "20",
               "--threads", str(report_threads), "--output", output, "--quiet"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["digits", "fashion", "breast_cancer"],
                        default="digits")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--n-train", type=int, default=1200)
    parser.add_argument("--n-test", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu",
                        help="the network's device for the fit and the attacks (e.g. cuda)")
    parser.add_argument("--auto-batches", action="store_true",
                        help="one more row: robustsk's PGD with batch_size='auto' (sized by "
                             "memory; the other rows use --batch-size)")
    parser.add_argument("--load", choices=["none", "memory", "report"], default="none")
    parser.add_argument("--report-threads", type=int, default=2)
    parser.add_argument("--report-output", default="/tmp/robustsk_eval_speed_report")
    parser.add_argument("--cache", default=None,
                        help="folder to keep the fitted model in between runs of the script")
    args = parser.parse_args(argv)
    if min(args.runs, args.n_test, args.batch_size, args.threads) < 1:
        parser.error("--runs, --n-test, --batch-size and --threads must be at least 1")
    torch.set_num_threads(1)  # the fit: one thread (the figures are about the evaluation)
    try:
        import torchattacks
    except ImportError as err:
        torchattacks = None
        print(f"torchattacks not found ({err}): its row is left out. Install it for this "
              "benchmark only: pip install --no-deps torchattacks==3.5.1")
    X_tr, X_te, y_tr, y_te = load_split(args.dataset, args.n_train, args.n_test)
    started = time.perf_counter()
    cache = args.cache and os.path.join(
        args.cache, f"eval_speed_{args.dataset}_{args.n_train}_{args.epochs}_{args.device}.pkl")
    if cache and os.path.exists(cache):
        with open(cache, "rb") as f:
            clf = pickle.load(f)
    else:
        clf = AdversarialTraining(eps=EPS, n_iter=7, clip_min=0.0, clip_max=1.0,
                                  max_epochs=args.epochs, lr=1e-2 if args.dataset == "digits"
                                  else 1e-3, random_state=0, device=args.device).fit(X_tr, y_tr)
        if cache:
            os.makedirs(args.cache, exist_ok=True)
            with open(cache, "wb") as f:
                pickle.dump(clf, f)
    fit = time.perf_counter() - started
    print(f"{args.dataset} {X_tr.shape[1:]}: {len(X_tr)} train / {len(X_te)} test, "
          f"AdversarialTraining ({args.epochs} epochs, fit or load in {fit:.0f} s), clean accuracy "
          f"{clf.score(X_te, y_te):.3f}, {type(clf.module_).__name__}")
    print(f"Linf eps {EPS}, PGD-{N_ITER} (step eps/4, uniform start), batch {args.batch_size}; "
          f"torch {torch.__version__}, {args.threads} intra-op / "
          f"{torch.get_num_interop_threads()} inter-op thread(s); torchattacks "
          f"{getattr(torchattacks, '__version__', 'missing')}; device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else "")
          + f"; load: {args.load}"
          + (f" ({args.report_threads} threads)" if args.load == "report" else "")
          + f"; {args.runs} runs, order alternating; cpus {os.cpu_count()}; robustsk from "
          f"{os.path.dirname(robustsk.__file__)}")
    torch.set_num_threads(args.threads)
    methods = make_methods(clf, X_te, y_te, args.batch_size, torchattacks, args.device,
                           args.auto_batches)
    names = list(methods)
    # a `timeout` (SIGTERM) still stops the load process, in the finally below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load = start_load(args.load, args.report_threads, args.report_output)
    try:
        if load is not None:
            time.sleep(5)  # let it get going
        for name in names:
            methods[name](10_000)
        wall = {name: [] for name in names}
        accs = {name: [] for name in names}
        for run in range(args.runs):
            for name in (names if run % 2 == 0 else names[::-1]):
                gc.collect()
                t0 = time.perf_counter()
                accs[name].append(methods[name](run))
                wall[name].append(time.perf_counter() - t0)
            print(f"run {run}: " + ", ".join(f"{name} {wall[name][-1]:.2f} s" for name in names),
                  flush=True)
        if load is not None and load.poll() is not None:
            print(f"WARNING: the load process ended early (exit code {load.returncode})")
    finally:
        if load is not None:
            load.terminate()
            load.wait()
    ref = "torchattacks PGD" if "torchattacks PGD" in wall else "raw PyTorch PGD"
    header = (f"{'method':<31} | {'s: median':>9} {'[min, max]':>14} | "
              f"{'vs ' + ref.split()[0] + ': median':>22} {'[min, max]':>12} | robust acc")
    print(header)
    print("-" * len(header))
    for name in names:
        ratios = [b / a for a, b in zip(wall[name], wall[ref])]
        print(f"{name:<31} | {statistics.median(wall[name]):>9.2f} "
              f"{f'[{min(wall[name]):.2f}, {max(wall[name]):.2f}]':>14} | "
              f"{statistics.median(ratios):>22.2f} "
              f"{f'[{min(ratios):.2f}, {max(ratios):.2f}]':>12} | {np.mean(accs[name]):.3f}")
    print(f"ratio: per run, time of {ref} / time of the method (> 1: faster), median [range] "
          "over the runs; robust accuracy: mean over the runs.")


if __name__ == "__main__":
    main()
