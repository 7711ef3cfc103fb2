"""Certified vs empirical robust accuracy of one-hidden-layer networks, per training method.

For each data set, four networks with the same one hidden layer are trained
(``StandardTraining``, ``SDPCertifiedNetwork``, ``RobustUpperBoundTraining``
with ``method="rub"`` and ``"arub"``) at the larger of two L-infinity radii,
then evaluated at both: clean accuracy, empirical robust accuracy (PGD-20,
step eps/8, 3 restarts, CE and margin losses; an example counts as robust
only if both attacks fail) and the certified accuracy of every certificate
with its wall-clock time: the dual SDP bound (``certify_sdp_dual``, 50 dual
steps), the SDP solved by SCS through cvxpy (``certify_sdp_exact``, tabular
sets only: on digits it is 45 SDPs of size 97) and RUB (``certify_rub``).
``sdp_weight`` is 0.05 on the tabular sets and the default 0.01 on digits
(the weight multiplies a sum over class pairs: 1 or 3 pairs against 45); RUB
trains with its default L1 radius ``sqrt(d) * eps`` (the official code's).
Certified accuracy must never exceed robust accuracy; the script checks it.

Data: scikit-learn's breast-cancer (30 features, 2 classes) and wine (13
features, 3 classes), standardised on the training split; ``load_digits``
(8x8 in [0, 1], first 1000 / next 300 of the conftest split). One torch thread::

    python benchmarks/certify.py [--datasets cancer,wine,digits] [--seed 0]
"""
import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
import torch

from robustsk.attacks import PGD
from robustsk.certify.rub import certify_rub
from robustsk.certify.sdp import certify_sdp_dual, certify_sdp_exact
from robustsk.datasets import load_digits_images
from robustsk.defenses import RobustUpperBoundTraining, SDPCertifiedNetwork, StandardTraining
from robustsk.modules import MLP

SETTINGS = {
    # name: (eps pair, hidden units, epochs, lr, exact SDP, sdp_weight)
    "cancer": ((0.1, 0.3), 16, 30, 3e-3, True, 0.05),
    "wine": ((0.1, 0.3), 16, 30, 3e-3, True, 0.05),
    "digits": ((0.05, 0.1), 32, 15, 3e-3, False, 0.01),
}


def load(name):
    if name == "digits":
        X, y = load_digits_images(return_X_y=True)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0,
                                                  stratify=y)
        return X_tr[:1000], X_te[:300], y_tr[:1000], y_te[:300], (0.0, 1.0)
    X, y = (load_breast_cancer if name == "cancer" else load_wine)(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_tr)
    return (scaler.transform(X_tr).astype(np.float32), scaler.transform(X_te).astype(np.float32),
            y_tr, y_te, (None, None))


def robust(clf, X, y, eps, seed):
    ok = clf.predict(X) == y
    for loss in ("ce", "margin"):
        attack = PGD(eps=eps, norm="inf", n_iter=20, n_restarts=3, step_size=eps / 8,
                     loss=loss, random_state=seed)
        ok &= clf.predict(attack.generate(clf, X, y)) == y
    return ok


def run(name, seed):
    (eps_small, eps_big), hidden, epochs, lr, exact, sdp_weight = SETTINGS[name]
    X_tr, X_te, y_tr, y_te, (lo, hi) = load(name)
    shape, n_classes = X_tr.shape[1:], len(np.unique(y_tr))
    common = {"max_epochs": epochs, "lr": lr, "random_state": seed, "clip_min": lo,
              "clip_max": hi, "eps": eps_big}
    models = {
        "standard": StandardTraining(module=MLP, module__input_shape=shape,
                                     module__n_classes=n_classes,
                                     module__hidden_units=(hidden,),
                                     **common),
        "sdp": SDPCertifiedNetwork(hidden_units=hidden, sdp_weight=sdp_weight, **common),
        "rub": RobustUpperBoundTraining(method="rub", hidden_units=hidden, **common),
        "arub": RobustUpperBoundTraining(method="arub", hidden_units=hidden, **common),
    }
    certifiers = {"sdp_dual": lambda c, e: certify_sdp_dual(c, X_te, y_te, e, n_dual_steps=50),
                  "rub": lambda c, e: certify_rub(c, X_te, y_te, e)}
    if exact:
        certifiers["sdp_exact"] = lambda c, e: certify_sdp_exact(c, X_te, y_te, e)
    rows = []
    for model_name, clf in models.items():
        start = time.perf_counter()
        clf.fit(X_tr, y_tr)
        fit_s = time.perf_counter() - start
        clean = clf.score(X_te, y_te)
        for eps in (eps_small, eps_big):
            ok = robust(clf, X_te, y_te, eps, seed)
            for cert_name, certify in certifiers.items():
                start = time.perf_counter()
                certified, _ = certify(clf, eps)
                cert_s = time.perf_counter() - start
                assert not (certified & ~ok).any(), (name, model_name, cert_name, eps)
                rows.append((name, model_name, eps, clean, ok.mean(), cert_name,
                             certified.mean(), cert_s, fit_s))
                print(f"{name:7s} {model_name:9s} eps={eps:<5g} clean={clean:.3f} "
                      f"pgd={ok.mean():.3f} {cert_name:10s} certified={certified.mean():.3f} "
                      f"({cert_s:6.1f} s; fit {fit_s:5.1f} s)", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="cancer,wine,digits")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # warm-up: the first fit of a process pays one-off costs (lazy imports, allocators)
        X, y = load_wine(return_X_y=True)
        StandardTraining(max_epochs=1, random_state=0).fit(X[:64].astype(np.float32), y[:64])
        for name in args.datasets.split(","):
            rows += run(name, args.seed)
    return rows


if __name__ == "__main__":
    main()
