"""Dynamic adversarial training (Wang et al., 2019): the FOSC schedule at work."""
import numpy as np
import pytest
import torch

from robustsk.attacks import fosc_pgd
from robustsk.defenses import DynamicAdversarialTraining

BOX = {"clip_min": 0.0, "clip_max": 1.0}


@pytest.fixture(scope="module")
def dynamic_fit(digits_small):
    X_tr, _, y_tr, _ = digits_small
    clf = DynamicAdversarialTraining(eps=0.1, n_iter=5, max_epochs=6, random_state=0, **BOX)
    return clf.fit(X_tr, y_tr), X_tr, y_tr


def test_schedule_matches_the_paper():
    clf = DynamicAdversarialTraining(max_epochs=120)
    assert clf.current_c(0) == 0.5
    assert clf.current_c(50) == pytest.approx(0.25)
    assert clf.current_c(100) == 0.0 and clf.current_c(119) == 0.0
    short = DynamicAdversarialTraining(max_epochs=6, t_prime=0.5, c_max=1.0)
    assert [short.current_c(t) for t in range(6)] == pytest.approx([1.0, 2 / 3, 1 / 3, 0, 0, 0],
                                                                   abs=1e-9)


def test_attack_takes_fewer_steps_early_than_late(dynamic_fit):
    clf, _, _ = dynamic_fit
    steps = clf.history[:, "train_attack_steps"]
    fosc = clf.history[:, "train_fosc"]
    assert len(steps) == len(fosc) == 6 and np.all(np.asarray(fosc) >= 0)
    # measured: about 1.0 step in the first two epochs, 4.7-5 of 5 in the last two
    assert max(steps[:2]) <= 1.5 and min(steps[-2:]) >= 3.5, steps
    assert 1 <= min(steps) and max(steps) <= 5


def test_relative_fosc_falls_as_the_schedule_tightens(dynamic_fit):
    # Raw FOSC grows with the input gradients over training; relative to its
    # scale eps * ||g||_1 it falls with c_t. Measured on this fit (c = 0.5 ..
    # 0): 0.769, 0.703, 0.699, 0.375, 0.229, 0.212 (seed 1: 0.763 .. 0.213).
    clf, _, _ = dynamic_fit
    rel = np.asarray(clf.history[:, "train_fosc_relative"])
    assert np.all((rel >= 0) & (rel <= 2))
    assert rel[-1] < 0.6 * rel[0], rel
    assert np.mean(rel[-2:]) < np.mean(rel[:2]) - 0.2, rel


def test_tighter_threshold_gives_lower_fosc(dynamic_fit):
    """On the same network and start, the late schedule's threshold converges further."""
    clf, X_tr, y_tr = dynamic_fit
    x, y = torch.as_tensor(X_tr[:200]), torch.as_tensor(np.searchsorted(clf.classes_, y_tr[:200]))
    values = {}
    for c in (clf.c_max, 0.0):
        *_, values[c] = fosc_pgd(clf.module_, x, y, eps=0.1, n_iter=5, c=c, random_state=0,
                                       return_steps=True, return_fosc=True, **BOX)
    assert values[0.0].mean() < 0.8 * values[clf.c_max].mean(), values
    assert (values[clf.c_max] <= clf.c_max).float().mean() > (values[0.0] <= 0).float().mean()


def test_same_seed_same_weights(digits_small):
    X_tr, _, y_tr, _ = digits_small
    fits = [DynamicAdversarialTraining(n_iter=3, max_epochs=2, weight_by_loss=True,
                                       random_state=1, **BOX).fit(X_tr[:256], y_tr[:256])
            for _ in range(2)]
    for a, b in zip(fits[0].module_.parameters(), fits[1].module_.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("param, value", [("c_max", -0.1), ("t_prime", 0.0), ("t_prime", 1.5),
                                          ("weight_by_loss", "yes")])
def test_bad_parameters_refused_before_any_work(digits_small, param, value):
    X_tr, _, y_tr, _ = digits_small
    clf = DynamicAdversarialTraining(n_iter=1, max_epochs=1, random_state=0, **BOX)
    clf.fit(X_tr[:128], y_tr[:128])
    before = [p.detach().clone() for p in clf.module_.parameters()]
    clf.set_params(**{param: value})
    with pytest.raises(ValueError, match=f"{param}={value!r}: expected"):
        clf.fit(X_tr[:128], y_tr[:128])
    for a, b in zip(before, clf.module_.parameters()):
        assert torch.equal(a, b)
