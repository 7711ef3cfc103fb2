"""Every defense on a GPU: examples per second, share of time in the attack, peak memory.

One epoch of each defense of :func:`robustsk.defenses.all_defenses` on
Fashion-MNIST's full training set (60,000 images, 1x28x28) with a small
ResNet (:class:`ResNet` below: a 3x3 stem, three stages of two basic residual
blocks each, widths 32/64/128, batch norm, global average pooling; about
0.7 M parameters, features/head for the defenses that need them), the
training attack at eps 0.1 (Linf), ``n_iter`` 10 steps.

For each defense the script prints and writes:

examples/s
    Training examples per second of one ``fit`` epoch (after a warm-up fit on
    a small subset, so CUDA initialisation and cuDNN's autotuning are not
    counted).
attack share
    The fraction of a second, instrumented epoch (on ``--share-subset``
    examples) spent inside the defense's attacks: every robustsk attack runs
    inside ``robustsk.attacks.attack_context``; the script wraps it, timing
    from entry to exit with ``torch.cuda.synchronize()`` at both ends. The
    synchronisation slows that epoch a little, so the examples/s column comes
    from the uninstrumented epoch.
peak MiB
    ``torch.cuda.max_memory_allocated()`` during the timed epoch (not
    available on the CPU: "-").

Defenses that build their own network (the one-hidden-layer certified
``SDPCertifiedNetwork`` and ``RobustUpperBoundTraining``) train theirs, on
flat images; the row says so.

Usage::

    python benchmarks/gpu.py                         # the whole table on cuda (tens of minutes)
    python benchmarks/gpu.py --quick                 # 2,048 examples, 2 attack steps: minutes
    python benchmarks/gpu.py --device cpu --quick    # a smoke test anywhere (128 images)
    python benchmarks/gpu.py --defenses TRADES AdversarialTraining --batch-size 256
    python benchmarks/gpu.py --time-limit 120        # stop any defense still running at 2 min

Without CUDA, ``--device cuda`` (the default) prints a message and exits with
status 2. Results go to ``benchmarks/results/gpu_<device>[_quick].txt``
(``--output`` to change).
"""
import argparse
import contextlib
from pathlib import Path
import platform
import signal
import sys
import time
import warnings

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

try:
    import robustsk
except ImportError:  # run from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import robustsk

import robustsk.attacks
from robustsk.datasets import load_fashion_mnist
from robustsk.defenses import all_defenses

#: defenses whose network is their own one-hidden-layer MLP (no ``module`` of ours)
OWN_NETWORK = {"SDPCertifiedNetwork", "RobustUpperBoundTraining"}
#: per-defense parameters (as in ``robustsk report``)
PARAMS = {"FriendlyAdversarialTraining": {"tau": 2}, "RobustUpperBoundTraining": {"method": "rub"}}


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1) shortcut."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.short = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.short = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                       nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.short(x))


