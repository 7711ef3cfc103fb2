"""The default attack of score_adversarial and the scorers sees through saturated logits.

A model whose logits are multiplied by a large constant (or that ends in a
softmax over scaled logits) has the decision function of the original, but the
cross-entropy gradient underflows: PGD and APGD-CE alone report a robustness
that is not there. The default's scale-invariant APGD (targeted DLR) must find
what targeted APGD-DLR finds.
"""
import copy

import pytest
import torch
from torch import nn

from robustsk.attacks import APGD, PGD, WorstCase, default_attack
from robustsk.metrics import make_adversarial_scorer

# the default before it gained a scale-invariant stage: CE attacks only
CE_ONLY = WorstCase([PGD(n_iter=20, n_restarts=3), APGD(n_iter=20, loss="ce")])


class Saturated(nn.Module):
    """``scale * logits`` of a fitted module, optionally behind a softmax."""

    def __init__(self, net, scale, softmax=False):
        super().__init__()
        self.net, self.scale, self.softmax = net, scale, softmax

    def forward(self, x):
        z = self.scale * self.net(x)
        return torch.softmax(z, dim=1) if self.softmax else z


def _saturated(clf, scale, softmax=False):
    model = copy.deepcopy(clf)
    model.module_ = Saturated(model.module_, scale, softmax)
    return model


@pytest.fixture(scope="module")
def reference(image_clf, image_data):
    """Robust accuracy of the unscaled CNN under the default and under targeted APGD-DLR."""
    _, _, X, y = image_data
    return {"default": image_clf.score_adversarial(X, y),
            "apgd-t": image_clf.score_adversarial(X, y, APGD(n_iter=20, loss="dlr-targeted"))}


def test_scaled_logits_do_not_fool_the_default(image_clf, image_data, reference):
    _, _, X, y = image_data
    scaled = _saturated(image_clf, 1e4)
    assert (scaled.predict(X) == image_clf.predict(X)).all()  # the same classifier
    fooled_ce = scaled.score_adversarial(X, y, CE_ONLY)
    default = scaled.score_adversarial(X, y)
    scorer = make_adversarial_scorer()(scaled, X, y)
    # CE attacks see almost nothing (about 0.87 here vs 0.29 unscaled) ...
    assert fooled_ce > reference["default"] + 0.3
    # ... the default sees what it sees on the unscaled model, and what APGD-T finds
    assert default <= reference["default"] + 0.03
    assert default <= reference["apgd-t"] + 0.03
    assert scorer == default


def test_softmax_output_does_not_fool_the_default(image_clf, image_data, reference):
    """A last layer ``softmax(10 z)``: the default finds the robust accuracy of the
    network without it (0.32 vs 0.33 here), CE attacks alone at most as much (0.36)."""
    _, _, X, y = image_data
    soft = _saturated(image_clf, 10.0, softmax=True)
    default = soft.score_adversarial(X, y)
    assert default <= reference["default"] + 0.03
    assert soft.score_adversarial(X, y, CE_ONLY) >= default


@pytest.mark.parametrize("fixture, loss", [("binary_clf", "margin"),
                                           ("three_class_clf", "dlr")])
def test_default_adapts_to_few_classes(fixture, loss, request, digits):
    clf = request.getfixturevalue(fixture)
    _, flat, y = digits
    keep = [c in clf.classes_ for c in y]
    X, y = flat[keep][:40], y[keep][:40]
    attack = default_attack(len(clf.classes_))
    assert attack.attacks[-1].loss == loss
    acc = clf.score_adversarial(X, y)
    assert 0.0 <= acc <= clf.score(X, y)


def test_scale_invariant_apgd_choice():
    from robustsk.attacks import scale_invariant_apgd
    assert scale_invariant_apgd(10, n_target_classes=3)[1].n_target_classes == 3
    assert scale_invariant_apgd(5)[1].n_target_classes == 4
    assert scale_invariant_apgd(None)[0] == "APGD-T"
    name, attack, note = scale_invariant_apgd(3)
    assert (name, attack.loss) == ("APGD-DLR", "dlr") and "3" in note
    assert default_attack().attacks[-1].loss == "dlr-targeted"


def test_default_attack_on_a_scikit_learn_model_needs_and_takes_a_radius():
    """A scikit-learn model has no eps to inherit: the error names it and the fix, and
    ``default_attack(n_classes, eps=...)`` is that fix."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from robustsk.metrics import robust_accuracy
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:60]
    clf = LogisticRegression().fit(X, y[:60])
    with pytest.raises(ValueError, match=r"LogisticRegression has no eps .*default_attack\("):
        robust_accuracy(clf, X, y[:60])
    robust = robust_accuracy(clf, X, y[:60], default_attack(2, eps=0.3))
    assert robust <= robust_accuracy(clf, X, y[:60], PGD(eps=0.3, random_state=0))
    assert 0.0 <= robust <= float(np.mean(clf.predict(X) == y[:60]))
