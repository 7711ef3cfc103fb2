"""Certified against empirical robust accuracy on digits: IBP and randomized smoothing.

For each model, at two radii: the certified accuracy (``robustsk.certify.certify``),
the empirical robust accuracy under PGD-20 with 3 restarts, and the time the
certificate took. The certified accuracy must never exceed the empirical one.

* IBP (Linf): ``StandardTraining`` and ``AdversarialTraining`` (eps 0.05,
  PGD-5), on the default ``SmallCNN`` (images) and on an MLP (flat features,
  one hidden layer of 64), Linf radii 0.01 and 0.03.
* Randomized smoothing (L2, ``RandomizedSmoothingClassifier`` around the
  MLP's ``StandardTraining``, sigma 0.25 and 0.5, n0 = 100, n = 1000,
  alpha = 0.001), L2 radii 0.25 and 0.5. Its empirical column: the smoothed
  classifier's ``predict`` (abstentions count as errors) on PGD-L2 examples
  against the noise-trained base (a transfer attack, not an attack on the
  smoothed classifier itself).

Data: ``load_digits_images``, the test suite's 75/25 stratified split,
the first ``--n-train`` / ``--n-test`` examples. One torch thread::

    python benchmarks/certify_digits.py --output benchmarks/results/certify_digits.txt
"""
import argparse
import time

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
import torch

from robustsk.attacks import PGD
from robustsk.certify import certify
from robustsk.datasets import load_digits_images
from robustsk.defenses import AdversarialTraining, RandomizedSmoothingClassifier, StandardTraining


def _data(n_train, n_test):
    X, y = load_digits_images(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    return X_tr[:n_train], X_te[:n_test], y_tr[:n_train], y_te[:n_test]


def _row(model, method, norm, eps, clean, res, empirical):
    return {"model": model, "method": method, "norm": norm, "eps": eps, "clean": clean,
            "certified": res.certified_accuracy, "ci_low": res.interval.low,
            "ci_high": res.interval.high, "empirical": empirical,
            "certify_s": res.seconds}


def run(n_train=1000, n_test=200, epochs=10, seed=0, n=1000):
    X_tr, X_te, y_tr, y_te = _data(n_train, n_test)
    flat = (X_tr.reshape(len(X_tr), -1), X_te.reshape(len(X_te), -1))
    box = dict(clip_min=0.0, clip_max=1.0, random_state=seed, max_epochs=epochs)
    rows = []
    for name, cls, kw in [("standard", StandardTraining, {}),
                          ("madry", AdversarialTraining, {"eps": 0.05, "n_iter": 5})]:
        for arch, (Xa, Xb), extra in [("cnn", (X_tr, X_te), {}),
                                      ("mlp", flat, {"module__hidden_units": (64,),
                                                     "lr": 0.01})]:
            clf = cls(**box, **kw, **extra).fit(Xa, y_tr)
            clean = clf.score(Xb, y_te)
            for eps in (0.01, 0.03):
                res = certify(clf, Xb, y_te, eps, norm="inf", method="ibp")
                attack = PGD(eps=eps, norm="inf", n_iter=20, n_restarts=3, random_state=seed)
                empirical = clf.score_adversarial(Xb, y_te, attack=attack)
                rows.append(_row(f"{name}-{arch}", "ibp", "inf", eps, clean, res, empirical))
    for sigma in (0.25, 0.5):
        base = StandardTraining(max_epochs=epochs, lr=0.01, random_state=seed,
                                module__hidden_units=(64,))
        smooth = RandomizedSmoothingClassifier(base, sigma=sigma, n=n, n0=min(100, n),
                                               random_state=seed)
        smooth.fit(flat[0], y_tr)
        clean = smooth.score(flat[1], y_te)
        for eps in (0.25, 0.5):
            res = certify(smooth, flat[1], y_te, eps)
            attack = PGD(eps=eps, norm=2, n_iter=20, n_restarts=3, random_state=seed)
            X_adv = attack.generate(smooth.base_estimator_, flat[1], y_te)
            empirical = float(np.mean(smooth.predict(X_adv) == y_te))
            rows.append(_row(f"smoothing-mlp sigma={sigma}", "smoothing", "2", eps, clean,
                             res, empirical))
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--n", type=int, default=1000, help="smoothing's Monte Carlo draws")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None, help="also write the table to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.time()
    table = run(args.n_train, args.n_test, args.epochs, args.seed, args.n)
    text = table.to_string(index=False, float_format=lambda v: f"{v:.3f}")
    text += f"\n\ntotal {time.time() - start:.0f} s, torch {torch.__version__}, 1 thread"
    print(text)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text + "\n")
    assert (table["certified"] <= table["empirical"] + 1e-12).all(), "certified > empirical"
    return table


if __name__ == "__main__":
    main()
