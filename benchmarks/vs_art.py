"""One training epoch of robustsk against IBM ART's trainers, side by side.

robustsk's :class:`~robustsk.defenses.AdversarialTraining` against ART's
``AdversarialTrainerMadryPGD`` and robustsk's :class:`~robustsk.defenses.TRADES`
against ART's ``AdversarialTrainerTRADESPyTorch``, with the same network
(:class:`~robustsk.modules.SmallCNN`, same initial weights; wrapped in a plain
``nn.Module`` for ART, whose TRADES trainer mis-reads ``nn.Sequential``), the
same Fashion-MNIST subset, batch size, optimizer (Adam, lr 1e-3) and training
attack (Linf eps, ``n_iter`` steps of eps/4 from a random start; ART's TRADES
trainer runs the ``ProjectedGradientDescent`` attack it is given).

Both sides are warm: robustsk times ``partial_fit`` of an already fitted
estimator (one epoch, with its input validation and post-fit check), ART
times ``trainer.fit(..., nb_epochs=1)`` of a trainer that has already trained
one epoch. The two alternate which runs first, run after run; each run gives
the ratio ART time / robustsk time (above 1: robustsk faster), and the script
prints the median and range over ``--runs``. The issue's target is 1.2.

ART is installed only for this benchmark, never as a dependency of robustsk::

    pip install --no-deps adversarial-robustness-toolbox==1.20.1

(without it the script says so and exits). Run::

    OMP_NUM_THREADS=1 python benchmarks/vs_art.py --runs 7 --n-samples 512
"""
import argparse
import copy
import gc
import os
import statistics
import sys
import time
import warnings

import numpy as np
import torch
from torch import nn

try:
    import robustsk
except ImportError:  # run from a source tree without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import robustsk
from robustsk.datasets import load_fashion_mnist
from robustsk.defenses import TRADES, AdversarialTraining
from robustsk.modules import SmallCNN


class Plain(nn.Module):
    """SmallCNN behind a plain ``nn.Module`` (ART's TRADES trainer mis-reads Sequential)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)


def _art_trainer(defense, state, args):
    from art.attacks.evasion import ProjectedGradientDescent
    from art.defences.trainer import AdversarialTrainerMadryPGD, AdversarialTrainerTRADESPyTorch
    from art.estimators.classification import PyTorchClassifier

    net = SmallCNN((1, 28, 28), 10)
    net.load_state_dict(state)
    model = Plain(net)
    classifier = PyTorchClassifier(
        model=model, loss=nn.CrossEntropyLoss(), optimizer=torch.optim.Adam(model.parameters(),
                                                                            lr=1e-3),
        input_shape=(1, 28, 28), nb_classes=10, clip_values=(0.0, 1.0))
    if defense == "madry":
        trainer = AdversarialTrainerMadryPGD(
            classifier, nb_epochs=1, batch_size=args.batch_size, eps=args.eps,
            eps_step=args.eps / 4, max_iter=args.n_iter, num_random_init=1)
        return lambda X, y: trainer.fit(X, y, nb_epochs=1, batch_size=args.batch_size)
    attack = ProjectedGradientDescent(
        classifier, norm=np.inf, eps=args.eps, eps_step=args.eps / 4, max_iter=args.n_iter,
        num_random_init=1, batch_size=args.batch_size, verbose=False)
    trainer = AdversarialTrainerTRADESPyTorch(classifier, attack, beta=args.beta)
    return lambda X, y: trainer.fit(X, y, nb_epochs=1, batch_size=args.batch_size)


def _timed(fn):
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=512)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--n-iter", type=int, default=10)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--beta", type=float, default=6.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--defenses", nargs="+", choices=["madry", "trades"],
                        default=["madry", "trades"])
    parser.add_argument("--quick", action="store_true", help="128 examples, 3 runs, 3 steps")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_samples, args.runs, args.n_iter = 128, 3, 3
    os.environ.setdefault("TQDM_DISABLE", "1")  # ART's progress bars
    try:
        import art
    except ImportError:
        print("skipped: IBM ART is not installed (pip install --no-deps "
              "adversarial-robustness-toolbox==1.20.1, for this benchmark only)")
        return None
    torch.set_num_threads(args.threads)
    X, y = load_fashion_mnist(subset="train", n_samples=args.n_samples, return_X_y=True)
    print(f"Fashion-MNIST train[:{len(X)}], SmallCNN(1x28x28), batch {args.batch_size}, Adam lr "
          f"1e-3, Linf eps {args.eps}, {args.n_iter} steps of {args.eps / 4:g}, TRADES beta "
          f"{args.beta:g}; torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"ART {art.__version__}; {args.runs} runs, order alternating; robustsk from "
          f"{os.path.dirname(robustsk.__file__)}")
    cls = {"madry": AdversarialTraining, "trades": TRADES}
    sides = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for defense in args.defenses:
            extra = {"beta": args.beta} if defense == "trades" else {}
            clf = cls[defense](eps=args.eps, n_iter=args.n_iter, clip_min=0.0, clip_max=1.0,
                               lr=1e-3, batch_size=args.batch_size, max_epochs=0,
                               random_state=0, **extra).fit(X, y)  # SmallCNN, initialised
            init = copy.deepcopy(clf.module_.state_dict())  # ART starts from the same weights
            clf.set_params(max_epochs=1)
            clf.partial_fit(X, y)  # warm-up epoch
            art_fit = _art_trainer(defense, init, args)
            art_fit(X, y)  # warm-up epoch
            sides[defense] = (lambda clf=clf: clf.partial_fit(X, y),
                              lambda art_fit=art_fit: art_fit(X, y), [], [])
        for run in range(args.runs):
            for rsk, theirs, t_rsk, t_art in sides.values():
                if run % 2 == 0:
                    t_rsk.append(_timed(rsk))
                    t_art.append(_timed(theirs))
                else:
                    t_art.append(_timed(theirs))
                    t_rsk.append(_timed(rsk))
            print(f"run {run + 1}: " + ", ".join(f"{d} ART/robustsk {s[3][-1] / s[2][-1]:.2f}"
                                                  for d, s in sides.items()), flush=True)
    names = {"madry": "AdversarialTraining vs AdversarialTrainerMadryPGD",
             "trades": "TRADES vs AdversarialTrainerTRADESPyTorch"}
    header = (f"{'robustsk vs ART':<51} | {'ART/robustsk: median':>20} {'[min, max]':>15} | "
              f"{'s/epoch robustsk':>16} {'ART':>7} | target >= 1.2")
    print(header)
    print("-" * len(header))
    medians = {}
    for defense, (_, _, t_rsk, t_art) in sides.items():
        ratios = [b / a for a, b in zip(t_rsk, t_art)]
        med = medians[defense] = statistics.median(ratios)
        print(f"{names[defense]:<51} | {med:>20.2f} "
              f"{f'[{min(ratios):.2f}, {max(ratios):.2f}]':>15} | "
              f"{statistics.median(t_rsk):>16.2f} {statistics.median(t_art):>7.2f} | "
              f"{'met' if med >= 1.2 else 'NOT met'}")
    return medians


if __name__ == "__main__":
    main()
