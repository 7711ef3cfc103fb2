"""Defenses: the issue's grid search, robustness against the baseline, loss formulas."""
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import Pipeline
import torch

from robustsk.attacks import PGD, Randomness
from robustsk.defenses import (
    TRADES,
    AdversarialTraining,
    FastAdversarialTraining,
    FriendlyAdversarialTraining,
    StandardTraining,
    trades_loss,
)
from robustsk.defenses.friendly import TAU_SCHEDULES
from robustsk.metrics import make_adversarial_scorer

BOX = {"clip_min": 0.0, "clip_max": 1.0}


def test_issue_grid_search_over_which_defense(digits_small):
    X_tr, X_te, y_tr, y_te = digits_small
    X, y = X_tr[:300], y_tr[:300]
    fast = {"max_epochs": 2, "n_iter": 3, "random_state": 0, **BOX}
    grid = GridSearchCV(
        Pipeline([("clf", TRADES(**fast))]),
        param_grid=[{"clf": [TRADES(beta=1.0, **fast), TRADES(beta=6.0, **fast)]},
                    {"clf": [AdversarialTraining(**fast), FriendlyAdversarialTraining(tau=1, **fast)],
                     "clf__eps": [0.05, 0.1]}],
        scoring={"clean": "accuracy", "robust": make_adversarial_scorer(PGD(eps=0.1, n_iter=5))},
        refit="robust", cv=3)
    grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == 6
    assert np.all(grid.cv_results_["mean_test_robust"] <= grid.cv_results_["mean_test_clean"] + 1e-12)
    best = grid.best_estimator_[-1]
    score = best.score_adversarial(X_te, y_te)
    assert isinstance(score, float) and 0.0 <= score <= best.score(X_te, y_te)


def test_cross_validate_with_robust_scorer(tabular):
    X, y = tabular
    res = cross_validate(AdversarialTraining(max_epochs=3, random_state=0), X, y, cv=2,
                         scoring={"acc": "accuracy",
                                  "robust": make_adversarial_scorer(PGD(n_iter=5))})
    assert np.all(res["test_robust"] <= res["test_acc"])


@pytest.fixture(scope="module")
def fitted_on_digits(digits):
    """Every defense and the baseline, fitted on digits with the same budget."""
    X_tr, X_te, y_tr, y_te = digits
    common = {"eps": 0.1, "max_epochs": 10, "random_state": 0, **BOX}
    models = {"standard": StandardTraining(**common),
              "madry": AdversarialTraining(**common),
              "trades": TRADES(**common),
              "fat": FriendlyAdversarialTraining(tau=2, **common),
              "fast": FastAdversarialTraining(**common)}
    return {k: m.fit(X_tr, y_tr) for k, m in models.items()}, X_te[:200], y_te[:200]


@pytest.mark.parametrize("name", ["madry", "trades", "fat", "fast"])
def test_defense_more_robust_than_baseline(fitted_on_digits, name):
    models, X_te, y_te = fitted_on_digits
    attack = PGD(eps=0.1, n_iter=20, random_state=0)
    base = models["standard"].score_adversarial(X_te, y_te, attack)
    robust = models[name].score_adversarial(X_te, y_te, attack)
    assert models[name].score(X_te, y_te) > 0.85
    assert robust >= base + 0.10, (name, robust, base)


def test_trades_loss_matches_formula_by_hand():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 4)
    x = torch.rand(5, 3)
    x_adv = x + 0.05 * torch.randn(5, 3)
    y = torch.tensor([0, 1, 2, 3, 0])
    z, z_adv = model(x), model(x_adv)
    loss, natural, robust = trades_loss(z, z_adv, y, beta=6.0)
    # by hand: mean CE + beta * mean_i sum_k p_k (log p_k - log q_k)
    p = torch.exp(z) / torch.exp(z).sum(1, keepdim=True)
    q = torch.exp(z_adv) / torch.exp(z_adv).sum(1, keepdim=True)
    ce = -torch.log(p[torch.arange(5), y]).mean()
    kl = (p * (torch.log(p) - torch.log(q))).sum(1).mean()
    assert torch.allclose(natural, ce, atol=1e-6)
    assert torch.allclose(robust, kl, atol=1e-6)
    assert torch.allclose(loss, ce + 6.0 * kl, atol=1e-5)
    # the clean softmax is not detached: the KL term sends gradient through f(x)
    g_clean, = torch.autograd.grad(robust, z, retain_graph=True)
    assert g_clean.abs().sum() > 0


def test_trades_attack_climbs_kl(digits_small):
    """The inner attack of TRADES raises KL(f(x) || f(x')) over its start."""
    from robustsk.attacks import pgd
    from robustsk.attacks.losses import kl_to_clean
    X_tr, _, y_tr, _ = digits_small
    clf = StandardTraining(max_epochs=3, random_state=0, **BOX).fit(X_tr, y_tr)
    x, y = torch.as_tensor(X_tr[:64]), torch.as_tensor(y_tr[:64])
    with torch.no_grad():
        clean = clf.module_(x)
    start = pgd(clf.module_, x, y, eps=0.1, n_iter=0, random_start="normal", loss="kl",
                return_best=False, random_state=0)
    adv = pgd(clf.module_, x, y, eps=0.1, n_iter=10, random_start="normal", loss="kl",
              return_best=False, random_state=0, **BOX)
    with torch.no_grad():
        kl0 = kl_to_clean(clf.module_(start), y, clean_logits=clean).mean()
        kl1 = kl_to_clean(clf.module_(adv), y, clean_logits=clean).mean()
    assert kl1 > 10 * kl0


