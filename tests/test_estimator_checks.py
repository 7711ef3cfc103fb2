"""scikit-learn's estimator checks over every robustsk estimator, default parameters."""
import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from robustsk.criteria import MCELoss
from robustsk.defenses import (
    AdversarialTraining,
    RandomizedSmoothingClassifier,
    StandardTraining,
    TRSEnsemble,
    all_defenses,
)

#: cheaper parameters for defenses whose defaults cost minutes over the ~40 checks
#: (TRS: 3 members and 6 double-backprop PGD steps per batch; margin boosting: PGD on
#: up to 3 networks; AFD: three optimizers and a 10-step APGD per batch, 62 s in all)
CHECK_PARAMS = {"TRSEnsemble": {"n_members": 2, "n_iter": 1, "max_epochs": 10},
                "MarginBoostingEnsemble": {"n_iter": 5},
                "AdversarialFeatureDesensitization": {"n_iter": 3}}

#: every defense with default parameters (but CHECK_PARAMS), the MCE criterion on
#: Madry's, and the randomized-smoothing meta-estimator (few Monte Carlo draws, to
#: stay quick)
ESTIMATORS = [cls(**CHECK_PARAMS.get(name, {})) for name, cls in all_defenses().items()] + [
    AdversarialTraining(criterion=MCELoss),
    RandomizedSmoothingClassifier(StandardTraining(max_epochs=3), n=20, n0=10, alpha=0.05)]

_FLOAT32_BATCHING = (
    "float32 matrix products use a blocking that depends on the number of rows in the "
    "batch, so decision_function/predict_proba on a subset differ from the full-batch "
    "values in the last bits (about 2e-7, above the check's atol=1e-7); predicted labels "
    "are unaffected. Computing in float64 would double memory and time for every user.")

#: Checks each estimator is expected to fail, with the reason it cannot be fixed.
EXPECTED_FAILED = {type(est): {"check_methods_subset_invariance": _FLOAT32_BATCHING}
                   for est in ESTIMATORS}
# Monte Carlo noise is drawn per example from its values, so subsets agree exactly.
EXPECTED_FAILED[RandomizedSmoothingClassifier] = {}
EXPECTED_FAILED[TRSEnsemble]["check_classifiers_train"] = (
    "TRS pushes the members' input gradients towards orthogonality (weight scale * coeff = "
    "10 in the reference defaults); the check's data have 2 features, where the members "
    "cannot have orthogonal gradients and still fit, so training accuracy stays below the "
    "check's 0.83. On digits (64 features) TRS members reach 0.9 test accuracy.")


@parametrize_with_checks(ESTIMATORS,
                         expected_failed_checks=lambda est: EXPECTED_FAILED.get(type(est), {}))
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_at_most_three_expected_failures(est):
    assert len(EXPECTED_FAILED.get(type(est), {})) <= 3
