"""Where the time of one ``score_adversarial`` call goes, beside torchattacks' PGD.

Issue 12's open question on a GPU: at batch 256, robustsk's PGD-20 through
``score_adversarial`` took 1.76 s against torchattacks' 1.26 s on an H200
(measured before commit ff48ee1 cut robustsk's operators per step from 74 to
68), where the host launching operators, not the device's arithmetic, seemed
to set the time. This script measures it on whatever device it is given, by
``torch.profiler``, for one call of each (after a warm-up call):

* the wall time of robustsk's phases: input checks and conversion
  (``check_X``), the attack (``run_batches``), and the final ``predict``;
* per method, operators dispatched and kernels launched per PGD step, and
  the calls that synchronise or copy between host and device
  (``cudaStreamSynchronize``, ``cudaDeviceSynchronize``, ``cudaMemcpy``,
  ``cudaMemcpyAsync``) in the whole call;
* the 15 operators of most host time in robustsk's call.

The network is the default SmallCNN, untrained (timing does not depend on
its weights), on Fashion-MNIST-sized inputs: uniform noise labelled by the
network itself, or Fashion-MNIST's test images with ``--fashion``. On the
CPU robustsk drops the examples it has fooled from the batch (an
accelerator keeps them, masked), so there compare operators per step rather
than seconds::

    pip install --no-deps torchattacks==3.5.1   # optional: its rows
    python benchmarks/eval_profile.py --device cuda --n 10000 --batch-size 256
    python benchmarks/eval_profile.py            # the CPU, 1,024 images
"""
import argparse
import collections
import os
import sys
import time

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

try:
    import robustsk
except ImportError:  # a source tree: use its package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import robustsk
from robustsk.attacks import PGD, Threat, run_batches  # noqa: E402
from robustsk.defenses import AdversarialTraining  # noqa: E402
from robustsk.validation import check_X  # noqa: E402

EPS, N_ITER = 0.1, 20
SYNCS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaMemcpy", "cudaMemcpyAsync")
LAUNCHES = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC")


def _estimator(X, y, device):
    """A SmallCNN estimator initialised on (X, y) without training (max_epochs=0)."""
    clf = AdversarialTraining(eps=EPS, clip_min=0.0, clip_max=1.0, max_epochs=0,
                              random_state=0, device=device)
    return clf.fit(X[:64], y[:64])


def _counts(prof, n_steps):
    """Operators (aten::), kernel launches and syncs of a profile; the first two per step."""
    ops = launches = 0
    syncs = collections.Counter()
    for event in prof.events():
        name = event.name
        if name.startswith("aten::") and event.cpu_parent is None:
            ops += 1
        elif name in LAUNCHES:
            launches += 1
        elif name in SYNCS:
            syncs[name] += 1
    return ops / n_steps, launches / n_steps, dict(syncs)


def _phases(clf, X, y, attack):
    """Seconds of robustsk's phases, by timing its public pieces one after the other."""
    device = torch.device(clf.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    t0 = time.perf_counter()
    x = torch.as_tensor(check_X(X), device=device)
    t = torch.as_tensor(np.searchsorted(clf.classes_, y), device=device)
    sync()
    t1 = time.perf_counter()
    threat = Threat(eps=EPS, norm="inf", clip_min=0.0, clip_max=1.0)
    x_adv = run_batches(attack, clf.module_, x, t, threat=threat, seed=0,
                        batch_size=attack.batch_size)
    sync()
    t2 = time.perf_counter()
    clf.predict(x_adv.cpu().numpy())
    t3 = time.perf_counter()
    return {"checks and conversion": t1 - t0, "attack (run_batches)": t2 - t1,
            "predict": t3 - t2}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=1024, help="images attacked")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--fashion", action="store_true",
                        help="Fashion-MNIST's test images instead of uniform noise")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.fashion:
        from robustsk.datasets import load_fashion_mnist
        X, y = load_fashion_mnist(subset="test", return_X_y=True, n_samples=args.n)
    else:
        rng = np.random.default_rng(0)
        X = rng.random((args.n, 1, 28, 28), dtype=np.float32)
        y = np.arange(args.n) % 10
    clf = _estimator(X, y, args.device)
    if not args.fashion:  # the untrained network's own labels: every example is attacked
        y = clf.predict(X)
    attack = PGD(eps=EPS, n_iter=N_ITER, step_size=EPS / 4, batch_size=args.batch_size,
                 random_state=0)
    activities = [ProfilerActivity.CPU]
    if args.device.startswith("cuda"):
        activities.append(ProfilerActivity.CUDA)
    n_steps = N_ITER * -(-args.n // args.batch_size)
    methods = {"robustsk score_adversarial": lambda: clf.score_adversarial(X, y, attack)}
    try:
        import torchattacks
    except ImportError:
        print("torchattacks not found: its row is left out (pip install --no-deps "
              "torchattacks==3.5.1)")
    else:
        model = clf.module_
        ta = torchattacks.PGD(model, eps=EPS, alpha=EPS / 4, steps=N_ITER, random_start=True)

        def ta_call():
            x = torch.as_tensor(X, device=args.device)
            t = torch.as_tensor(y, device=args.device)
            model.eval()
            out = torch.cat([ta(x[s:s + args.batch_size], t[s:s + args.batch_size])
                             for s in range(0, len(x), args.batch_size)])
            with torch.no_grad():
                return float((model(out).argmax(1) == t).float().mean())
        methods["torchattacks PGD"] = ta_call
    print(f"robustsk from {os.path.dirname(robustsk.__file__)}; torch {torch.__version__}; "
          f"device {args.device}; {args.n} images, batch {args.batch_size}, PGD-{N_ITER} "
          f"({n_steps} batch-steps); {args.threads} thread(s)")
    print(f"{'method':<28} | {'wall s':>7} | {'ops/step':>8} | {'kernels/step':>12} | "
          "syncs and copies")
    for name, call in methods.items():
        call()  # warm-up
        with profile(activities=activities) as prof:
            t0 = time.perf_counter()
            call()
            wall = time.perf_counter() - t0
        ops, launches, syncs = _counts(prof, n_steps)
        print(f"{name:<28} | {wall:7.3f} | {ops:8.1f} | {launches:12.1f} | {syncs or '-'}")
        if name.startswith("robustsk"):
            top = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
    print("robustsk's phases (s):", {k: round(v, 3) for k, v in
                                     _phases(clf, X, y, attack).items()})
    print("robustsk's operators by host time:")
    print(top)


if __name__ == "__main__":
    main()
