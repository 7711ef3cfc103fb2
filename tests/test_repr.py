"""robustsk estimators print like scikit-learn ones: the parameters that differ from their defaults."""
import inspect

import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from robustsk.base import RobustClassifier
from robustsk.defenses import TRADES, AdversarialTraining, all_defenses


@pytest.mark.parametrize("name", sorted(all_defenses()))
def test_default_estimator_prints_its_name_only(name):
    est = all_defenses()[name]()
    assert repr(est) == f"{name}()"
    assert repr(clone(est)) == repr(est)


def test_changed_parameters_are_printed_sorted():
    assert repr(TRADES(beta=3.0)) == "TRADES(beta=3.0)"
    assert repr(AdversarialTraining(max_epochs=4, eps=0.05)) == \
        "AdversarialTraining(eps=0.05, max_epochs=4)"
    assert repr(TRADES(module__hidden_units=(16,))) == "TRADES(module__hidden_units=(16,))"
    assert repr(RobustClassifier(eps=0.2)) == "RobustClassifier(eps=0.2)"


def test_nested_in_pipeline_and_grid_search_results():
    pipe = Pipeline([("clf", TRADES(beta=1.0))])
    assert repr(pipe) == "Pipeline(steps=[('clf', TRADES(beta=1.0))])"
    grid = GridSearchCV(pipe, {"clf": [TRADES(beta=1.0), TRADES(beta=3.0)]})
    assert repr(grid.param_grid) == "{'clf': [TRADES(beta=1.0), TRADES(beta=3.0)]}"
    assert "TRADES(beta=1.0)" in repr(grid)


def test_signature_lists_inherited_parameters():
    params = inspect.signature(TRADES).parameters
    assert params["beta"].default == 6.0 and params["eps"].default == 0.1
    assert params["max_epochs"].default == 20
    assert list(params)[-1] == "kwargs"


def test_user_defense_gets_the_same_repr():
    class Noise(RobustClassifier):
        def __init__(self, module=None, *, sigma=0.1, **kwargs):
            super().__init__(module, **kwargs)
            self.sigma = sigma

    assert repr(Noise(sigma=0.2, lr=0.01)) == "Noise(lr=0.01, sigma=0.2)"