def test_fat_tau_schedule_scales_with_max_epochs():
    fat = FriendlyAdversarialTraining(tau_schedule="paper", max_epochs=12)
    taus = [fat.current_tau(e) for e in range(12)]
    assert taus[0] == 0 and taus[-1] == 2 and taus == sorted(taus)
    assert taus[5] == 1  # 5/12 >= 50/120
    fat_t = FriendlyAdversarialTraining(tau_schedule="paper", loss="trades", max_epochs=85)
    assert [fat_t.current_tau(e) for e in (0, 29, 30, 50, 70, 84)] == [0, 0, 1, 2, 3, 3]
    assert TAU_SCHEDULES["ce"][1] == (50 / 120, 1)
    assert FriendlyAdversarialTraining(tau=3).current_tau(40) == 3


def test_fat_trades_records_clean_loss(digits_small):
    X_tr, _, y_tr, _ = digits_small
    clf = FriendlyAdversarialTraining(loss="trades", max_epochs=1, random_state=0, **BOX)
    clf.fit(X_tr[:128], y_tr[:128])
    assert "train_clean_loss" in clf.history[-1]


class BNNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.BatchNorm1d(16),
                                        torch.nn.ReLU(), torch.nn.Linear(16, 3))

    def forward(self, x):
        return self.body(x)


def test_madry_attack_mode_train_moves_batchnorm_statistics(tabular):
    X, y = tabular
    stats = {}
    for mode in ("eval", "train"):
        clf = AdversarialTraining(module=BNNet, attack_mode=mode, max_epochs=1, batch_size=300,
                                  n_iter=3, random_state=0).fit(X, y)
        stats[mode] = clf.module_.body[1].num_batches_tracked.item()
    # eval: one update per batch (the training forward); train: plus one per attack step
    assert stats["eval"] == 1
    assert stats["train"] == 1 + 3
    with pytest.raises(ValueError, match="attack_mode"):
        AdversarialTraining(attack_mode="sometimes", max_epochs=1).fit(X, y)


def test_fast_at_attacks_in_train_mode_like_the_official_code(tabular):
    """Wong et al.'s train_fgsm.py keeps model.train() for the FGSM step: batch norm
    reads the batch's statistics and moves its running ones; attack_mode="eval" opts out."""
    X, y = tabular
    counts = {}
    for mode in ("train", "eval"):
        clf = FastAdversarialTraining(module=BNNet, attack_mode=mode, max_epochs=1,
                                      batch_size=300, random_state=0).fit(X, y)
        counts[mode] = clf.module_.body[1].num_batches_tracked.item()
    assert FastAdversarialTraining().attack_mode == "train"
    assert counts == {"train": 2, "eval": 1}  # one FGSM forward more in train mode
    with pytest.raises(ValueError, match="attack_mode"):
        FastAdversarialTraining(attack_mode="sometimes", max_epochs=1).fit(X, y)


def test_fast_at_step_matches_the_official_update_by_hand(tabular, monkeypatch):
    """One batch of FastAdversarialTraining equals the official FGSM step written out
    (uniform start, clip, one step of 1.25 eps in train mode, project, clip, CE, SGD)."""
    X, y = tabular
    X = ((X - X.min(0)) / (X.max(0) - X.min(0))).astype(np.float32)  # inside the [0, 1] box
    eps, lr = 0.1, 0.05
    seen, draws = {}, []

    class Recorded(FastAdversarialTraining):
        def pgd_examples(self, x, y, **kwargs):  # the batch, and the network before its step
            seen["x"], seen["y"] = x.detach().clone(), y.clone()
            seen["weights"] = {k: v.clone() for k, v in self.module_.state_dict().items()}
            return super().pgd_examples(x, y, **kwargs)

    uniform = Randomness.uniform

    def spy(self, like, low=-1.0, high=1.0):
        out = uniform(self, like, low, high)
        draws.append(out.detach().clone())
        return out

    monkeypatch.setattr(Randomness, "uniform", spy)
    clf = Recorded(module=BNNet, eps=eps, max_epochs=1, batch_size=len(X), lr=lr,
                   optimizer=torch.optim.SGD, random_state=0, train_split=None, **BOX)
    clf.fit(X, y)
    assert len(draws) == 1
    reference = BNNet()
    reference.load_state_dict(seen["weights"])
    xb, yb = seen["x"], seen["y"]
    # the official step: delta ~ U(-eps, eps), x + delta clipped, model.train() throughout
    reference.train()
    delta = (torch.clamp(xb + eps * draws[0], 0, 1) - xb).requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(reference(xb + delta), yb)
    grad, = torch.autograd.grad(loss, delta)
    delta = torch.clamp(delta.detach() + 1.25 * eps * grad.sign(), -eps, eps)
    x_adv = torch.clamp(xb + delta, 0, 1)
    opt = torch.optim.SGD(reference.parameters(), lr=lr)
    opt.zero_grad()
    torch.nn.functional.cross_entropy(reference(x_adv), yb).backward()
    opt.step()
    for (name, ours), theirs in zip(clf.module_.state_dict().items(),
                                    reference.state_dict().values()):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6, msg=name)


def test_fast_at_uses_larger_default_step(tabular):
    X, y = tabular
    clf = FastAdversarialTraining(max_epochs=1, eps=0.2, random_state=0).fit(X, y)
    assert clf.step_size is None  # the parameter is left untouched
    assert clf.score(X, y) > 0.3


def test_defense_params_are_grid_searchable():
    est = TRADES(beta=2.0, eps=0.2)
    params = est.get_params()
    assert params["beta"] == 2.0 and params["eps"] == 0.2
    est.set_params(beta=3.0, eps=0.05)
    assert est.beta == 3.0 and est.eps == 0.05
