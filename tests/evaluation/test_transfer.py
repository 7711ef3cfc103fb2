"""Transfer attacks and the transfer matrix."""
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from robustsk.attacks import PGD
from robustsk.evaluation import TransferResult, transfer_attack, transfer_matrix


def _flat():
    return FunctionTransformer(lambda Z: np.asarray(Z).reshape(len(Z), -1))


@pytest.fixture(scope="module")
def logreg(data):
    X, y, _, _ = data
    return make_pipeline(_flat(), LogisticRegression(max_iter=300)).fit(X, y)


def test_transfer_attack(standard, adversarial, data):
    _, _, X, y = data
    res = transfer_attack(standard, adversarial, X, y, PGD(eps=0.1, n_iter=10), random_state=0)
    assert isinstance(res, TransferResult) and res.n == len(y)
    assert res.X_adv.shape == X.shape and np.abs(res.X_adv - X).max() <= 0.1 + 1e-6
    assert res.surrogate_accuracy <= res.target_accuracy  # white-box beats transfer
    assert res.target_accuracy <= res.target_clean_accuracy + 0.05
    assert 0.0 <= res.transfer_rate <= 1.0


def test_transfer_matrix(standard, adversarial, logreg, data):
    _, _, X, y = data
    attack = PGD(eps=0.1, n_iter=10, random_state=0)
    models = {"standard": standard, "adversarial": adversarial, "logreg": logreg}
    m = transfer_matrix(models, X, y, attack)
    assert m.shape == (2, 3)  # the pipeline with a reshape is not differentiable: no row
    assert list(m.index) == ["standard", "adversarial"] and list(m.columns) == list(models)
    assert m.index.name == "source" and m.columns.name == "target"
    for name in m.index:  # diagonal = white-box robust accuracy
        X_adv = attack.generate(models[name], X, y)
        assert m.loc[name, name] == pytest.approx(np.mean(models[name].predict(X_adv) == y))
        assert m.loc[name, name] <= m.loc[name].drop(name).max()
    assert ((m.to_numpy() >= 0) & (m.to_numpy() <= 1)).all()
    assert set(m.attrs["clean_accuracy"]) == set(models) and m.attrs["eps"]["standard"] == 0.1


def test_transfer_bad_input(standard, logreg, data):
    _, _, X, y = data
    with pytest.raises(TypeError, match="not differentiable"):
        transfer_attack(logreg, standard, X, y, PGD(eps=0.1))
    with pytest.raises(TypeError, match="dict"):
        transfer_matrix([], X, y)
    with pytest.raises(TypeError, match="dict"):
        transfer_matrix(standard, X, y)
    with pytest.raises(TypeError, match="source"):
        transfer_matrix({"logreg": logreg}, X, y)
    with pytest.raises(ValueError):
        transfer_attack(standard, standard, X, y[:-1], PGD(eps=0.1))
