"""evaluate_robustness: worst case, tidy frames, skipping, re-check, EOT, bad input."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
import torch

from robustsk.attacks import APGD, Attack
from robustsk.defenses import StandardTraining
from robustsk.evaluation import (
    EOTModule,
    RobustnessResult,
    UnverifiedSuccessWarning,
    autoattack_ensemble,
    evaluate_robustness,
)
from robustsk.evaluation._runner import configure

FAST = dict(check_masking=False, random_state=0)


def _attacks():
    from robustsk.attacks.square import Square
    return {"APGD-CE": APGD(n_iter=10), "APGD-DLR": APGD(loss="dlr", n_iter=10),
            "Square": Square(n_iter=50)}


@pytest.fixture(scope="module")
def result(standard, data):
    _, _, X, y = data
    return evaluate_robustness(standard, X, y, attacks=_attacks(), eps=[0.0, 0.05, 0.1], **FAST)


def test_tidy_frame_has_complete_pairs(result, data):
    _, _, X, y = data
    frame = result.frame
    assert isinstance(result, RobustnessResult)
    assert list(frame.columns) == ["example_id", "eps", "attack", "attacked", "correct",
                                   "perturbation_norm", "queries"]
    assert len(frame) == 3 * 4 * len(y)
    for (eps, attack), group in frame.groupby(["eps", "attack"], observed=True):
        assert sorted(group["example_id"]) == list(range(len(y)))
    skipped = frame[~frame["attacked"]]
    assert skipped["perturbation_norm"].isna().all() and (skipped["queries"] == 0).all()
    assert not skipped["correct"].any()  # skipped: misclassified or fooled already
    attacked = frame[frame["attacked"] & (frame["attack"] != "worst-case")]
    assert (attacked["perturbation_norm"] <= attacked["eps"] + 1e-5).all()
    # summary = the frame's means; accuracy over ALL examples, never above clean
    means = frame.groupby(["eps", "attack"], observed=True)["correct"].mean()
    for row in result.summary.itertuples():
        assert row.robust_accuracy == pytest.approx(means[(row.eps, row.attack)])
        assert row.robust_accuracy <= row.clean_accuracy
    assert result.robust_accuracy[0.0] == pytest.approx(result.clean_accuracy)
    assert result.robust_accuracy[0.1] <= result.robust_accuracy[0.05] + 0.05
    assert result.robust_accuracy[0.1] < result.clean_accuracy


def test_worst_case_never_above_any_single_attack(standard, data):
    _, _, X, y = data
    res = evaluate_robustness(standard, X, y, attacks=_attacks(), eps=0.1, skip_fooled=False,
                              **FAST)
    acc = res.summary.set_index("attack")["robust_accuracy"]
    assert acc["worst-case"] <= acc.drop("worst-case").min()
    wide = res.frame.pivot(index="example_id", columns="attack", values="correct")
    np.testing.assert_array_equal(wide["worst-case"],
                                  wide[["APGD-CE", "APGD-DLR", "Square"]].all(axis=1))


def test_skipping_changes_nothing(standard, data, per_example):
    """Worst case with skipping = each attack run alone on all of X, then combined
    (exactly, behind a network that rounds alike in any batch: tests/conftest.py)."""
    _, _, X, y = data
    X, y = X[:50], y[:50]  # example by example is slow
    standard = per_example(standard)
    attacks = _attacks()
    res = evaluate_robustness(standard, X, y, attacks=attacks, eps=0.1, **FAST)
    seeds = res.metadata["attack_random_state"]
    alone = np.ones(len(y), dtype=bool)
    for name, attack in attacks.items():
        X_adv = configure(attack, 0.1, seeds[name]).generate(standard, X, y)
        alone &= standard.predict(X_adv) == y
    worst = res.frame[res.frame["attack"] == "worst-case"].sort_values("example_id")
    np.testing.assert_array_equal(worst["correct"].to_numpy(), alone)
    # and fewer examples were attacked than without skipping
    full = evaluate_robustness(standard, X, y, attacks=attacks, eps=0.1, skip_fooled=False,
                               **FAST)
    assert full.robust_accuracy[0.1] == res.robust_accuracy[0.1]
    assert res.summary["n_attacked"].iloc[1] < full.summary["n_attacked"].iloc[1]


def test_adversarial_examples_and_metadata(result, data):
    _, _, X, y = data
    X_adv = result.adversarial_examples[0.1]
    assert X_adv.shape == X.shape and np.abs(X_adv - X).max() <= 0.1 + 1e-6
    worst = result.frame[(result.frame["attack"] == "worst-case") & (result.frame["eps"] == 0.1)]
    assert worst["correct"].dtype == bool
    assert worst["correct"].mean() == result.robust_accuracy[0.1]
    meta = result.metadata
    assert set(meta["versions"]) >= {"python", "torch", "sklearn", "skorch", "robustsk"}
    assert meta["seed"] == 0 and meta["eps"] == [0.0, 0.05, 0.1]
    assert meta["queries_exact"] == {"APGD-CE": False, "APGD-DLR": False, "Square": True}
    with pytest.raises(TypeError):
        meta["seed"] = 1  # read-only


def test_reproducible_and_global_rng_untouched(standard, data):
    _, _, X, y = data
    state = torch.get_rng_state()
    a = evaluate_robustness(standard, X[:40], y[:40], attacks=[APGD(n_iter=5)], **FAST)
    b = evaluate_robustness(standard, X[:40], y[:40], attacks=[APGD(n_iter=5)], **FAST)
    assert torch.equal(state, torch.get_rng_state())
    pd.testing.assert_frame_equal(a.frame, b.frame)


class _OutsideBall(Attack):
    """A broken attack: jumps 5 eps away (a 'success' outside the ball)."""

    def __init__(self, eps=None, norm=None, clip_min=None, clip_max=None, batch_size=256,
                 random_state=None):
        self.eps, self.norm, self.clip_min, self.clip_max = eps, norm, clip_min, clip_max
        self.batch_size, self.random_state = batch_size, random_state

    def perturb(self, model, x, y, *, threat, rng, y_target=None):
        return (1 - x).clamp(0, 1)  # the negative image: misclassified, far outside the ball


class _GenerateOnly(_OutsideBall):
    """The same bug in an attack that only implements generate."""

    perturb = Attack.perturb

    def generate(self, estimator, X, y, *, y_target=None):
        return np.clip(1 - X, 0, 1)


@pytest.mark.parametrize("attack", [_OutsideBall(), _GenerateOnly()])
def test_recheck_catches_a_bogus_success(attack, standard, data):
    _, _, X, y = data
    with pytest.warns(UnverifiedSuccessWarning, match="outside the eps=0.1"):
        res = evaluate_robustness(standard, X, y, attacks=[attack], eps=0.1, **FAST)
    row = res.summary.iloc[0]
    assert row["n_unverified"] > 0
    assert res.robust_accuracy[0.1] == pytest.approx(res.clean_accuracy)


def test_default_ensemble_and_few_classes(digits):
    assert list(autoattack_ensemble(10)) == ["APGD-CE", "APGD-T", "FAB-T", "Square"]
    assert list(autoattack_ensemble(3)) == ["APGD-CE", "APGD-DLR", "FAB-T", "Square"]
    assert list(autoattack_ensemble(2)) == ["APGD-CE", "APGD-margin", "FAB-T", "Square"]
    assert autoattack_ensemble(10)["FAB-T"].n_target_classes == 9
    assert autoattack_ensemble(3)["FAB-T"].n_target_classes == 2
    X_tr, X_te, y_tr, y_te = digits
    keep_tr, keep_te = np.isin(y_tr, [3, 8]), np.isin(y_te, [3, 8])
    clf = StandardTraining(max_epochs=3, clip_min=0, clip_max=1, random_state=0, lr=1e-2,
                           module__channels=(4, 8), module__hidden_units=16)
    clf.fit(X_tr[keep_tr], y_tr[keep_tr])
    res = evaluate_robustness(clf, X_te[keep_te][:40], y_te[keep_te][:40],
                              attacks=autoattack_ensemble(2, n_iter=5, n_queries=20), **FAST)
    assert res.attacks == ("APGD-CE", "APGD-margin", "FAB-T", "Square")
    from robustsk.evaluation._ensemble import ensemble
    assert any("margin" in note for note in ensemble(2)[1])


def test_randomized_model_is_attacked_with_eot(masked, data):
    _, _, X, y = data
    with pytest.warns(UserWarning):
        res = evaluate_robustness(masked["noisy"], X[:40], y[:40], attacks=[APGD(n_iter=5)],
                                  eot_iter=4, random_state=0, check_masking=True)
    assert res.randomized and res.eot_iter == 4
    assert any("expectation over transformation" in note for note in res.notes)
    assert "RandomizedModelWarning" in [f.name for f in res.findings]
    # the budget of a gradient attack counts the EOT passes
    assert res.frame.loc[res.frame["attacked"], "queries"].max() == 4 * (1 + 6)


def test_eot_module_averages():
    torch.manual_seed(0)
    noisy = torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.Linear(3, 2)).train()
    x = torch.ones(1, 3)
    spread_one = torch.stack([noisy(x) for _ in range(200)]).std(0).mean()
    spread_eot = torch.stack([EOTModule(noisy, 25)(x) for _ in range(200)]).std(0).mean()
    assert spread_eot < spread_one / 3


class _NoScores(BaseEstimator, ClassifierMixin):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def test_bad_input(standard, data):
    _, _, X, y = data
    with pytest.raises(NotFittedError):
        evaluate_robustness(StandardTraining(), X, y, **FAST)
    with pytest.raises(TypeError, match="neither predict_proba nor decision_function"):
        evaluate_robustness(_NoScores().fit(X, y), X, y, **FAST)
    with pytest.raises(ValueError, match="negative"):
        evaluate_robustness(standard, X, y, eps=-0.1, **FAST)
    with pytest.raises(ValueError, match="negative"):
        evaluate_robustness(standard, X, y, eps=[0.1, -1.0], **FAST)
    with pytest.raises(ValueError, match="y has shape"):
        evaluate_robustness(standard, X, y[:-1], **FAST)
    with pytest.raises(ValueError, match="shape"):
        evaluate_robustness(standard, X.reshape(len(X), -1), y, **FAST)
    with pytest.raises(TypeError, match="attacks must be"):
        evaluate_robustness(standard, X, y, attacks=["apgd"], **FAST)
    with pytest.raises(ValueError, match="eot_iter"):
        evaluate_robustness(standard, X, y, eot_iter=0, **FAST)
