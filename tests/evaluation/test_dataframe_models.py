"""A model fitted on a DataFrame is attacked and evaluated in its own columns."""
import warnings

from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from robustsk.attacks import SPSA, Square
from robustsk.evaluation import evaluate_robustness
from robustsk.metrics import robust_accuracy


def test_pipeline_selecting_columns_by_name_is_attacked_without_warnings():
    X, y = load_wine(return_X_y=True, as_frame=True)
    X = X / X.max()
    by_name = make_pipeline(ColumnTransformer([("num", StandardScaler(), list(X.columns))]),
                            RandomForestClassifier(10, random_state=0)).fit(X, y)
    plain = LogisticRegression(max_iter=500).fit(X, y)
    # a robustsk network after the columns: its scores came from the earlier steps given a
    # bare array (the same error for ColumnTransformer, a warning per query for others)
    from robustsk.defenses import StandardTraining
    network = make_pipeline(ColumnTransformer([("num", "passthrough", list(X.columns))]),
                            StandardTraining(max_epochs=1, random_state=0, clip_min=0.0,
                                             clip_max=1.0)).fit(X, y)
    X, y = X.iloc[:20], y.iloc[:20]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # "X does not have valid feature names"
        for model in (by_name, plain, network):
            # a bare array for ColumnTransformer's names raised "only supported for dataframes"
            Square(eps=0.1, n_iter=5, random_state=0).generate(model, X, y)
            SPSA(eps=0.1, n_iter=1, n_samples=4, random_state=0).generate(model, X, y)
            result = evaluate_robustness(model, X, y, attacks=[Square(n_iter=5)], eps=0.1,
                                         random_state=0, check_masking=False)
            assert 0 <= result.summary["robust_accuracy"].min() <= 1
            assert 0 <= robust_accuracy(model, X, y, Square(eps=0.1, n_iter=5)) <= 1


def test_default_evaluation_of_a_model_without_gradients_runs_square():
    """evaluate_robustness(random forest) with the default attacks raised TypeError (its
    gradient attacks cannot differentiate a forest): the ensemble's Square part runs."""
    X, y = load_wine(return_X_y=True)
    X = X / X.max(axis=0)
    forest = RandomForestClassifier(10, random_state=0).fit(X, y)
    result = evaluate_robustness(forest, X[:6], y[:6], eps=0.1, random_state=0)
    assert list(result.attacks) == ["Square"]
    assert any("gradient-free attack only" in n for n in result.notes)
    assert any("masking checks skipped" in n for n in result.notes)
    square = evaluate_robustness(forest, X[:6], y[:6], attacks={"Square": Square(n_iter=5000)},
                                 eps=0.1, random_state=0, check_masking=False)
    assert result.summary["robust_accuracy"].tolist() == \
        square.summary["robust_accuracy"].tolist()


def test_defense_fitted_on_a_dataframe_scores_adversarially_without_warnings():
    """The default attack (WorstCase) prepared its arrays as if they were new data:
    three "X does not have valid feature names" warnings, and torch's read-only one."""
    import pandas as pd

    from robustsk.defenses import StandardTraining

    X, y = load_wine(return_X_y=True, as_frame=True)
    X = (X - X.min()) / (X.max() - X.min())
    clf = StandardTraining(max_epochs=2, random_state=0, clip_min=0.0, clip_max=1.0).fit(X, y)
    X_test = pd.DataFrame(X.iloc[:30].to_numpy(), columns=X.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert 0 <= clf.score_adversarial(X_test, y.iloc[:30]) <= 1


def test_a_pipeline_that_flattens_images_is_evaluated_on_images(digits):
    """The black-box route kept X's shape only for 2-d X (4-d images were refused)."""
    import numpy as np
    from sklearn.preprocessing import FunctionTransformer
    X_tr, X_te, y_tr, y_te = digits
    flat = FunctionTransformer(lambda X: np.asarray(X).reshape(len(X), -1))
    forest = make_pipeline(flat, RandomForestClassifier(10, random_state=0)).fit(X_tr, y_tr)
    res = evaluate_robustness(forest, X_te[:12], y_te[:12], attacks=[Square(n_iter=20)],
                              eps=0.1, random_state=0, check_masking=False)
    assert res.adversarial_examples[0.1].shape == X_te[:12].shape
    # passes of a black-box model are not counted: the total is unknown, not 0
    assert np.isnan(res.passes["forward_passes"]).all()


def test_a_randomized_smoothing_classifier_is_evaluated(digits):
    """It has no predict_proba: its scores are those of the network the attacks see."""
    from robustsk.attacks import APGD
    from robustsk.defenses import RandomizedSmoothingClassifier, StandardTraining
    X_tr, X_te, y_tr, y_te = digits
    base = StandardTraining(max_epochs=2, module__channels=(4, 8), module__hidden_units=16,
                            clip_min=0.0, clip_max=1.0, random_state=0)
    smooth = RandomizedSmoothingClassifier(base, sigma=0.25, n=20, n0=10,
                                           random_state=0).fit(X_tr[:300], y_tr[:300])
    res = evaluate_robustness(smooth, X_te[:10], y_te[:10], attacks=[APGD(n_iter=3, norm=2)],
                              eps=0.5, random_state=0, check_masking=False)
    assert 0.0 <= res.robust_accuracy[0.5] <= res.clean_accuracy <= 1.0