class ResNet(nn.Module):
    """A small ResNet for (C, H, W) images, with the features/head contract of robustsk.modules."""

    def __init__(self, input_shape, n_classes, widths=(32, 64, 128), blocks=2):
        super().__init__()
        c = input_shape[0]
        layers = [nn.Conv2d(c, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                  nn.ReLU()]
        width = widths[0]
        for i, w in enumerate(widths):
            for b in range(blocks):
                layers.append(BasicBlock(width, w, 2 if (i > 0 and b == 0) else 1))
                width = w
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.linear = nn.Linear(width, n_classes)

    def features(self, x):
        return self.body(x)

    def head(self, h):
        return self.linear(h)

    def forward(self, x):
        return self.linear(self.body(x))


@contextlib.contextmanager
def attack_timer(device):
    """Wrap ``attack_context`` everywhere robustsk imported it; yield the seconds list."""
    original = robustsk.attacks.attack_context
    spent = [0.0]
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    @contextlib.contextmanager
    def timed(*args, **kwargs):
        sync()
        start = time.perf_counter()
        try:
            with original(*args, **kwargs) as model:
                yield model
        finally:
            sync()
            spent[0] += time.perf_counter() - start

    patched = [m for name, m in list(sys.modules.items()) if name.startswith("robustsk")
               and getattr(m, "attack_context", None) is original]
    for m in patched:
        m.attack_context = timed
    try:
        yield spent
    finally:
        for m in patched:
            m.attack_context = original


class OverTime(Exception):
    """A defense ran past ``--time-limit``."""


@contextlib.contextmanager
def time_limit(seconds):
    """Raise :class:`OverTime` in the main thread after ``seconds`` (None: no limit)."""
    if not seconds:
        yield
        return

    def stop(signum, frame):
        raise OverTime

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def make(name, args, X_shape, *, max_epochs=1):
    cls = all_defenses()[name]
    kw = dict(eps=0.1, n_iter=args.n_iter, clip_min=0.0, clip_max=1.0, batch_size=args.batch_size,
              max_epochs=max_epochs, random_state=0, device=args.device,
              classes=list(range(10)),  # the warm-up's few rows may lack some of the 10
              **PARAMS.get(name, {}))
    if name not in OWN_NETWORK:
        kw.update(module=ResNet, module__input_shape=X_shape, module__n_classes=10,
                  module__widths=tuple(args.widths))
    return cls(**kw)


def run_one(name, args, X, y):
    Xd = X.reshape(len(X), -1) if name in OWN_NETWORK else X
    shape = tuple(X.shape[1:])
    cuda = args.device.startswith("cuda")
    make(name, args, shape).fit(Xd[:2 * args.batch_size], y[:2 * args.batch_size])  # warm-up
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    make(name, args, shape).fit(Xd, y)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2 ** 20 if cuda else float("nan")
    n_share = min(args.share_subset, len(Xd))
    with attack_timer(args.device) as spent:
        start = time.perf_counter()
        make(name, args, shape).fit(Xd[:n_share], y[:n_share])
        if cuda:
            torch.cuda.synchronize()
        share = spent[0] / (time.perf_counter() - start)
    return len(Xd) / seconds, share, peak, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true",
                        help="2,048 examples, 2 attack steps, share on 512")
    parser.add_argument("--n-samples", type=int, default=None,
                        help="training images (default 60000; --quick 2048)")
    parser.add_argument("--n-iter", type=int, default=None, help="attack steps (10; quick 2)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--share-subset", type=int, default=None,
                        help="examples of the instrumented epoch (10000; quick 512)")
    parser.add_argument("--widths", type=int, nargs=3, default=(32, 64, 128))
    parser.add_argument("--defenses", nargs="*", default=None, help="class names (default all)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--time-limit", type=int, default=None,
                        help="seconds per defense (its three fits together): a defense still "
                             "running then is stopped and its row says so (Unix only)")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"--device {args.device}: CUDA is not available in this torch "
              f"({torch.__version__}). Run on a machine with a GPU, or smoke-test the script "
              "with: python benchmarks/gpu.py --device cpu --quick", file=sys.stderr)
        return 2
    quick = args.quick
    args.n_samples = args.n_samples or (2048 if quick else 60000)
    args.n_iter = args.n_iter if args.n_iter is not None else (2 if quick else 10)
    args.share_subset = args.share_subset or (512 if quick else 10000)
    if quick and args.device == "cpu":  # a smoke test: a narrow network, 128 images
        if tuple(args.widths) == (32, 64, 128):
            args.widths = (8, 16, 32)
        args.n_samples = min(args.n_samples, 128)
        args.share_subset = min(args.share_subset, 64)
        args.batch_size = min(args.batch_size, 64)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.defenses or list(all_defenses())
    unknown = sorted(set(names) - set(all_defenses()))
    if unknown:
        parser.error(f"unknown defenses {unknown}; choose from {sorted(all_defenses())}")
    X, y = load_fashion_mnist(return_X_y=True, n_samples=args.n_samples)
    machine = (torch.cuda.get_device_name() if args.device.startswith("cuda")
               else f"{platform.processor() or platform.machine()}, "
                    f"{torch.get_num_threads()} torch threads")
    n_params = sum(p.numel() for p in ResNet(X.shape[1:], 10, tuple(args.widths)).parameters())
    lines = [f"# python benchmarks/gpu.py {' '.join(sys.argv[1:] if argv is None else argv)}",
             f"# device {args.device} ({machine}); torch {torch.__version__}; "
             f"robustsk {getattr(robustsk, '__version__', '?')}",
             f"# Fashion-MNIST, {len(X)} training images, ResNet widths {tuple(args.widths)} "
             f"({n_params / 1e6:.2f} M parameters), batch {args.batch_size}, eps 0.1 Linf, "
             f"n_iter {args.n_iter}; attack share on {min(args.share_subset, len(X))} images",
             f"{'defense':38s} {'examples/s':>11s} {'epoch s':>9s} {'attack share':>13s} "
             f"{'peak MiB':>9s}"]
    print("\n".join(lines), flush=True)
    for name in names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                with time_limit(args.time_limit):
                    rate, share, peak, seconds = run_one(name, args, X, y)
            except OverTime:
                line = f"{name:38s} stopped after --time-limit {args.time_limit} s"
            except Exception as err:  # a defense that cannot run here: say why, go on
                line = f"{name:38s} failed: {type(err).__name__}: {str(err)[:120]}"
            else:
                mib = "-" if np.isnan(peak) else f"{peak:.0f}"
                line = (f"{name:38s} {rate:11.1f} {seconds:9.2f} {share:13.2f} {mib:>9s}"
                        + ("  (its own MLP)" if name in OWN_NETWORK else ""))
        print(line, flush=True)
        lines.append(line)
    out = Path(args.output) if args.output else Path(__file__).parent / "results" / (
        f"gpu_{args.device.replace(':', '')}{'_quick' if quick else ''}.txt")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
