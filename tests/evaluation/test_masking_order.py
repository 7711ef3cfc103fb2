"""The black-box and saturation checks compare the attacks per example, whatever
order they ran in (a gradient-free attack run first must not look stronger)."""
import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from robustsk.attacks import APGD, Square
from robustsk.evaluation import evaluate_robustness

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def linear(data):
    X, y, X_te, y_te = data
    flat = X.reshape(len(X), -1)
    model = LogisticRegression(max_iter=300).fit(flat, y)
    return model, X_te[:60].reshape(60, -1), y_te[:60]


@pytest.mark.parametrize("skip_fooled", [True, False])
def test_gradient_free_first_does_not_flag_masking(linear, skip_fooled):
    model, X, y = linear
    found = {}
    for order in (["APGD", "Square"], ["Square", "APGD"]):
        attacks = {"APGD": APGD(n_iter=20), "Square": Square(n_iter=100)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = evaluate_robustness(model, X, y, attacks={k: attacks[k] for k in order},
                                         eps=0.05, random_state=0, skip_fooled=skip_fooled)
        found[tuple(order)] = sorted(f.name for f in result.findings)
        # a plain linear model: no masking symptom, whatever the order
        assert "BlackBoxBeatsWhiteBoxWarning" not in found[tuple(order)]
        assert "SaturatedCrossEntropyWarning" not in found[tuple(order)]
        assert result.robust_accuracy.iloc[0] < result.clean_accuracy
    assert len(set(map(tuple, found.values()))) == 1
    assert np.isfinite(result.summary["robust_accuracy"]).all()
