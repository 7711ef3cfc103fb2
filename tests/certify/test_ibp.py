"""Interval bound propagation against brute force on tiny networks, and its errors."""
import pytest
import torch
from torch import nn

from robustsk.certify import interval_bounds, margin_lower_bounds, network_layers
from robustsk.modules import MLP, SmallCNN


def _nets():
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(3)
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 2.0)
    bn.weight.data.uniform_(-1.5, 1.5)  # negative scales too
    return [
        ("mlp", MLP((5,), 3, hidden_units=(8, 8)), (5,)),
        ("cnn", SmallCNN((6, 6), 4, channels=(3, 4), hidden_units=8), (6, 6)),
        ("cnn3d", SmallCNN((1, 6, 6), 3, channels=(2, 2), hidden_units=6), (1, 6, 6)),
        ("pool-bn", nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, stride=1), bn, nn.ReLU(),
                                  nn.AvgPool2d(2), nn.Dropout(0.5), nn.Flatten(),
                                  nn.Sequential(nn.Linear(27, 6), nn.ReLU()), nn.Linear(6, 3)),
         (1, 6, 6)),
        ("linear", nn.Linear(5, 3), (5,)),
        ("last-relu", nn.Sequential(nn.Flatten(), nn.Linear(5, 4), nn.ReLU(inplace=True)), (5,)),
    ]


def _samples(x, eps, norm, n, gen):
    """Vertices of the Linf ball, or points on the L2 sphere, around each example."""
    d = torch.randn((n, *x.shape), generator=gen)
    if norm == "inf":
        d = torch.sign(d) * eps
    else:
        d = d / d.flatten(2).norm(dim=2).view(n, len(x), *[1] * (x.ndim - 1)) * eps
    return (x[None] + d).clamp(0, 1)


@pytest.mark.parametrize("name, net, shape", _nets(), ids=[n[0] for n in _nets()])
@pytest.mark.parametrize("norm", ["inf", "2"])
@pytest.mark.parametrize("eps", [0.02, 0.3])
def test_bounds_contain_every_sampled_output(name, net, shape, norm, eps):
    gen = torch.Generator().manual_seed(1)
    net.eval()
    x = torch.rand((4, *shape), generator=gen)
    lo, hi = interval_bounds(net, x, eps, norm=norm, clip_min=0, clip_max=1)
    with torch.no_grad():
        y = net(x).argmax(1)
        margin = margin_lower_bounds(net, x, y, eps, norm=norm, clip_min=0, clip_max=1)
        xs = _samples(x, eps, norm, 1500, gen)
        out = net(xs.reshape(-1, *shape)).reshape(1500, 4, -1).double()
    tol = 1e-5  # the network runs in float32, the bounds in float64
    assert bool((out >= lo - tol).all() and (out <= hi + tol).all())
    sampled = out.gather(2, y.view(1, 4, 1).expand(1500, 4, 1)) - out  # z_y - z_j
    assert bool((margin.gather(1, y[:, None]) == float("inf")).all())  # j = y: no constraint
    finite = ~torch.isinf(margin)
    assert bool((sampled[:, finite] >= margin[finite] - tol).all())
    certified = margin.min(1).values > 0
    # certified => no sampled point is misclassified
    assert bool((out.argmax(2)[:, certified] == y[certified]).all())
    assert bool((lo <= hi).all())


def test_bounds_tighten_as_eps_shrinks_and_are_exact_at_zero():
    torch.manual_seed(0)
    net = MLP((5,), 3, hidden_units=(8,)).eval()
    x = torch.rand(6, 5)
    widths = [(hi - lo).max().item() for lo, hi in
              (interval_bounds(net, x, e) for e in (0.3, 0.1, 0.01))]
    assert widths[0] > widths[1] > widths[2] > 0
    lo, hi = interval_bounds(net, x, 0.0)
    with torch.no_grad():
        out = net(x).double()
    assert torch.allclose(lo, out, atol=1e-5) and torch.allclose(hi, out, atol=1e-5)


