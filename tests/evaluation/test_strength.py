"""Strength: robustsk's attacks against an independent reference PGD written here."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from robustsk.attacks import APGD, PGD
from robustsk.defenses import AdversarialTraining, StandardTraining
from robustsk.evaluation import evaluate_robustness
from robustsk.metrics import robust_accuracy

EPS = 0.1


def reference_pgd(model, x, y, eps, step, n_iter, seed):
    """A textbook PGD (Madry et al.): uniform start, sign steps, project, clip to [0, 1]."""
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    x_adv = (x + (2 * torch.rand(x.shape, generator=gen) - 1) * eps).clamp(0, 1)
    for _ in range(n_iter):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)
        grad, = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + step * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
    with torch.no_grad():
        return (model(x_adv).argmax(1) != y).numpy()


@pytest.fixture(scope="module", params=["standard", "madry"])
def fitted(request, digits):
    X_tr, X_te, y_tr, y_te = digits
    cls = StandardTraining if request.param == "standard" else AdversarialTraining
    clf = cls(eps=EPS, max_epochs=4, random_state=0, clip_min=0, clip_max=1)
    return clf.fit(X_tr[:800], y_tr[:800]), X_te[:200], y_te[:200]


def test_pgd_and_apgd_at_least_as_strong_as_reference(fitted):
    clf, X, y = fitted
    x, yt = torch.as_tensor(X), torch.as_tensor(y)
    ref_fooled = max(reference_pgd(clf.module_, x, yt, EPS, EPS / 4, 20, seed).sum()
                     for seed in (0, 1))
    n = len(y)
    clean_wrong = int((clf.predict(X) != y).sum())
    pgd_fooled = max(n - round(robust_accuracy(clf, X, y, PGD(eps=EPS, n_iter=20,
                                                               random_state=seed)) * n)
                     for seed in (0, 1))
    apgd_fooled = n - round(robust_accuracy(clf, X, y, APGD(eps=EPS, n_iter=20, random_state=0))
                            * n)
    # the reference counts clean errors it did not keep; robustsk keeps them as failures.
    # Both sides are the best of two random starts, which still differ by chance: an
    # example or two of 200 either way (76 against 77 was seen), no more.
    assert pgd_fooled >= ref_fooled - 2
    assert apgd_fooled >= ref_fooled - 2
    assert apgd_fooled >= pgd_fooled  # APGD at least as strong as PGD-20
    assert pgd_fooled >= clean_wrong


def test_worst_case_never_above_any_single_attack(fitted):
    clf, X, y = fitted
    attacks = {"PGD-20": PGD(n_iter=20), "APGD-CE": APGD(n_iter=20)}
    result = evaluate_robustness(clf, X, y, attacks=attacks, eps=EPS, random_state=0,
                                 check_masking=False, skip_fooled=False)
    frame = result.frame
    worst = frame[frame["attack"] == "worst-case"]["correct"].mean()
    for name in attacks:
        single = frame[frame["attack"] == name]["correct"].mean()
        assert worst <= single + 1e-12
    assert np.isclose(worst, result.summary.query("attack == 'worst-case'")["robust_accuracy"]
                      .iloc[0])
