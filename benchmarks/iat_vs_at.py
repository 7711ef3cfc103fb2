"""Does IAT keep more clean accuracy than PGD adversarial training at comparable robustness?

Lamb et al. (AISec 2019) report that interpolated adversarial training (IAT)
loses much less clean accuracy than PGD adversarial training (AT) at similar
robust accuracy. This script fits ``AdversarialTraining`` and
``InterpolatedAdversarialTraining`` with the same default network, budget,
epochs and seed, and prints one JSON line per setting: clean accuracy, PGD-20
robust accuracy (``robustsk.attacks.PGD(n_iter=20)``), fit seconds, total seconds.

Pass a JSON list of settings (without one, a single digits setting runs:
``DEFAULT`` below, about 20 s)::

    python benchmarks/iat_vs_at.py '[{"name": "fashion", "n_tr": 1000, "n_te": 500,
        "eps": 0.1, "epochs": 6, "n_iter": 3, "alpha": 1.0, "seed": 0}]'

``name`` is "digits" (sklearn's 8x8 digits, the conftest split) or "fashion"
(the first ``n_tr`` training and ``n_te`` test images of Fashion-MNIST);
``extra`` passes more estimator parameters to both (e.g. ``module__channels``);
``at_eps`` trains AT at another radius than IAT (to compare along AT's
frontier) and ``test_eps`` sets the PGD-20 radius (both default to ``eps``).
One torch thread. Measurements are in tests/defenses/test_interpolated.py.
"""
import json
import sys
import time

from bench_data import load_split
import torch

from robustsk.attacks import PGD
from robustsk.defenses import AdversarialTraining, InterpolatedAdversarialTraining


def run(name, n_tr, n_te, eps, epochs, n_iter, alpha, seed, extra=None, at_eps=None,
        test_eps=None):
    X_tr, X_te, y_tr, y_te = load_split(name, n_tr, n_te)
    extra = extra or {}
    out = {}
    for tag, cls, kw in [("AT", AdversarialTraining, {"eps": eps if at_eps is None else at_eps}),
                         ("IAT", InterpolatedAdversarialTraining, {"eps": eps, "alpha": alpha})]:
        start = time.time()
        clf = cls(n_iter=n_iter, max_epochs=epochs, clip_min=0.0, clip_max=1.0,
                  random_state=seed, verbose=0, **kw, **extra).fit(X_tr, y_tr)
        fit_s = time.time() - start
        clean = clf.score(X_te, y_te)
        attack = PGD(n_iter=20) if test_eps is None else PGD(eps=test_eps, n_iter=20)
        robust = clf.score_adversarial(X_te, y_te, attack=attack)
        out[tag] = (round(clean, 3), round(robust, 3), round(fit_s, 1),
                    round(time.time() - start, 1))
    print(json.dumps(dict(data=name, n_tr=n_tr, eps=eps, at_eps=at_eps, test_eps=test_eps,
                          epochs=epochs, n_iter=n_iter,
                          alpha=alpha, seed=seed, extra=str(extra), **out)), flush=True)


DEFAULT = [{"name": "digits", "n_tr": 1347, "n_te": 450, "eps": 0.1, "epochs": 6, "n_iter": 3, "alpha": 1.0, "seed": 0}]

if __name__ == "__main__":
    torch.set_num_threads(1)
    for setting in json.loads(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT:
        run(**setting)