def test_l2_linear_margin_is_exact_without_box():
    # one linear layer, unbounded input: min over the L2 ball of (w_y - w_j).x + b_y - b_j
    torch.manual_seed(0)
    net = nn.Linear(4, 3)
    x, y, eps = torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1]), 0.2
    bound = margin_lower_bounds(net, x, y, eps, norm="2")
    w, b = net.weight.double(), net.bias.double()
    for i in range(5):
        for j in range(3):
            if j == y[i]:
                assert bound[i, j] == float("inf")
                continue
            d = w[y[i]] - w[j]
            exact = d @ x[i].double() + b[y[i]] - b[j] - eps * d.norm()
            assert bound[i, j].item() == pytest.approx(exact.item(), abs=1e-10)


def test_box_tightens_the_bounds():
    torch.manual_seed(0)
    net = MLP((5,), 3, hidden_units=(8,)).eval()
    x = torch.zeros(3, 5)  # on the box's lower face: half the ball is outside
    lo_free, hi_free = interval_bounds(net, x, 0.2)
    lo_box, hi_box = interval_bounds(net, x, 0.2, clip_min=0, clip_max=1)
    assert bool((lo_box >= lo_free - 1e-12).all() and (hi_box <= hi_free + 1e-12).all())
    assert bool(((hi_box - lo_box) < (hi_free - lo_free) - 1e-6).any())


def test_shared_layers_of_default_networks():
    cnn = SmallCNN((8, 8), 10)
    layers = network_layers(cnn)
    assert isinstance(layers[0], nn.Unflatten) and layers[1] is cnn.conv[0]
    assert layers[-1] is cnn.classifier[-1]
    x = torch.rand(3, 8, 8)
    with torch.no_grad():
        assert torch.equal(cnn.as_sequential()(x), cnn(x))
        mlp = MLP((5,), 2)
        assert torch.equal(mlp.as_sequential()(torch.ones(2, 5)), mlp(torch.ones(2, 5)))


def test_linear_classifier_layers_read_float64_coefficients():
    """A scikit-learn linear model's target module runs in float32 for the attacks and
    hands interval bound propagation its float64 coefficients."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from robustsk.attacks import as_target
    from robustsk.modules import module_device

    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3)) * 1e3
    model = LogisticRegression(max_iter=1000).fit(X, rng.randint(0, 3, 60))
    module = as_target(model).module
    layers = network_layers(module)
    linear = layers[-1]
    assert linear.weight.dtype == torch.float64
    assert np.array_equal(linear.weight.numpy(), model.coef_)
    assert np.array_equal(linear.bias.numpy(), model.intercept_)
    x = torch.as_tensor(X[:5])
    scores = nn.Sequential(*layers)(x).numpy()
    # float64 arithmetic (float32 would be ~1e-7 off relative to the scores' size)
    np.testing.assert_allclose(scores, model.decision_function(X[:5]), rtol=0, atol=1e-9)
    assert module(x.float()).dtype == torch.float32
    assert module_device(module) == torch.device("cpu")
    assert module_device(nn.ReLU()) == torch.device("cpu")  # no tensors: the CPU


class _Skip(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, x):
        return x + self.lin(x)


@pytest.mark.parametrize("net, match", [
    (nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), r"Sequential\.1 of type Tanh"),
    (nn.Sequential(_Skip(), nn.Linear(3, 2)), "of type _Skip"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect")), "padding_mode"),
    (nn.Sequential(nn.BatchNorm1d(3, track_running_stats=False)), "track_running_stats"),
])
def test_unsupported_layers_are_named(net, match):
    with pytest.raises(TypeError, match=match):
        network_layers(net)
    with pytest.raises(TypeError, match="Interval bound propagation cannot certify"):
        interval_bounds(net, torch.zeros(1, 3), 0.1)
