"""evaluate_robustness: integer X, per-row streams for scikit-learn models, and
attacks with their own threat model (Spatial)."""
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier

from robustsk.attacks import SPSA, Spatial, Square
from robustsk.evaluation import UnverifiedSuccessWarning, evaluate_robustness

FAST = dict(check_masking=False, random_state=0)


def _worst(result):
    frame = result.frame[result.frame["attack"] == "worst-case"].sort_values("example_id")
    return frame["correct"].to_numpy()


@pytest.fixture(scope="module")
def raw_digits():
    X, y = load_digits(return_X_y=True)
    return X.astype(np.int64), y


@pytest.fixture(scope="module")
def forest(raw_digits):
    X, y = raw_digits
    return RandomForestClassifier(10, random_state=0).fit(X[:300], y[:300])


def test_integer_X_gives_float_adversarial_examples(forest, raw_digits):
    X, y = raw_digits[0][300:340], raw_digits[1][300:340]
    result = evaluate_robustness(forest, X, y, attacks=[Square(n_iter=30)], eps=1.5, **FAST)
    X_adv = result.adversarial_examples[1.5]
    assert X_adv.dtype == np.float32  # what the attacks return for integer X
    assert (X_adv != np.round(X_adv)).any()  # not truncated
    assert np.abs(X_adv - X).max() <= 1.5 + 1e-5
    np.testing.assert_array_equal(forest.predict(X_adv) == y, _worst(result))


def test_score_attacks_keep_row_streams_on_sklearn_models(forest, raw_digits):
    """An example gets the attack it gets alone on all of X, whichever rows are attacked."""
    X, y = raw_digits[0][300:340] / 16.0, raw_digits[1][300:340]
    square = Square(eps=0.1, n_iter=20, random_state=5)
    alone = forest.predict(square.generate(forest, X, y)) == y
    result = evaluate_robustness(forest, X, y, attacks=[square], eps=0.1, **FAST)
    np.testing.assert_array_equal(_worst(result), alone)
    attacks = [SPSA(n_iter=3, n_samples=4), Square(n_iter=20)]
    skip = evaluate_robustness(forest, X, y, attacks=attacks, eps=0.1, skip_fooled=True, **FAST)
    every = evaluate_robustness(forest, X, y, attacks=attacks, eps=0.1, skip_fooled=False,
                                **FAST)
    np.testing.assert_array_equal(_worst(skip), _worst(every))


def test_spatial_is_evaluated_in_its_own_threat_model(standard, data):
    _, _, X, y = data
    X, y = X[:30], y[:30]
    attack = Spatial(n_rotations=5, n_translations=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnverifiedSuccessWarning)
        result = evaluate_robustness(standard, X, y, attacks=[attack], eps=0.1, **FAST)
    alone = standard.predict(attack.generate(standard, X, y)) == y
    np.testing.assert_array_equal(_worst(result), alone)
    assert result.robust_accuracy.iloc[0] < result.clean_accuracy
    rows = result.frame[(result.frame["attack"] == "Spatial") & result.frame["attacked"]]
    assert (rows["perturbation_norm"] <= 1.0).all()


def test_masking_checks_leave_out_other_threat_models(standard, data):
    """Square and APGD in the eps ball are no yardstick for rotations: Spatial takes
    no part in the black-box and saturation checks."""
    _, _, X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = evaluate_robustness(standard, X[:40], y[:40], eps=0.1, random_state=0,
                                     attacks=[Spatial(max_rotation=5.0, max_translation=0.0,
                                                      n_rotations=3, n_translations=1)])
    names = {f.name for f in result.findings}
    assert not names & {"BlackBoxBeatsWhiteBoxWarning", "SaturatedCrossEntropyWarning"}
