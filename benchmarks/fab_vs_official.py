"""robustsk's FAB next to the official FAB of AutoAttack, on the same model and start.

The official code (github.com/fra31/auto-attack, ``autoattack/fab_pt.py``,
``fab_base.py``, ``fab_projections.py``, ``other_utils.py``) is not a
dependency and is not vendored: put those four files, unchanged, in a folder
``DIR/autoattack/`` with an empty ``__init__.py`` (e.g. ``git show
HEAD:autoattack/fab_pt.py > DIR/autoattack/fab_pt.py`` in a clone) and pass
``--official DIR``.

Both attacks run on the same fitted digits network (8x8 images in [0, 1];
a small CNN and an MLP, standard training), from the clean input (one run, no
random restart: FAB's first run is deterministic), with the same settings
(100 steps, alpha_max 0.1, eta 1.05, beta 0.9), targeted at the class with the
2nd largest clean logit (FAB-T) and untargeted (FAB), Linf and L2, and a radius as wide as the box so that
every adversarial example found counts. Per correctly classified test example
the table compares the minimum norm found: median and 10th/90th percentiles of
the ratio robustsk / official over examples both fooled, how many each fooled,
and the largest absolute difference. It also checks that every point robustsk
calls adversarial is misclassified and that its reported norm is the norm of
the point returned.

Run: ``OMP_NUM_THREADS=1 python benchmarks/fab_vs_official.py --official DIR``
"""
import argparse
import sys

import numpy as np
from sklearn.model_selection import train_test_split
import torch

from robustsk.attacks import fab
from robustsk.datasets import load_digits_images
from robustsk.defenses import StandardTraining


def norms_of(delta, norm):
    flat = delta.flatten(1)
    return flat.abs().amax(1) if norm == "inf" else flat.norm(dim=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", required=True, help="folder holding autoattack/")
    parser.add_argument("--n", type=int, default=200, help="test examples")
    parser.add_argument("--n-iter", type=int, default=100)
    args = parser.parse_args(argv)
    sys.path.insert(0, args.official)
    from autoattack.fab_pt import FABAttack_PT  # noqa: E402 (the official code)

    torch.set_num_threads(1)
    X, y = load_digits_images(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    common = dict(eps=0.1, clip_min=0.0, clip_max=1.0, max_epochs=10, random_state=0)
    models = {"cnn": StandardTraining(**common).fit(X_tr, y_tr),
              "mlp": StandardTraining(module__hidden_units=(64,), **common).fit(
                  X_tr.reshape(len(X_tr), -1), y_tr)}
    print(f"digits, {args.n} test examples, FAB-T (2nd class) and FAB, {args.n_iter} steps, "
          f"one run from the clean input")
    print(f"{'model':<6}{'kind':<6}{'norm':<6}{'n':>5}{'fooled rsk':>11}{'fooled off':>11}"
          f"{'ratio p10':>10}{'median':>8}{'p90':>8}{'max |diff|':>11}")
    for name, clf in models.items():
        Xm = X_te[:args.n] if name == "cnn" else X_te[:args.n].reshape(args.n, -1)
        model = clf.module_.eval()
        x = torch.as_tensor(Xm)
        yt = torch.as_tensor(y_te[:args.n])
        with torch.no_grad():
            keep = model(x).argmax(1) == yt
        x, yt = x[keep], yt[keep]
        for targeted, (norm, official_norm, wide) in [
                (t, n) for t in (True, False)
                for n in (("inf", "Linf", 1.0), ("2", "L2", 8.0))]:
            ours, ours_norm = fab(model, x, yt, eps=wide, norm=norm, n_iter=args.n_iter,
                                  targeted=targeted, n_target_classes=1, clip_min=0.0,
                                  clip_max=1.0, return_norms=True)
            with torch.no_grad():
                ours_adv = model(ours).argmax(1) != yt
            assert bool((ours_adv | ~ours_norm.isfinite()).all()), "a success is not adversarial"
            found = ours_norm.isfinite()
            measured = norms_of(ours - x, norm)
            assert torch.allclose(measured[found], ours_norm[found], atol=1e-5)
            attack = FABAttack_PT(model, norm=official_norm, n_restarts=1, n_iter=args.n_iter,
                                  eps=wide, targeted=targeted, n_target_classes=1, seed=0,
                                  device="cpu")
            theirs = attack.perturb(x, yt)
            with torch.no_grad():
                their_adv = model(theirs).argmax(1) != yt
            their_norm = torch.where(their_adv, norms_of(theirs - x, norm),
                                     torch.tensor(float("inf")))
            both = found & their_norm.isfinite()
            ratio = (ours_norm[both] / their_norm[both].clamp_min(1e-12)).numpy()
            diff = (ours_norm[both] - their_norm[both]).abs().max().item() if both.any() else 0
            p10, med, p90 = np.percentile(ratio, [10, 50, 90]) if len(ratio) else (np.nan,) * 3
            print(f"{name:<6}{'FAB-T' if targeted else 'FAB':<6}{norm:<6}{len(yt):>5}{int(found.sum()):>11}"
                  f"{int(their_norm.isfinite().sum()):>11}{p10:>10.4f}{med:>8.4f}{p90:>8.4f}"
                  f"{diff:>11.2e}", flush=True)


if __name__ == "__main__":
    main()
