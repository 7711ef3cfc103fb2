"""The internal-Wasserstein threat model against PGD's Linf ball (Wang et al., arXiv 2103.07598).

Part ``attack``: on a standard model, PGD-20 (Linf) and the IWD attack (20
steps) at several budgets. Per budget: the success rate (fooled among the
correctly classified) and the mean Linf, L2 and internal Wasserstein distance
of the successful perturbations. Then each IWD budget is paired with the PGD
radius of the closest success rate, to compare the perturbations at about
equal success.

Part ``defense``: standard, PGD (``AdversarialTraining``) and IWD
(``IWDAdversarialTraining``) training with the same network, epochs and
seed; clean accuracy and accuracy under PGD-20 (Linf ``eps``) and under the
IWD attack (budget ``iwd_eps``).

Usage (one torch thread)::

    python benchmarks/iwd.py --dataset digits --part attack defense
    python benchmarks/iwd.py --dataset fashion --n-train 2000 --n-test 200 --part attack

Results: benchmarks/results/iwd_<date>.txt.
"""
import argparse
import time

from bench_data import load_split
import numpy as np
import torch

from robustsk.attacks import IWD, PGD
from robustsk.defenses import AdversarialTraining, IWDAdversarialTraining, StandardTraining

#: patches: 3x3, stride 1 on 8x8 digits; 4x4, stride 2 on 28x28 Fashion-MNIST (169 patches)
PATCHES = {"digits": (3, 1), "fashion": (4, 2)}


def perturbation_stats(clf, X, y, X_adv, iwd_attack):
    ok = clf.predict(X) == y
    fooled = ok & (clf.predict(X_adv) != y)
    d = (X_adv.astype(np.float64) - X).reshape(len(X), -1)[fooled]
    threat = iwd_attack.resolve_threat(clf)
    size = iwd_attack.perturbation_size(X_adv[fooled], X[fooled], threat)
    return {"success": fooled.sum() / max(ok.sum(), 1),
            "linf": np.abs(d).max(1).mean() if len(d) else np.nan,
            "l2": np.linalg.norm(d, axis=1).mean() if len(d) else np.nan,
            "iwd": size.mean() if len(d) else np.nan}


def part_attack(args, data, patch):
    X_tr, X_te, y_tr, y_te = data
    clf = StandardTraining(max_epochs=args.epochs, clip_min=0.0, clip_max=1.0,
                           random_state=args.seed).fit(X_tr, y_tr)
    print(f"standard model: clean accuracy {clf.score(X_te, y_te):.3f} on {len(y_te)}")
    measure = IWD(patch_size=patch[0], stride=patch[1])
    rows = []
    for eps in args.pgd_eps:
        X_adv = PGD(eps=eps, n_iter=20, random_state=args.seed).generate(clf, X_te, y_te)
        rows.append(("PGD-Linf", eps, perturbation_stats(clf, X_te, y_te, X_adv, measure)))
    for eps in args.pgd_l2_eps:
        X_adv = PGD(eps=eps, norm=2, n_iter=20, random_state=args.seed).generate(clf, X_te, y_te)
        rows.append(("PGD-L2", eps, perturbation_stats(clf, X_te, y_te, X_adv, measure)))
    for eps in args.iwd_eps:
        attack = IWD(eps=eps, n_iter=20, patch_size=patch[0], stride=patch[1])
        X_adv = attack.generate(clf, X_te, y_te)
        rows.append(("IWD", eps, perturbation_stats(clf, X_te, y_te, X_adv, measure)))
    print(f"{'attack':9s} {'budget':>7s} {'success':>8s} {'Linf':>7s} {'L2':>7s} {'IWD':>7s}"
          "   (means over successful perturbations)")
    for name, eps, s in rows:
        print(f"{name:9s} {eps:7.3f} {s['success']:8.3f} {s['linf']:7.3f} {s['l2']:7.3f} "
              f"{s['iwd']:7.3f}")
    print("paired by closest success rate: IWD / PGD ratios of Linf, L2, IWD")
    for norm in ("PGD-Linf", "PGD-L2"):
        pgd_rows = [r for r in rows if r[0] == norm]
        if not pgd_rows:
            continue
        for _, eps, s in (r for r in rows if r[0] == "IWD"):
            _, p_eps, p = min(pgd_rows, key=lambda r: abs(r[2]["success"] - s["success"]))
            print(f"  IWD {eps:.3f} ({s['success']:.2f}) vs {norm} {p_eps:.3f} "
                  f"({p['success']:.2f}): Linf x{s['linf'] / p['linf']:.2f}, "
                  f"L2 x{s['l2'] / p['l2']:.2f}, IWD x{s['iwd'] / p['iwd']:.2f}")


def part_defense(args, data, patch):
    X_tr, X_te, y_tr, y_te = data
    common = {"max_epochs": args.epochs, "eps": args.eps, "n_iter": args.train_iter,
              "clip_min": 0.0, "clip_max": 1.0, "random_state": args.seed}
    models = {
        "standard": StandardTraining(**common),
        "PGD-AT": AdversarialTraining(**common),
        "IWD-AT": IWDAdversarialTraining(iwd_eps=args.train_iwd_eps, patch_size=patch[0],
                                         stride=patch[1], **common),
    }
    print(f"{'training':9s} {'fit s':>6s} {'clean':>6s} {'PGD-20':>7s} "
          + " ".join(f"{'IWD ' + format(e, 'g'):>8s}" for e in args.iwd_eps))
    for name, clf in models.items():
        start = time.time()
        clf.fit(X_tr, y_tr)
        fit_s = time.time() - start
        pgd = clf.score_adversarial(X_te, y_te, PGD(n_iter=20, random_state=args.seed))
        iwd = [clf.score_adversarial(X_te, y_te, IWD(eps=e, n_iter=20, patch_size=patch[0],
                                                      stride=patch[1]))
               for e in args.iwd_eps]
        print(f"{name:9s} {fit_s:6.0f} {clf.score(X_te, y_te):6.3f} {pgd:7.3f} "
              + " ".join(f"{a:8.3f}" for a in iwd), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(PATCHES), default="digits")
    parser.add_argument("--part", nargs="+", choices=["attack", "defense"],
                        default=["attack", "defense"])
    parser.add_argument("--n-train", type=int, default=1347)
    parser.add_argument("--n-test", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--eps", type=float, default=0.1, help="Linf radius of PGD training")
    parser.add_argument("--train-iter", type=int, default=5)
    parser.add_argument("--train-iwd-eps", type=float, default=0.3)
    parser.add_argument("--pgd-eps", type=float, nargs="+", default=[0.05, 0.1, 0.15, 0.2])
    parser.add_argument("--pgd-l2-eps", type=float, nargs="*", default=[0.5, 1.0, 1.5])
    parser.add_argument("--iwd-eps", type=float, nargs="+", default=[0.15, 0.3, 0.45])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = load_split(args.dataset, args.n_train, args.n_test)
    patch = PATCHES[args.dataset]
    print(f"dataset {args.dataset}: {len(data[0])} train, {len(data[1])} test, "
          f"patches {patch[0]}x{patch[0]} stride {patch[1]}, seed {args.seed}")
    if "attack" in args.part:
        part_attack(args, data, patch)
    if "defense" in args.part:
        part_defense(args, data, patch)


if __name__ == "__main__":
    main()
