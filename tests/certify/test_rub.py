"""aRUB and RUB: the bounds bound, the certificate is sound, training raises it."""
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler
from soundness_search import grid_fooled, pgd_fooled
import torch
import torch.nn.functional as F

from robustsk.certify.rub import (
    arub_loss,
    certify_rub,
    check_rub_norm,
    rub_box_bounds,
    rub_vertex_bounds,
)
from robustsk.defenses import RobustUpperBoundTraining, StandardTraining
from robustsk.modules import MLP

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _net(seed, d=4, m=6, C=3):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d, m), torch.nn.ReLU(),
                               torch.nn.Linear(m, C)).double()


def _ball_points(x, eps, norm, n, g):
    """Random points of the ball around each row of x (and its vertices for L1)."""
    d = x.shape[1]
    if norm == "inf":
        delta = (torch.rand(n, d, generator=g, dtype=x.dtype) * 2 - 1) * eps
        delta = torch.where(torch.rand(n, d, generator=g, dtype=x.dtype) < 0.5,
                            delta.sign() * eps, delta)           # many faces and vertices
    elif norm == "2":
        u = torch.randn(n, d, generator=g, dtype=x.dtype)
        delta = u / u.norm(dim=1, keepdim=True) * eps
    else:
        u = torch.randn(n, d, generator=g, dtype=x.dtype)
        u = u / u.abs().sum(1, keepdim=True) * eps
        delta = torch.cat([u, torch.eye(d, dtype=x.dtype) * eps, -torch.eye(d, dtype=x.dtype) * eps])
    return x[:, None, :] + delta[None]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("norm", ["inf", "2", "1"])
def test_bounds_dominate_every_sampled_logit_gap(seed, norm):
    net = _net(seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (8,), generator=g)
    eps = 0.3
    if norm == "1":
        bound = rub_vertex_bounds(net, x, y, eps)
    else:
        bound = rub_box_bounds(net, x, y, eps, norm)
        d = 4
        vertex = rub_vertex_bounds(net, x, y, (d if norm == "inf" else d ** 0.5) * eps)
        bound = torch.minimum(bound, vertex)
    pts = _ball_points(x, eps, norm, 2000, g)                        # (n, k, d)
    with torch.no_grad():
        z = net(pts)
        gaps = z - z.gather(2, y[:, None, None].expand(-1, z.shape[1], 1))
    assert torch.all(gaps.amax(1) <= bound + 1e-9)
    assert torch.all(bound[torch.arange(8), y] == 0)


def test_vertex_bound_is_exact_for_a_network_with_one_sign_of_output_weights():
    # With V_k - V_y >= 0 the RUB function is the true gap, convex: the bound is attained.
    net = _net(3, d=3, m=4, C=2)
    with torch.no_grad():
        net[2].weight[1] = net[2].weight[0] + torch.rand(4, dtype=torch.float64)
    x, y = torch.randn(5, 3, dtype=torch.float64), torch.zeros(5, dtype=torch.long)
    bound = rub_vertex_bounds(net, x, y, 0.5)[:, 1]
    pts = _ball_points(x, 0.5, "1", 10, torch.Generator().manual_seed(0))
    with torch.no_grad():
        z = net(pts)
    assert torch.allclose((z[..., 1] - z[..., 0]).amax(1), bound, atol=1e-12)


def test_arub_is_cross_entropy_at_zero_and_bounds_a_linear_model():
    torch.manual_seed(0)
    lin = torch.nn.Linear(5, 3)
    x, y = torch.randn(16, 5), torch.randint(0, 3, (16,))
    loss0, logits = arub_loss(lin, x, y, 0.0)
    assert torch.isclose(loss0, F.cross_entropy(logits, y), atol=1e-6)
    loss, _ = arub_loss(lin, x, y, 0.2)
    # for a linear model the first-order bound bounds the worst-case CE: no sign flip beats it
    delta = (torch.randint(0, 2, (256, 5)) * 2 - 1) * 0.2
    with torch.no_grad():
        worst = max(float(F.cross_entropy(lin(x + dd), y)) for dd in delta)
    assert worst <= float(loss.detach()) + 1e-6
    assert float(loss.detach()) > float(loss0.detach())


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    order = np.random.RandomState(0).permutation(len(X))
    return X[order[:400]], X[order[400:]], y[order[:400]], y[order[400:]]


