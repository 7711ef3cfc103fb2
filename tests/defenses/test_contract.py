"""Every defense of robustsk.defenses keeps the same contract; grid search over all of them."""
from defense_contract import CHEAP, check_defense
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import Pipeline
import torch

from robustsk.attacks import PGD
from robustsk.defenses import StandardTraining, all_defenses
from robustsk.metrics import make_adversarial_scorer

DEFENSES = all_defenses()
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def data(digits):
    X_tr, _, y_tr, _ = digits
    return X_tr[:240], y_tr[:240]


@pytest.mark.parametrize("name", sorted(DEFENSES))
def test_defense_contract(name, data):
    check_defense(DEFENSES[name](**CHEAP), *data)


def test_grid_search_over_every_defense(data):
    X, y = data
    grid = GridSearchCV(Pipeline([("clf", StandardTraining())]),
                        {"clf": [cls(**CHEAP) for cls in DEFENSES.values()]},
                        scoring={"clean": "accuracy",
                                 "robust": make_adversarial_scorer(PGD(n_iter=2))},
                        refit="robust", cv=2)
    grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == len(DEFENSES)
    assert np.all(grid.cv_results_["mean_test_robust"] <= grid.cv_results_["mean_test_clean"])


@pytest.mark.parametrize("name", sorted(DEFENSES))
def test_cross_validate(name, data):
    X, y = data
    res = cross_validate(DEFENSES[name](**CHEAP), X[:120], y[:120], cv=2)
    assert np.all((0 <= res["test_score"]) & (res["test_score"] <= 1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", sorted(DEFENSES))
def test_defense_on_cuda(name, data):
    X, y = data
    clf = DEFENSES[name](**{**CHEAP, "device": "cuda"}).fit(X, y)
    assert all(p.is_cuda for p in clf.module_.parameters())
    assert 0.0 <= clf.score_adversarial(X[:40], y[:40], attack=PGD(n_iter=2)) <= 1.0
