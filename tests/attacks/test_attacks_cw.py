"""Carlini-Wagner L2: smallest perturbations, eps respected, white-box contract."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
import torch

from robustsk.attacks import PGD
from robustsk.attacks.cw import CarliniWagnerL2, carlini_wagner_l2

# short budget: projected Adam ("clip") from c = 0.1 (see the box_method docs)
QUICK = {"n_iter": 100, "lr": 0.01, "n_binary_steps": 5, "initial_const": 0.1,
         "box_method": "clip"}


def l2(A, B):
    return np.linalg.norm((np.asarray(A, np.float64) - np.asarray(B, np.float64))
                          .reshape(len(A), -1), axis=1)


def accuracy(clf, X, y):
    return float(np.mean(clf.predict(X) == y))


@pytest.fixture(scope="module")
def cw_run(image_clf, image_data):
    _, _, X, y = image_data
    X, y = X[:30], y[:30]
    X_adv, info = CarliniWagnerL2(**QUICK).generate(image_clf, X, y, return_info=True)
    return X, y, X_adv, info


def test_minimal_perturbations_beat_pgd_l2(cw_run, image_clf):
    X, y, X_adv, info = cw_run
    assert X_adv.shape == X.shape and X_adv.dtype == X.dtype
    assert X_adv.min() >= 0.0 and X_adv.max() <= 1.0
    np.testing.assert_allclose(l2(X_adv, X)[info["success"]], info["l2"][info["success"]],
                               rtol=1e-4, atol=1e-5)
    assert (image_clf.predict(X_adv)[info["success"]] != y[info["success"]]).all()
    for eps in (0.5, 1.0):
        X_pgd = PGD(norm=2, eps=eps, n_iter=20, random_state=0).generate(image_clf, X, y)
        pgd_fooled = image_clf.predict(X_pgd) != y
        cw_fooled = info["l2"] <= eps
        # comparable success at the same radius ...
        assert cw_fooled.mean() >= pgd_fooled.mean() - 0.1, (eps, cw_fooled.mean(),
                                                              pgd_fooled.mean())
    # ... and, where both succeed, CW's perturbation is the smaller one
    both = pgd_fooled & info["success"]
    assert np.median(info["l2"][both]) < np.median(l2(X_pgd, X)[both])


def test_eps_bounds_the_reported_successes(cw_run, image_clf):
    X, y, _, info = cw_run
    eps = 0.6
    X_adv, info_eps = CarliniWagnerL2(eps=eps, **QUICK).generate(image_clf, X, y,
                                                                 return_info=True)
    assert l2(X_adv, X).max() <= eps + 1e-5
    np.testing.assert_array_equal(info_eps["success"], info["l2"] <= eps)
    np.testing.assert_array_equal(X_adv[~info_eps["success"]], X[~info_eps["success"]])
    robust = accuracy(image_clf, X_adv, y)  # what robust_accuracy computes
    assert robust == pytest.approx(1 - np.mean(info_eps["success"]))
    assert robust <= accuracy(image_clf, X, y)


def test_eps_zero_and_inputs_untouched(image_clf, image_data):
    _, _, X, y = image_data
    X, y = X[:10].copy(), y[:10].copy()
    X_copy = X.copy()
    np.testing.assert_array_equal(CarliniWagnerL2(eps=0.0).generate(image_clf, X, y), X)
    first = CarliniWagnerL2(n_iter=10, n_binary_steps=2).generate(image_clf, X, y)
    second = CarliniWagnerL2(n_iter=10, n_binary_steps=2).generate(image_clf, X, y)
    np.testing.assert_array_equal(first, second)  # deterministic
    np.testing.assert_array_equal(X, X_copy)


def test_model_state_restored(image_clf, image_data):
    _, _, X, y = image_data
    module = image_clf.module_
    modes = [m.training for m in module.modules()]
    grads = [p.requires_grad for p in module.parameters()]
    CarliniWagnerL2(n_iter=5, n_binary_steps=1).generate(image_clf, X[:5], y[:5])
    assert [m.training for m in module.modules()] == modes
    assert [p.requires_grad for p in module.parameters()] == grads


def test_unbounded_variant_and_targeted():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    x = torch.randn(20, 6)
    y = model(x).argmax(1)
    x_adv, info = carlini_wagner_l2(model, x, y, n_iter=100, lr=0.05, n_binary_steps=6,
                                    return_info=True)
    assert info["success"].float().mean() > 0.9
    assert (model(x_adv).argmax(1)[info["success"]] != y[info["success"]]).all()
    target = (y + 1) % 4
    x_t, info_t = carlini_wagner_l2(model, x, y, y_target=target, n_iter=100, lr=0.05,
                                    n_binary_steps=6, clip_min=-5.0, clip_max=5.0,
                                    return_info=True)
    assert (model(x_t).argmax(1)[info_t["success"]] == target[info_t["success"]]).all()
    assert info_t["success"].float().mean() > 0.8
    assert x_t.abs().max() <= 5.0


def test_kappa_asks_for_a_margin():
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 3)
    x = torch.rand(10, 5)
    y = model(x).argmax(1)
    x_adv, info = carlini_wagner_l2(model, x, y, kappa=0.5, n_iter=100, lr=0.05,
                                    n_binary_steps=6, return_info=True)
    z = model(x_adv).detach()
    other = z.clone()
    other.scatter_(1, y[:, None], -np.inf)
    margin = other.amax(1) - z.gather(1, y[:, None]).squeeze(1)
    assert (margin[info["success"]] >= 0.5 - 1e-4).all()


def test_errors_and_params(image_clf, image_data):
    _, _, X, y = image_data
    flat = X.reshape(len(X), -1)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(flat[:30], y[:30])
    with pytest.raises(TypeError, match="not differentiable"):
        CarliniWagnerL2().generate(forest, flat[:5], y[:5])
    with pytest.raises(ValueError, match="eps"):
        CarliniWagnerL2(eps=-1.0).generate(image_clf, X[:5], y[:5])
    with pytest.raises(ValueError, match="box_method"):
        CarliniWagnerL2(box_method="sigmoid").generate(image_clf, X[:5], y[:5])
    with pytest.raises(ValueError, match="n_binary_steps"):
        CarliniWagnerL2(n_binary_steps=0).generate(image_clf, X[:5], y[:5])
    with pytest.raises(ValueError, match="y has"):
        CarliniWagnerL2(n_iter=1).generate(image_clf, X[:5], y[:4])
    attack = CarliniWagnerL2(eps=1.0)
    assert clone(attack).get_params() == attack.get_params()
    assert attack.resolve_threat(type("T", (), {"threat_default": lambda s, k: 0.0})()).norm \
        == "2"


def test_linear_sklearn_pipeline(digits):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    _, X, y = digits
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(X[:300], y[:300])
    X_te, y_te = X[-30:], y[-30:]
    attack = CarliniWagnerL2(clip_min=0.0, clip_max=1.0, n_iter=80, lr=0.05, n_binary_steps=5)
    X_adv, info = attack.generate(pipe, X_te, y_te, return_info=True)  # tanh variables
    assert X_adv.min() >= 0.0 and X_adv.max() <= 1.0
    assert info["success"].mean() > 0.9
    assert (pipe.predict(X_adv)[info["success"]] != y_te[info["success"]]).all()
