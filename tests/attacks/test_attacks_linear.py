"""Linear models: closed-form gradients and the exact minimal perturbation."""
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, RidgeClassifier, SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits
import torch
import torch.nn.functional as F

from robustsk.attacks import PGD
from robustsk.attacks._primitives import input_gradient
from robustsk.attacks._target import as_target
from robustsk.attacks.linear import LinearMinimalAttack, minimal_perturbation
from robustsk.attacks.losses import cross_entropy


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Tiny scikit-learn fits are slowed by BLAS oversubscription on shared cores."""
    with threadpool_limits(limits=1):
        yield

@pytest.fixture(scope="module")
def binary(binary_data):
    return binary_data


@pytest.fixture(scope="module")
def multi(digits):
    _, X, y = digits
    return X[:300], y[:300], X[-100:], y[-100:]


MODELS = [LogisticRegression(max_iter=500), LinearSVC(), SGDClassifier(random_state=0),
          RidgeClassifier()]
IDS = ["logreg", "linearsvc", "sgd", "ridge"]


@pytest.mark.parametrize("model", MODELS, ids=IDS)
@pytest.mark.parametrize("data", ["binary", "multi"])
def test_logits_agree_with_predict(model, data, request):
    X, y, X_te, _ = request.getfixturevalue(data)
    model.fit(X, y)
    target = as_target(model)
    with torch.no_grad():
        logits = target.module(target.prepare_X(X_te))
    assert (model.classes_[logits.argmax(1).numpy()] == model.predict(X_te)).all()
    assert target.threat_default("eps") is None
    # an unseeded attack inherits the model's integer random_state (None if it has none)
    seed = getattr(model, "random_state", None)
    assert target.threat_default("random_state") == (seed if isinstance(seed, int) else None)


def test_binary_gradient_is_the_closed_form_logistic_gradient(binary):
    X, y, X_te, y_te = binary
    clf = LogisticRegression(max_iter=500).fit(X, y)
    target = as_target(clf)
    x, yi = target.prepare_X(X_te), target.encode_y(y_te, n_samples=len(X_te))
    _, _, grad = input_gradient(target.module, x, yi, cross_entropy)
    # closed form: d/dx log(1 + exp(-s d(x))) = -s sigmoid(-s d(x)) w, s = +-1
    w = clf.coef_.ravel()
    s = 2.0 * yi.numpy() - 1.0
    d = clf.decision_function(X_te)
    closed = (-s / (1.0 + np.exp(s * d)))[:, None] * w
    np.testing.assert_allclose(grad.numpy(), closed, rtol=1e-4, atol=1e-6)
    # and torch autograd on the equivalent one-output model with BCE
    lin = torch.nn.Linear(X.shape[1], 1)
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(clf.coef_, dtype=torch.float32))
        lin.bias.copy_(torch.as_tensor(clf.intercept_, dtype=torch.float32))
    xr = x.clone().requires_grad_(True)
    loss = F.binary_cross_entropy_with_logits(lin(xr).squeeze(1), yi.float(), reduction="sum")
    auto, = torch.autograd.grad(loss, xr)
    np.testing.assert_allclose(grad.numpy(), auto.numpy(), rtol=1e-4, atol=1e-6)


def test_multiclass_gradient_through_a_scaler_equals_autograd(multi):
    X, y, X_te, y_te = multi
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    target = as_target(pipe)
    x, yi = target.prepare_X(X_te), target.encode_y(y_te, n_samples=len(X_te))
    _, _, grad = input_gradient(target.module, x, yi, cross_entropy)
    sc, clf = pipe[0], pipe[-1]
    W = torch.as_tensor(clf.coef_ / sc.scale_, dtype=torch.float64)
    b = torch.as_tensor(clf.intercept_ - clf.coef_ @ (sc.mean_ / sc.scale_), dtype=torch.float64)
    xr = x.double().clone().requires_grad_(True)
    auto, = torch.autograd.grad(F.cross_entropy(xr @ W.T + b, yi, reduction="sum"), xr)
    np.testing.assert_allclose(grad.numpy(), auto.numpy(), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("norm", ["inf", 2])
@pytest.mark.parametrize("data", ["binary", "multi"])
def test_minimal_perturbation_is_exact(norm, data, request):
    X, y, X_te, y_te = request.getfixturevalue(data)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    X_te = X_te.astype(np.float64)
    delta, dist = minimal_perturbation(clf, X_te, y_te, norm)
    ok = clf.predict(X_te) == y_te
    assert (clf.predict(X_te + delta) != y_te).all()
    assert (clf.predict(X_te + 0.99 * delta)[ok] == y_te[ok]).all()
    size = np.abs(delta).max(1) if norm == "inf" else np.linalg.norm(delta, axis=1)
    np.testing.assert_allclose(size, dist * (1 + 1e-4), rtol=1e-6)
    assert (dist[~ok] == 0).all()


def test_binary_distance_formula(binary):
    X, y, X_te, y_te = binary
    clf = LinearSVC().fit(X, y)
    _, dist = minimal_perturbation(clf, X_te, y_te, "inf")
    ok = clf.predict(X_te) == y_te
    expected = np.abs(clf.decision_function(X_te.astype(np.float64))) / np.abs(clf.coef_).sum()
    np.testing.assert_allclose(dist[ok], expected[ok], rtol=1e-4)


def test_minimal_attack_is_a_lower_bound_for_pgd(multi):
    X, y, X_te, y_te = multi
    clf = LogisticRegression(max_iter=500).fit(X, y)
    eps = 0.05
    X_min = LinearMinimalAttack(eps=eps).generate(clf, X_te, y_te)
    assert np.abs(X_min - X_te).max() <= eps + 1e-6
    _, dist = minimal_perturbation(clf, X_te, y_te, "inf")
    acc_min = (clf.predict(X_min) == y_te).mean()
    assert acc_min == pytest.approx((dist > eps).mean())
    X_pgd = PGD(eps=eps, n_iter=20, random_state=0).generate(clf, X_te, y_te)
    assert (clf.predict(X_pgd) == y_te).mean() >= acc_min


def _lp_distance(W, b, x, yi, lo, hi):
    """The box-constrained Linf distance to another class, by scipy's LP solver."""
    from scipy.optimize import linprog
    d, best = len(x), np.inf
    eye, ones = np.eye(d), np.ones((d, 1))
    for j in range(len(W)):
        if j == yi:
            continue
        v, m = W[yi] - W[j], (W[yi] - W[j]) @ x + b[yi] - b[j]
        # variables (delta, t): min t, v.delta <= -m, |delta_i| <= t, lo <= x + delta <= hi
        A = np.vstack([np.r_[v, 0.0], np.hstack([eye, -ones]), np.hstack([-eye, -ones])])
        res = linprog(np.r_[np.zeros(d), 1.0], A_ub=A, b_ub=np.r_[-m, np.zeros(2 * d)],
                      bounds=[(lo - xi, hi - xi) for xi in x] + [(0, None)], method="highs")
        if res.status == 0:
            best = min(best, res.fun)
    return best


