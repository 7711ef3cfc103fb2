"""The SDP certificate: layout of M, dual >= SDP >= vertices, soundness against attacks."""
import itertools

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.preprocessing import StandardScaler
from soundness_search import grid_fooled, pgd_fooled
import torch

from robustsk.certify.sdp import (
    certify_sdp_dual,
    certify_sdp_exact,
    gershgorin_dual,
    one_hidden_layer,
    optimize_dual,
    pairwise_dual_bounds,
    pairwise_exact_bounds,
    sdp_dual_bound,
    sdp_matrix,
    solve_sdp,
)
from robustsk.defenses import SDPCertifiedNetwork, StandardTraining
from robustsk.modules import MLP

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _tiny(seed, d=3, m=4):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(m, d, generator=g, dtype=torch.float64),
            torch.randn(m, generator=g, dtype=torch.float64))


def _vertex_max(M):
    M = M.numpy()
    return max(np.array(y) @ M @ np.array(y)
               for y in itertools.product([-1.0, 1.0], repeat=M.shape[0]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_layout_of_M_gives_the_gradient_bound(seed):
    # max_y y^T M y / 4 must equal max_{s in {0,1}^m} ||W^T diag(v) s||_1, the
    # largest L1 norm of the gradient of the logit gap: this pins the blocks.
    W, v = _tiny(seed)
    A = (W.T * v).numpy()
    brute = max(np.abs(A @ np.array(s)).sum() for s in itertools.product([0, 1], repeat=4))
    assert _vertex_max(sdp_matrix(W, v)) / 4 == pytest.approx(brute, rel=1e-12)


def _transposed_layout(W, v):
    """``1_d^T A`` in the (1, hidden) block: the layout the module docstring rules out."""
    A = (W.T * v).numpy()
    d, m = A.shape
    M = np.zeros((1 + d + m, 1 + d + m))
    M[0, 1 + d:] = M[1 + d:, 0] = A.sum(0)
    M[1:1 + d, 1 + d:] = A
    M[1 + d:, 1:1 + d] = A.T
    return torch.as_tensor(M)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_other_block_layout_would_be_unsound(seed):
    W, v = _tiny(seed)
    A = (W.T * v).numpy()
    brute = max(np.abs(A @ np.array(s)).sum() for s in itertools.product([0, 1], repeat=4))
    assert _vertex_max(_transposed_layout(W, v)) / 4 < brute - 1e-3


@pytest.mark.parametrize("seed", [0, 1])
def test_dual_bound_dominates_sdp_value_which_dominates_vertices(seed):
    pytest.importorskip("cvxpy", reason="pip install robustsk[certify]")
    W, v = _tiny(seed)
    M = sdp_matrix(W, v)
    bound, value, status = solve_sdp(M.numpy())
    assert status == "optimal"
    tol = 1e-4 * abs(value)
    assert _vertex_max(M) <= value + tol
    assert bound >= value - tol                      # the sound evaluation at the solver's duals
    gersh = float(sdp_dual_bound(M, gershgorin_dual(M)))
    _, tuned = optimize_dual(M, n_steps=100)
    assert value - tol <= float(tuned) <= gersh + 1e-9
    # any duals at all give an upper bound
    g = torch.Generator().manual_seed(seed)
    for _ in range(5):
        assert float(sdp_dual_bound(M, torch.randn(M.shape[0], generator=g,
                                                   dtype=torch.float64) * 3)) >= value - tol


def test_failed_or_inaccurate_solve_is_infinite_bound():
    pytest.importorskip("cvxpy", reason="pip install robustsk[certify]")
    W, v = _tiny(0, d=6, m=8)
    M = sdp_matrix(W, v).numpy()
    bound, _, status = solve_sdp(M, solver="SCS", max_iters=2)
    assert status != "optimal" and bound == np.inf
    bound, _, status = solve_sdp(M, solver="NO_SUCH_SOLVER")
    assert bound == np.inf and status.startswith("solver_error")


@pytest.fixture(scope="module")
def wine():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    rng = np.random.RandomState(0)
    order = rng.permutation(len(X))
    return X[order[:120]], X[order[120:]], y[order[:120]], y[order[120:]]


@pytest.fixture(scope="module")
def tiny_sdp(tabular):
    X, y = tabular
    clf = SDPCertifiedNetwork(hidden_units=5, eps=0.1, sdp_weight=0.05, max_epochs=40, lr=1e-2,
                              random_state=0).fit(X[:200], y[:200])
    return clf, X[200:260], y[200:260]


@pytest.mark.parametrize("eps", [0.05, 0.2])
def test_certified_examples_resist_pgd_and_grid_search(tiny_sdp, eps):
    clf, X, y = tiny_sdp
    certified, radius = certify_sdp_dual(clf, X, y, eps)
    assert certified.any() and not certified.all()
    fooled = pgd_fooled(clf, X, y, eps, n_restarts=3) | grid_fooled(clf, X, y, eps)
    assert not (certified & fooled).any()
    assert certified.mean() <= (~fooled).mean()
    # the radius is a certificate too: just inside it nothing is found either
    inside = certified & np.isfinite(radius)
    r = float(radius[inside].min()) * 0.99
    assert not (pgd_fooled(clf, X[inside], y[inside], r, n_restarts=2)).any()


def test_exact_sdp_is_at_most_the_dual_bound_and_sound(tiny_sdp):
    pytest.importorskip("cvxpy", reason="pip install robustsk[certify]")
    clf, X, y = tiny_sdp
    dual = pairwise_dual_bounds(clf.module_).detach().numpy()
    bounds, values, statuses = pairwise_exact_bounds(clf.module_)
    assert statuses == ["optimal"] * 3
    assert np.all(dual >= values - 1e-4 * np.abs(values))
    assert np.all(bounds >= values - 1e-4 * np.abs(values))
    eps = 0.1
    cert_dual, r_dual = certify_sdp_dual(clf, X, y, eps, n_dual_steps=0)
    cert_exact, r_exact = certify_sdp_exact(clf, X, y, eps)
    assert np.all(r_exact >= r_dual * (1 - 1e-3))
    fooled = pgd_fooled(clf, X, y, eps) | grid_fooled(clf, X, y, eps)
    assert not (cert_exact & fooled).any()
    # a solver stopped early certifies nothing
    cert_bad, _ = certify_sdp_exact(clf, X, y, eps, max_iters=2)
    assert not cert_bad.any()


@pytest.mark.parametrize("seed", [0, 1])
def test_certified_accuracy_never_exceeds_robust_accuracy(wine, seed):
    X_tr, X_te, y_tr, y_te = wine
    clf = SDPCertifiedNetwork(hidden_units=8, eps=0.1, sdp_weight=0.05, max_epochs=30, lr=1e-2,
                              random_state=seed).fit(X_tr, y_tr)
    for eps in (0.02, 0.1):
        certified, _ = certify_sdp_dual(clf, X_te, y_te, eps, n_dual_steps=50)
        fooled = pgd_fooled(clf, X_te, y_te, eps, n_restarts=3, seed=seed)
        assert not (certified & fooled).any()
        assert certified.mean() <= (~fooled).mean()


def test_training_with_the_certificate_raises_certified_accuracy(wine):
    # Wine (13 standardised features, 3 classes), eps = 0.5, same network width
    # (measured: 0.14 certified after standard training, 0.60 with the certificate).
    X_tr, X_te, y_tr, y_te = wine
    gains = []
    for seed in (0, 1):
        sdp = SDPCertifiedNetwork(hidden_units=16, eps=0.5, sdp_weight=0.05, max_epochs=30, lr=1e-2,
                                  random_state=seed).fit(X_tr, y_tr)
        std = StandardTraining(module=MLP, module__input_shape=(13,), module__n_classes=3,
                               module__hidden_units=(16,), max_epochs=30,
                               lr=1e-2, random_state=seed).fit(X_tr, y_tr)
        c_sdp = certify_sdp_dual(sdp, X_te, y_te, 0.5, n_dual_steps=50)[0].mean()
        c_std = certify_sdp_dual(std, X_te, y_te, 0.5, n_dual_steps=50)[0].mean()
        gains.append(c_sdp - c_std)
    assert min(gains) > 0.25, gains


def test_bad_input(tiny_sdp, digits):
    clf, X, y = tiny_sdp
    with pytest.raises(ValueError, match="norm='inf'"):
        certify_sdp_dual(clf, X, y, 0.1, norm=2)
    with pytest.raises(ValueError, match="eps"):
        certify_sdp_dual(clf, X, y, -0.1)
    with pytest.raises(ValueError, match="n_dual_steps=-3: expected an integer >= 0"):
        certify_sdp_dual(clf, X, y, 0.1, n_dual_steps=-3)
    with pytest.raises(ValueError, match="dual_lr=0.0: expected a finite learning rate"):
        certify_sdp_dual(clf, X, y, 0.1, dual_lr=0.0)
    with pytest.raises(ValueError, match="norm='inf'"):
        SDPCertifiedNetwork(norm=2, max_epochs=1).fit(X, y)
    deep = MLP((6,), 3, hidden_units=(4, 4))
    with pytest.raises(TypeError, match="exactly one hidden layer"):
        one_hidden_layer(deep)
    with pytest.raises(TypeError, match="exactly one hidden layer"):
        SDPCertifiedNetwork(module=deep, max_epochs=1).fit(X, y)
    X_img, _, y_img, _ = digits
    cnn = StandardTraining(max_epochs=1, random_state=0).fit(X_img[:64], y_img[:64])
    with pytest.raises(TypeError, match="SmallCNN"):
        certify_sdp_dual(cnn, X_img[:5], y_img[:5], 0.1)
    pytest.importorskip("cvxpy")
    with pytest.raises(ValueError, match="solver='CLARABLE': expected the name of an installed"):
        certify_sdp_exact(clf, X, y, 0.1, solver="CLARABLE")  # a typo was a silent 0 accuracy