@pytest.fixture(scope="module")
def cancer_models(cancer):
    X_tr, _, y_tr, _ = cancer
    common = {"hidden_units": 16, "max_epochs": 15, "lr": 3e-3, "eps": 0.3, "rub_radius": 9.0}
    return {(method, norm): RobustUpperBoundTraining(method=method, norm=norm, random_state=seed,
                                                     **common).fit(X_tr, y_tr)
            for method, norm, seed in (("rub", "inf", 0), ("arub", 2, 1), ("rub", 2, 2))}


@pytest.mark.parametrize("key", [("rub", "inf"), ("arub", 2), ("rub", 2)])
def test_certified_examples_resist_attacks(cancer, cancer_models, key):
    _, X_te, _, y_te = cancer
    clf, norm = cancer_models[key], key[1]
    for eps in (0.1, 0.3):
        certified, radius = certify_rub(clf, X_te, y_te, eps, norm=norm)
        assert radius is None and certified.dtype == bool and certified.any()
        fooled = pgd_fooled(clf, X_te, y_te, eps, norm=norm, n_restarts=2, n_iter=20)
        assert not (certified & fooled).any()
        assert certified.mean() <= (~fooled).mean()


def test_certificate_sound_on_a_tiny_network_by_grid_search(tabular):
    X, y = tabular
    clf = RobustUpperBoundTraining(method="rub", eps=0.1, hidden_units=5, max_epochs=20,
                                   lr=1e-2, random_state=0).fit(X[:200], y[:200])
    X_te, y_te = X[200:260], y[200:260]
    for norm, levels in (("inf", 5), ("1", 7)):
        certified, _ = certify_rub(clf, X_te, y_te, 0.2, norm=norm)
        assert certified.any()
        fooled = grid_fooled(clf, X_te, y_te, 0.2, levels=levels, norm=norm)
        assert not (certified & fooled).any()


def test_rub_training_raises_certified_accuracy(cancer, cancer_models):
    # Breast cancer (30 standardised features), eps = 0.3 L-infinity, 16 hidden units,
    # RUB on the L1 ball containing the threat ball (radius d * eps = 9)
    # (measured: 0.66 certified after standard training, 0.78 after RUB training).
    X_tr, X_te, y_tr, y_te = cancer
    gains = []
    for seed in (0, 1):
        rub = cancer_models["rub", "inf"] if seed == 0 else RobustUpperBoundTraining(
            method="rub", eps=0.3, rub_radius=9.0, hidden_units=16, max_epochs=15, lr=3e-3,
            random_state=seed).fit(X_tr, y_tr)
        std = StandardTraining(module=MLP, module__input_shape=(30,), module__n_classes=2,
                               module__hidden_units=(16,), max_epochs=15,
                               lr=3e-3, random_state=seed).fit(X_tr, y_tr)
        gains.append(certify_rub(rub, X_te, y_te, 0.3)[0].mean()
                     - certify_rub(std, X_te, y_te, 0.3)[0].mean())
    assert min(gains) > 0.05, gains


def test_bad_input(tabular, digits):
    X, y = tabular
    with pytest.raises(ValueError, match="method"):
        RobustUpperBoundTraining(method="sdp", max_epochs=1).fit(X, y)
    with pytest.raises(TypeError, match="exactly one hidden layer"):
        RobustUpperBoundTraining(method="rub", module=MLP((6,), 3, hidden_units=(4, 4)),
                                 max_epochs=1).fit(X, y)
    clf = RobustUpperBoundTraining(max_epochs=1, hidden_units=4, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="norm"):
        certify_rub(clf, X, y, 0.1, norm=3)
    with pytest.raises(ValueError, match="eps"):
        certify_rub(clf, X, y, -1.0)
    for batch_size in (0, -1, 2.5):
        with pytest.raises(ValueError, match=rf"batch_size={batch_size!r}: expected an integer"):
            certify_rub(clf, X, y, 0.1, batch_size=batch_size)
    assert check_rub_norm("l1") == "1" and check_rub_norm(np.inf) == "inf"
    X_img, _, y_img, _ = digits
    cnn = StandardTraining(max_epochs=1, random_state=0).fit(X_img[:64], y_img[:64])
    with pytest.raises(TypeError, match="SmallCNN"):
        certify_rub(cnn, X_img[:5], y_img[:5], 0.1)
