"""Gradient-masking checks: they fire on masked models and stay quiet on sound ones."""
import copy
import warnings

import pytest
import torch
from torch import nn

from robustsk import base
from robustsk.attacks import APGD, PGD
from robustsk.evaluation import (
    BlackBoxBeatsWhiteBoxWarning,
    GradientMaskingWarning,
    LargeEpsWarning,
    MaskingFinding,
    MoreStepsHelpWarning,
    RandomizedModelWarning,
    SaturatedCrossEntropyWarning,
    SoftmaxOutputWarning,
    ZeroGradientWarning,
    autoattack_ensemble,
    check_gradient_masking,
    evaluate_robustness,
)

WARNINGS = [BlackBoxBeatsWhiteBoxWarning, MoreStepsHelpWarning, LargeEpsWarning,
            ZeroGradientWarning, RandomizedModelWarning, SoftmaxOutputWarning,
            SaturatedCrossEntropyWarning]


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
    """Three small PGD steps from the clean point reach only 0.06 of eps 0.1: twice the
    steps and a restart fool many more (20 of 60 here; the check needs a significant
    excess over its 2% tolerance, not 2 examples)."""
    _, _, X, y = data
    with pytest.warns(MoreStepsHelpWarning):
        found = check_gradient_masking(standard, X[:60], y[:60], random_state=0,
                                       attack=PGD(n_iter=3, step_size=0.02, random_start=None),
                                       black_box=_ensemble()["Square"])
    more = [f for f in found if f.category is MoreStepsHelpWarning][0]
    assert more.statistic > more.threshold and more.eps == 0.1
    assert more.details["n_more"] >= 8  # significant against 2% of 60 at the 5% level


def test_findings_can_be_silenced(masked, data):
    _, _, X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = check_gradient_masking(masked["softmax"], X[:30], y[:30], random_state=0,
                                       attack=APGD(n_iter=5), warn=False,
                                       black_box=_ensemble()["Square"])
    assert SoftmaxOutputWarning in {f.category for f in found}


class _Scaled(nn.Module):
    """The logits of a fitted module times ``scale`` (same decisions), optionally
    behind a softmax."""

    def __init__(self, net, scale=1e4, softmax=False):
        super().__init__()
        self.net, self.scale, self.softmax = net, scale, softmax

    def forward(self, x):
        z = self.scale * self.net(x)
        return torch.softmax(z, dim=1) if self.softmax else z


def _scaled(clf, scale=1e4, softmax=False):
    model = copy.deepcopy(clf)
    model.module_ = _Scaled(model.module_, scale, softmax)
    return model


@pytest.fixture(scope="module")
def scaled(standard):
    return _scaled(standard)


def test_saturated_cross_entropy_is_flagged(scaled, standard, data):
    """APGD-T fools far more than APGD-CE on scaled logits: a named finding (the
    official AutoAttack reports the worst case without flagging it)."""
    _, _, X, y = data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = evaluate_robustness(scaled, X, y, attacks=_ensemble(), random_state=0)
    found = {f.name: f for f in res.findings}
    assert "SaturatedCrossEntropyWarning" in found, list(found)
    finding = found["SaturatedCrossEntropyWarning"]
    assert finding.statistic > finding.threshold == 0.1
    assert finding.details["ce_attacks"] == ("APGD-CE",)
    assert SaturatedCrossEntropyWarning in {w.category for w in caught}
    ce = res.summary.set_index("attack").loc["APGD-CE", "robust_accuracy"]
    assert ce - res.robust_accuracy.iloc[0] > 0.1  # what the finding measured
    # CE attacks alone: the check runs its own scale-invariant APGD on what they left
    with pytest.warns(SaturatedCrossEntropyWarning):
        found = check_gradient_masking(scaled, X[:60], y[:60], attack=APGD(n_iter=10),
                                       random_state=0, black_box=_ensemble()["Square"])
    assert "SaturatedCrossEntropyWarning" in [f.name for f in found]



def test_saturation_check_on_softmax_last_layer(standard, data):
    """A last layer softmax(10 z): CE on the probabilities saturates too (here the
    scale-invariant attack fools about 9% more, flagged at a 5% threshold)."""
    _, _, X, y = data
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        found = check_gradient_masking(_scaled(standard, 10.0, softmax=True), X, y,
                                       attack=[APGD(n_iter=10), PGD(n_iter=10)],
                                       random_state=0, black_box=_ensemble()["Square"],
                                       saturation_tol=0.05)
    assert {"SoftmaxOutputWarning", "SaturatedCrossEntropyWarning"} <= {f.name for f in found}
