"""Is ensemble adversarial training more robust to transferred attacks than FGSM training?

Tramer et al. (ICLR 2018) report that single-step adversarial training on the
model's own gradients learns to mask them, so examples transferred from other
(held-out) models fool it, and that drawing the training examples from static,
pre-trained models as well (ensemble adversarial training) fixes this. This
script trains on the digits (the conftest split, flat 64-feature inputs and the
default MLP, or 8x8 images and the default SmallCNN with ``--images``):

* ``ensemble-at``: ``EnsembleAdversarialTraining`` with two static
  ``StandardTraining`` models (seeds 100+s, 101+s) and R+FGSM (alpha eps/2);
* ``fgsm``: the same estimator without static models and ``attack="fgsm"``
  (FGSM training on the model's own predicted labels);
* ``rfgsm``: without static models, R+FGSM;

all with the same network, budget (``--epochs``), seed and eps, and evaluates
them on the test split: clean accuracy, accuracy on PGD-20 and FGSM examples
crafted on a held-out ``StandardTraining`` model (seed 200+s; for flat inputs a
narrower MLP, 64 hidden units), and white-box PGD-20 accuracy. One line per
(seed, eps, model); a summary of the mean over seeds at the end.

Usage::

    python benchmarks/ensemble_at_transfer.py                 # ~3 min on one core
    python benchmarks/ensemble_at_transfer.py --images --seeds 0 --eps 0.1,0.2

Results: benchmarks/results/ensemble_at_transfer.txt.
"""
import argparse
import time

import numpy as np
import pandas as pd
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
import torch

from robustsk.attacks import FGSM, PGD
from robustsk.datasets import load_digits_images
from robustsk.defenses import EnsembleAdversarialTraining, StandardTraining
from robustsk.evaluation import transfer_attack


def digits(images, n_train, n_test):
    X, y = load_digits_images(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    X_tr, X_te, y_tr, y_te = X_tr[:n_train], X_te[:n_test], y_tr[:n_train], y_te[:n_test]
    if not images:
        X_tr, X_te = X_tr.reshape(len(X_tr), -1), X_te.reshape(len(X_te), -1)
    return X_tr, X_te, y_tr, y_te


def run(seed, eps, args, data):
    X_tr, X_te, y_tr, y_te = data
    box = {"clip_min": 0.0, "clip_max": 1.0}
    epochs = args.epochs
    static = [FrozenEstimator(StandardTraining(max_epochs=epochs, random_state=100 + seed + i)
                              .fit(X_tr, y_tr)) for i in range(2)]
    held_kw = {} if args.images else {"module__hidden_units": (64,)}
    held = StandardTraining(max_epochs=epochs, random_state=200 + seed, **held_kw).fit(X_tr, y_tr)
    models = {
        "ensemble-at": EnsembleAdversarialTraining(static_models=static, eps=eps,
                                                   max_epochs=epochs, random_state=seed, **box),
        "fgsm": EnsembleAdversarialTraining(attack="fgsm", eps=eps, max_epochs=epochs,
                                            random_state=seed, **box),
        "rfgsm": EnsembleAdversarialTraining(eps=eps, max_epochs=epochs, random_state=seed,
                                             **box),
    }
    rows = []
    for name, clf in models.items():
        start = time.perf_counter()
        clf.fit(X_tr, y_tr)
        rows.append({
            "seed": seed, "eps": eps, "model": name,
            "fit_s": time.perf_counter() - start,
            "clean": clf.score(X_te, y_te),
            "transfer_pgd20": transfer_attack(held, clf, X_te, y_te, PGD(eps=eps, n_iter=20),
                                              random_state=seed).target_accuracy,
            "transfer_fgsm": transfer_attack(held, clf, X_te, y_te, FGSM(eps=eps)).target_accuracy,
            "whitebox_pgd20": clf.score_adversarial(X_te, y_te,
                                                    PGD(eps=eps, n_iter=20, random_state=seed)),
        })
        print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in rows[-1].items()), flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", action="store_true", help="8x8 images and SmallCNN")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--eps", default="0.1,0.2")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--n-train", type=int, default=800)
    parser.add_argument("--n-test", type=int, default=300)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = digits(args.images, args.n_train, args.n_test)
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for eps in [float(e) for e in args.eps.split(",")]:
            rows += run(seed, eps, args, data)
    table = pd.DataFrame(rows)
    summary = table.groupby(["eps", "model"])[
        ["clean", "transfer_pgd20", "transfer_fgsm", "whitebox_pgd20"]].mean()
    print(f"\nmean over seeds {args.seeds} ({'images, SmallCNN' if args.images else 'flat, MLP'}"
          f", {args.epochs} epochs, {len(data[0])} train / {len(data[1])} test digits):")
    print(summary.round(3).to_string())
    return table


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
