"""What does the scale-invariant stage of the default attack cost, and what does it buy?

``score_adversarial()`` and ``make_adversarial_scorer()`` use
:func:`robustsk.attacks.default_attack`. Before, it was PGD-20 (3 restarts)
then APGD-CE-20 on the survivors ("old"); now targeted APGD-DLR (3 targets,
20 iterations) runs on what those left ("new"). This script fits two digits
models (8x8 images in [0, 1], Linf eps 0.1): standard training and PGD
adversarial training (Madry, 7 steps), and times ``score_adversarial`` on the
digits test split (450 images, ``train_test_split(test_size=0.25,
random_state=0, stratify=y)``) with the old and the new default, on the model
as fitted and on the same model with its logits multiplied by 1e4 (same
decisions; the softmax saturates and cross-entropy gradients vanish). Each
configuration is timed ``--runs`` times, old and new alternating; the table
gives median seconds, the ratio new/old (median of per-run ratios) and the
robust accuracy, next to targeted APGD-DLR with 9 targets and 20 iterations as a
reference. Wall-clock times on a shared machine: read the ratios.

Run: ``OMP_NUM_THREADS=1 python benchmarks/default_attack_cost.py [--runs 3]``
"""
import argparse
import copy
import statistics
import time

from sklearn.model_selection import train_test_split
import torch
from torch import nn

from robustsk.attacks import APGD, PGD, WorstCase, default_attack
from robustsk.datasets import load_digits_images
from robustsk.defenses import AdversarialTraining, StandardTraining


class Scaled(nn.Module):
    def __init__(self, net, scale):
        super().__init__()
        self.net, self.scale = net, scale

    def forward(self, x):
        return self.scale * self.net(x)


def old_default():
    return WorstCase([PGD(n_iter=20, n_restarts=3), APGD(n_iter=20, loss="ce")])


def timed(clf, X, y, attack):
    start = time.perf_counter()
    acc = clf.score_adversarial(X, y, attack)
    return time.perf_counter() - start, acc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    X, y = load_digits_images(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    common = dict(eps=0.1, clip_min=0.0, clip_max=1.0, max_epochs=10, random_state=0)
    models = {"standard": StandardTraining(**common).fit(X_tr, y_tr),
              "madry": AdversarialTraining(n_iter=7, **common).fit(X_tr, y_tr)}
    print(f"digits test split: {len(y_te)} images, eps 0.1 Linf; torch "
          f"{torch.__version__}, {torch.get_num_threads()} thread(s), {args.runs} runs")
    print(f"{'model':<18}{'old s':>8}{'new s':>8}{'new/old':>9}{'old acc':>9}{'new acc':>9}"
          f"{'APGD-T9 acc':>13}")
    for name, fitted in models.items():
        for scale in (1, 1e4):
            clf = fitted
            if scale != 1:
                clf = copy.deepcopy(fitted)
                clf.module_ = Scaled(clf.module_, scale)
            times = {"old": [], "new": []}
            acc = {}
            for run in range(args.runs):
                order = ("old", "new") if run % 2 == 0 else ("new", "old")
                for which in order:
                    attack = old_default() if which == "old" else default_attack(10)
                    seconds, acc[which] = timed(clf, X_te, y_te, attack)
                    times[which].append(seconds)
            ratio = statistics.median(n / o for n, o in zip(times["new"], times["old"]))
            ref = clf.score_adversarial(X_te, y_te, APGD(n_iter=20, loss="dlr-targeted"))
            label = name + (" x1e4" if scale != 1 else "")
            print(f"{label:<18}{statistics.median(times['old']):>8.2f}"
                  f"{statistics.median(times['new']):>8.2f}{ratio:>9.2f}{acc['old']:>9.3f}"
                  f"{acc['new']:>9.3f}{ref:>13.3f}", flush=True)


if __name__ == "__main__":
    main()
