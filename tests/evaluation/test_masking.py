"""Gradient-masking checks: they fire on masked models and stay quiet on sound ones."""
import warnings

import pytest

from robustsk import base
from robustsk.attacks import APGD, PGD
from robustsk.evaluation import (
    BlackBoxBeatsWhiteBoxWarning,
    GradientMaskingWarning,
    LargeEpsWarning,
    MaskingFinding,
    MoreStepsHelpWarning,
    RandomizedModelWarning,
    SoftmaxOutputWarning,
    ZeroGradientWarning,
    autoattack_ensemble,
    check_gradient_masking,
    evaluate_robustness,
)

WARNINGS = [BlackBoxBeatsWhiteBoxWarning, MoreStepsHelpWarning, LargeEpsWarning,
            ZeroGradientWarning, RandomizedModelWarning, SoftmaxOutputWarning]


def _ensemble():
    return autoattack_ensemble(10, n_iter=10, n_queries=100)


def test_warning_hierarchy_and_docs():
    for category in WARNINGS:
        assert issubclass(category, GradientMaskingWarning)
        doc = category.__doc__
        assert "Cause" in doc and "Fix" in doc, category
    assert issubclass(GradientMaskingWarning, UserWarning)
    assert issubclass(SoftmaxOutputWarning, base.SoftmaxOutputWarning)


@pytest.mark.parametrize("name, expected", [
    ("quantise", {ZeroGradientWarning, BlackBoxBeatsWhiteBoxWarning, LargeEpsWarning}),
    ("threshold", {ZeroGradientWarning, LargeEpsWarning}),
    ("softmax", {SoftmaxOutputWarning, ZeroGradientWarning}),
    ("noisy", {RandomizedModelWarning}),
])
def test_masked_models_are_flagged(name, expected, masked, data):
    _, _, X, y = data
    n = 40 if name == "noisy" else len(y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = evaluate_robustness(masked[name], X[:n], y[:n], attacks=_ensemble(), eot_iter=3,
                                  random_state=0)
    found = {f.category for f in res.findings}
    assert expected <= found, (name, found)
    assert expected <= {w.category for w in caught}
    assert all(isinstance(f, MaskingFinding) for f in res.findings)
    assert res.masking_detected
    if name == "noisy":
        assert res.randomized and res.eot_iter == 3


@pytest.mark.parametrize("model", ["standard", "adversarial"])
def test_sound_models_stay_quiet(model, request, data):
    clf = request.getfixturevalue(model)
    _, _, X, y = data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = evaluate_robustness(clf, X, y, attacks=_ensemble(), random_state=0)
    assert res.findings == ()
    assert not [w for w in caught if issubclass(w.category, GradientMaskingWarning)]


def test_check_gradient_masking_on_its_own(standard, masked, data):
    _, _, X, y = data
    assert check_gradient_masking(standard, X[:60], y[:60], random_state=0,
                                  black_box=_ensemble()["Square"]) == []
    with pytest.warns(ZeroGradientWarning):
        found = check_gradient_masking(masked["quantise"], X[:60], y[:60], random_state=0)
    assert "ZeroGradientWarning" in [f.name for f in found]


def test_more_steps_help_flags_an_unconverged_attack(standard, data):
    """One tiny PGD step is far from converged: 4x the steps and restarts do better."""
    _, _, X, y = data
    with pytest.warns(MoreStepsHelpWarning):
        found = check_gradient_masking(standard, X[:60], y[:60], random_state=0,
                                       attack=PGD(n_iter=1, step_size=0.02),
                                       black_box=_ensemble()["Square"])
    more = [f for f in found if f.category is MoreStepsHelpWarning][0]
    assert more.statistic > more.threshold and more.eps == 0.1


def test_findings_can_be_silenced(masked, data):
    _, _, X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = check_gradient_masking(masked["softmax"], X[:30], y[:30], random_state=0,
                                       attack=APGD(n_iter=5), warn=False,
                                       black_box=_ensemble()["Square"])
    assert SoftmaxOutputWarning in {f.category for f in found}
