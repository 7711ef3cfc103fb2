"""A torch module *instance* works for every defense: fit, predict, clone, pickle, grid search."""
import pickle

from defense_contract import CHEAP, same_weights, weights
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
import torch

from robustsk.defenses import StandardTraining, all_defenses
from robustsk.modules import MLP

DEFENSES = all_defenses()
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def data(digits):
    X_tr, _, y_tr, _ = digits
    return X_tr[:160], y_tr[:160]


def instance():
    torch.manual_seed(0)
    # MLP has the features/head contract, so feature-level defenses accept it too
    return MLP((1, 8, 8), 10, hidden_units=(16,))


def module_weights(module):
    return [p.detach().clone() for p in module.parameters()]


@pytest.mark.parametrize("name", sorted(DEFENSES))
def test_module_instance(name, data):
    X, y = data
    net = instance()
    given = module_weights(net)
    est = DEFENSES[name](module=net, **CHEAP)
    assert "MLP" in repr(est)
    a = est.fit(X, y)
    assert a.predict(X[:20]).shape == (20,)
    # fit trains a copy: the user's instance keeps its weights
    assert a.module_ is not net and same_weights(module_weights(net), given)
    # a refit starts again from the instance's weights, so it repeats exactly
    first = weights(a)
    assert same_weights(weights(a.fit(X, y)), first)
    # clone copies the instance: no weights shared with the original
    twin = clone(a)
    assert twin.module is not net
    assert not set(map(id, twin.module.parameters())) & set(map(id, net.parameters()))
    b = twin.fit(X, y)
    assert same_weights(weights(b), first)
    assert not set(map(id, b.module_.parameters())) & set(map(id, a.module_.parameters()))
    back = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(back.predict_proba(X[:30]), a.predict_proba(X[:30]))
    grid = GridSearchCV(DEFENSES[name](module=net, **CHEAP), {"lr": [1e-3, 1e-2]}, cv=2)
    grid.fit(X[:96], y[:96])
    assert grid.best_estimator_.module_ is not net
    assert same_weights(module_weights(net), given)


def test_plain_torch_instance(data):
    """The issue's example: a bare torch layer stack, no features contract."""
    X, y = data
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    given = module_weights(net)
    clf = StandardTraining(module=net, **CHEAP).fit(X, y)
    assert clf.predict(X[:5]).shape == (5,)
    assert clf.module_ is not net and same_weights(module_weights(net), given)