def test_minimal_perturbation_in_a_box_is_the_linear_program(multi):
    """Inside [0, 1] the minimum is the LP's (clipping the unboxed one lost every example)."""
    X, y, X_te, y_te = multi
    clf = LogisticRegression(max_iter=500).fit(X, y)
    X_te, y_te = X_te[:12].astype(np.float64), y_te[:12]
    W, b = as_target(clf).linear
    yi = as_target(clf).encode_y(y_te, len(y_te)).numpy()
    lp = np.array([_lp_distance(W, b, x, k, 0.0, 1.0) for x, k in zip(X_te, yi)])
    delta, dist = minimal_perturbation(clf, X_te, y_te, "inf", clip_min=0, clip_max=1)
    # HiGHS solves to its feasibility tolerance (1e-7): compare at 1e-6, far below the
    # distances themselves (about 0.1)
    np.testing.assert_allclose(dist, lp, rtol=1e-6, atol=1e-9)
    assert ((X_te + delta >= -1e-12) & (X_te + delta <= 1 + 1e-12)).all()
    assert (clf.predict(np.clip(X_te + delta, 0, 1)) != y_te).all()
    # the attack fools exactly the examples whose box distance is below eps
    eps = float(np.sort(dist)[6] * 1.001)
    X_adv = LinearMinimalAttack(eps=eps, clip_min=0, clip_max=1).generate(clf, X_te, y_te)
    np.testing.assert_array_equal(clf.predict(X_adv) != y_te, dist <= eps)
    assert np.abs(X_adv - X_te).max() <= eps + 1e-12 and X_adv.min() >= 0 and X_adv.max() <= 1


@pytest.mark.parametrize("norm", ["inf", 2])
def test_examples_just_inside_eps_are_fooled(multi, norm):
    """Distance < eps < distance * (1 + overshoot): the overshoot is cut at eps, not dropped."""
    X, y, X_te, y_te = multi
    clf = LogisticRegression(max_iter=500).fit(X, y)
    X_te = X_te.astype(np.float64)
    _, dist = minimal_perturbation(clf, X_te, y_te, norm)
    i = int(np.argmax(dist))
    eps = dist[i] * (1 + 5e-5)
    X_adv = LinearMinimalAttack(eps=eps, norm=norm).generate(clf, X_te[i:i + 1], y_te[i:i + 1])
    assert clf.predict(X_adv)[0] != y_te[i]
    size = np.abs(X_adv - X_te[i]).max() if norm == "inf" else np.linalg.norm(X_adv - X_te[i])
    assert size <= eps + 1e-12  # (x + delta) - x rounds


def test_minimal_perturbation_refuses_nonlinear(binary_clf, binary_data):
    X, y, _, _ = binary_data
    with pytest.raises(TypeError, match="affine"):
        minimal_perturbation(binary_clf, X[:5], y[:5])
