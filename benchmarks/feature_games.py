"""DIAL and AFD on digits: the held-out domain head / critic accuracy per epoch, and robustness.

For each seed, prints per epoch the held-out accuracy of DIAL's domain head
(``domain_accuracy``) and of AFD's critic (``discriminator_accuracy``, pairwise),
each beside its passive control (DIAL without gradient reversal; AFD with the
encoder's learning rate at 0), then clean and PGD-10 accuracy on held-out
digits against StandardTraining with the same budget. Results of a run are in
``benchmarks/results/feature_games.txt``.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/feature_games.py --seeds 0,1,2
"""
import argparse
import time
import warnings

import numpy as np
from skorch.callbacks import Callback
import torch

from robustsk.attacks import PGD
from robustsk.datasets import load_digits_images
from robustsk.defenses import (
    AdversarialFeatureDesensitization,
    DomainInvariantAdversarialLearning,
    StandardTraining,
)


class HeldOut(Callback):
    """Records ``method(X, y)`` of the net after every epoch as ``valid_game_acc``."""

    def __init__(self, method, X, y):
        self.method, self.X, self.y = method, X, y

    def on_epoch_end(self, net, **kwargs):
        net.history.record("valid_game_acc", getattr(net, self.method)(self.X, self.y))


class PassiveDIAL(DomainInvariantAdversarialLearning):
    """DIAL's head trained without reversed gradients reaching the features."""

    def reversal_weight(self):
        return 0.0


def run(seed, X, y, X_val, y_val, args):
    common = {"eps": args.eps, "n_iter": args.n_iter, "max_epochs": args.epochs,
              "clip_min": 0.0, "clip_max": 1.0, "random_state": seed}
    attack = PGD(n_iter=10, random_state=0)
    rows = []
    fits = [
        ("dial (r=1)", DomainInvariantAdversarialLearning, "domain_accuracy",
         {"domain_weight": 1.0}),
        ("dial passive", PassiveDIAL, "domain_accuracy", {"domain_weight": 1.0}),
        ("dial (r=0.1)", DomainInvariantAdversarialLearning, "domain_accuracy", {}),
        ("afd", AdversarialFeatureDesensitization, "discriminator_accuracy", {}),
        ("afd passive", AdversarialFeatureDesensitization, "discriminator_accuracy",
         {"optimizer_encoder__lr": 0.0}),
        ("standard", StandardTraining, None, {}),
    ]
    for name, cls, method, extra in fits:
        callbacks = [HeldOut(method, X_val, y_val)] if method else None
        start = time.perf_counter()
        clf = cls(callbacks=callbacks, **common, **extra).fit(X, y)
        seconds = time.perf_counter() - start
        game = np.round(clf.history[:, "valid_game_acc"], 2).tolist() if method else "-"
        rows.append(f"seed {seed} {name:<13} {seconds:6.1f}s clean "
                    f"{clf.score(X_val, y_val):.3f} PGD-10 "
                    f"{clf.score_adversarial(X_val, y_val, attack=attack):.3f} "
                    f"held-out game accuracy per epoch {game}")
        print(rows[-1], flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--n-train", type=int, default=600)
    parser.add_argument("--n-val", type=int, default=150)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--eps", type=float, default=0.2)
    parser.add_argument("--n-iter", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    from sklearn.model_selection import train_test_split
    X, y = load_digits_images(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    print(f"digits: {args.n_train} training / {args.n_val} held-out images, eps {args.eps}, "
          f"{args.n_iter} attack steps, {args.epochs} epochs, Adam lr 1e-3 (AFD's critic 1e-2)")
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        rows += run(seed, X_tr[:args.n_train], y_tr[:args.n_train], X_te[:args.n_val],
                    y_te[:args.n_val], args)
    return rows


if __name__ == "__main__":
    main()
