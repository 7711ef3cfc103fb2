"""Is robustsk's APGD at least as strong as torchattacks' APGD on the same model?

Fits one robustsk classifier on the embedded digits (8x8 images in [0, 1]),
then attacks the same test examples with ``robustsk.attacks.apgd`` and with
``torchattacks.APGD`` (same eps, norm, loss, iterations and restarts) and
prints robust accuracies side by side with the ratio of run times.

torchattacks is *not* a dependency of robustsk. Install it for this script only,
without its declared torchvision dependency (PyPI's torchvision does not match
the installed torch; torchattacks' APGD does not need it)::

    pip install --no-deps torchattacks
    python benchmarks/apgd_strength.py                  # standard training, ~4 min
    python benchmarks/apgd_strength.py --defense madry  # PGD-trained model, ~10 min

Both draw their random starts differently, so a single run differs by a few
examples either way; accuracies are means over ``--seeds`` seeds (0, 1, ...).
Options: ``--n-test``, ``--n-iter``, ``--restarts``, ``--epochs``, ``--threads``,
``--seeds``.
"""
import argparse
from functools import partial
from pathlib import Path
import sys
import time

import numpy as np
from sklearn.datasets import load_digits
import torch

try:  # run from a plain checkout as well as from an installed robustsk
    import robustsk  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from robustsk.attacks import apgd
from robustsk.base import RobustClassifier


def _data(n_train, n_test):
    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int64)
    order = np.random.RandomState(0).permutation(len(X))
    X, y = X[order], y[order]
    return X[:n_train], y[:n_train], X[-n_test:], y[-n_test:]


def _accuracy(model, x, y):
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=1200)
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--n-iter", type=int, default=100)
    parser.add_argument("--restarts", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--defense", choices=["standard", "madry"], default="standard",
                        help="standard training, or PGD adversarial training (eps 0.1)")
    parser.add_argument("--seeds", type=int, default=3,
                        help="random starts differ between the two: average over seeds")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        from torchattacks import APGD as TorchattacksAPGD
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise SystemExit(f"torchattacks is needed for this benchmark only ({err}): "
                         "pip install --no-deps torchattacks") from None

    X_train, y_train, X_test, y_test = _data(args.n_train, args.n_test)
    if args.defense == "madry":
        from robustsk.defenses import AdversarialTraining
        clf = AdversarialTraining(eps=0.1, n_iter=7, max_epochs=args.epochs, lr=1e-2,
                                  random_state=0, clip_min=0.0, clip_max=1.0)
    else:
        clf = RobustClassifier(max_epochs=args.epochs, lr=1e-2, random_state=0, clip_min=0.0,
                               clip_max=1.0)
    clf.fit(X_train, y_train)
    model = clf.module_.eval()
    x, y = torch.as_tensor(X_test), torch.as_tensor(y_test)
    print(f"digits, {args.defense} training: {args.n_train} train / {args.n_test} test, "
          f"clean accuracy "
          f"{_accuracy(model, x, y):.3f}; APGD with {args.n_iter} iterations, "
          f"{args.restarts} restart(s), {args.threads} thread(s), mean over {args.seeds} seed(s)")
    header = f"{'norm':>4} {'eps':>5} {'loss':>4} | {'robustsk':>8} {'torchattacks':>12} " \
             f"{'diff (examples)':>15} | {'time ratio (ours/theirs)':>24}"
    print(header)
    print("-" * len(header))
    settings = [("inf", 0.03), ("inf", 0.05), ("inf", 0.1), ("2", 0.3), ("2", 0.5)]
    worse = []
    for norm, eps in settings:
        for loss in ("ce", "dlr"):
            acc_ours, acc_theirs, t_ours, t_theirs = [], [], 0.0, 0.0
            for seed in range(args.seeds):
                ours, t = _timed(partial(
                    apgd, model, x, y, eps=eps, norm=norm, n_iter=args.n_iter,
                    n_restarts=args.restarts, loss=loss, clip_min=0.0, clip_max=1.0,
                    random_state=seed))
                t_ours += t
                theirs_attack = TorchattacksAPGD(
                    model, norm="Linf" if norm == "inf" else "L2", eps=eps, steps=args.n_iter,
                    n_restarts=args.restarts, loss=loss, seed=seed)
                theirs, t = _timed(partial(theirs_attack, x, y))
                t_theirs += t
                acc_ours.append(_accuracy(model, ours, y))
                acc_theirs.append(_accuracy(model, theirs, y))
            mean_ours, mean_theirs = np.mean(acc_ours), np.mean(acc_theirs)
            diff = (mean_ours - mean_theirs) * len(y)  # > 0: ours leaves more correct
            worse.append(diff)
            print(f"{norm:>4} {eps:>5} {loss:>4} | {mean_ours:>8.3f} {mean_theirs:>12.3f} "
                  f"{diff:>+15.2f} | {t_ours / t_theirs:>24.2f}")
    print(f"robust accuracy, robustsk minus torchattacks, in examples of {len(y)} (mean over "
          f"seeds): total {sum(worse):+.2f}, largest {max(worse):+.2f} (negative: robustsk "
          "stronger)")


if __name__ == "__main__":
    main()
