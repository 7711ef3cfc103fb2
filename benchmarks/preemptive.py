"""Preemptive robustification against a man in the middle (Moon, An & Song, AAAI 2022).

For a standard, a PGD-trained and a randomized-smoothing model (L2 only, the
paper's smoothed variant: the adversary runs EOT PGD on the soft smoothed
classifier and accuracy is the smoothed ``predict``, abstentions wrong): accuracy of the original images and
of their robustified versions (``PreemptiveRobustifier``, delta = eps) after
the adversary's PGD-20 (3 restarts) at ``eps``, in Linf and in L2
(:func:`robustsk.preemptive.mitm_evaluation`); also the largest change made
and whether every robustified image stays in [0, 1].

Usage (one torch thread)::

    python benchmarks/preemptive.py --dataset digits
    python benchmarks/preemptive.py --dataset fashion --n-train 2000 --n-test 200

Results: benchmarks/results/preemptive_<date>.txt.
"""
import argparse
import time

from bench_data import load_split
import torch

from robustsk.defenses import AdversarialTraining, RandomizedSmoothingClassifier, StandardTraining
from robustsk.preemptive import PreemptiveRobustifier, mitm_evaluation


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["digits", "fashion"], default="digits")
    parser.add_argument("--n-train", type=int, default=1347)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--n-iter", type=int, default=100,
                        help="outer steps (the official code's 100)")
    parser.add_argument("--optimizer", choices=["rmsprop", "sgd"], default=None,
                        help="outer update; default: the official code's, RMSprop (Linf) "
                             "or plain gradient steps (L2)")
    parser.add_argument("--lr", type=float, default=None,
                        help="outer learning rate; default: the official code's")
    parser.add_argument("--attack-iter", type=int, default=10, help="inner PGD steps")
    parser.add_argument("--linf-eps", type=float, default=0.1)
    parser.add_argument("--l2-eps", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sigma", type=float, default=0.25,
                        help="noise of the smoothed model (L2 only; 0 skips it)")
    parser.add_argument("--models", nargs="+", default=["standard", "PGD-AT", "smoothed"],
                        choices=["standard", "PGD-AT", "smoothed"])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    X_tr, X_te, y_tr, y_te = load_split(args.dataset, args.n_train, args.n_test)
    print(f"dataset {args.dataset}: {len(X_tr)} train, {len(X_te)} test, seed {args.seed}, "
          f"{args.n_iter} outer steps, inner PGD-{args.attack_iter}; adversary PGD-20 x3 "
          "restarts; delta = eps")
    common = {"max_epochs": args.epochs, "eps": args.linf_eps, "clip_min": 0.0,
              "clip_max": 1.0, "random_state": args.seed}
    models = {"standard": StandardTraining(**common),
              "PGD-AT": AdversarialTraining(n_iter=5, **common)}
    print(f"{'model':9s} {'norm':>4s} {'eps':>5s} {'clean':>6s} {'robustified':>11s} "
          f"{'MITM orig':>9s} {'MITM robustified':>16s} {'max change':>10s} {'in box':>6s} "
          f"{'s':>5s}")
    if args.sigma > 0:  # the paper's smoothed variant: L2, EOT over 5 noise draws
        models["smoothed"] = RandomizedSmoothingClassifier(
            StandardTraining(**common), sigma=args.sigma, n=100, n0=20, alpha=0.01,
            random_state=args.seed)
    for name, clf in models.items():
        if name not in args.models:
            continue
        clf.fit(X_tr, y_tr)
        norms = ((2, args.l2_eps),) if name == "smoothed" else (("inf", args.linf_eps),
                                                                 (2, args.l2_eps))
        for norm, eps in norms:
            start = time.time()
            rob = PreemptiveRobustifier(clf, eps=eps, norm=norm, n_iter=args.n_iter,
                                        lr=args.lr, optimizer=args.optimizer,
                                        attack_iter=args.attack_iter, random_state=args.seed)
            r = mitm_evaluation(rob, X_te, y_te)
            print(f"{name:9s} {str(norm):>4s} {eps:5.2f} {r.clean_accuracy:6.3f} "
                  f"{r.robustified_accuracy:11.3f} {r.robust_accuracy_original:9.3f} "
                  f"{r.robust_accuracy_robustified:16.3f} {r.max_change:10.4f} "
                  f"{str(r.in_box):>6s} {time.time() - start:5.0f}", flush=True)


if __name__ == "__main__":
    main()
