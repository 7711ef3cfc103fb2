"""AFD: three optimizers in the paper's order, clonable settings, the mechanism, bad input."""
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback
import torch

from robustsk.attacks import PGD
from robustsk.defenses import (
    AdversarialFeatureDesensitization,
    StandardTraining,
    pairwise_accuracy,
)
from robustsk.heads import FeatureCritic
from robustsk.modules import UnitSphereFeatures

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
CHEAP = {"max_epochs": 1, "n_iter": 2, "batch_size": 64, "random_state": 0,
         "clip_min": 0.0, "clip_max": 1.0}


def param_set(optimizer):
    return {p for g in optimizer.param_groups for p in g["params"]}


def test_pairwise_accuracy():
    assert pairwise_accuracy(torch.tensor([1.0, 2.0]), torch.tensor([0.0, -1.0])) == 1.0
    assert pairwise_accuracy(torch.tensor([0.0, -1.0]), torch.tensor([1.0, 2.0])) == 0.0
    assert pairwise_accuracy(torch.zeros(3), torch.zeros(5)) == 0.5


def test_three_optimizers_over_the_right_parameters(digits):
    X, _, y, _ = digits
    clf = AdversarialFeatureDesensitization(
        optimizer_encoder=torch.optim.SGD, optimizer_encoder__lr=0.5,
        optimizer_discriminator=torch.optim.SGD, optimizer_discriminator__lr=0.25,
        optimizer_discriminator__momentum=0.9, lr=2e-3, **CHEAP).fit(X[:128], y[:128])
    main, critic, encoder = clf.optimizers()  # main, extra modules', extra optimizers
    assert main is clf.optimizer_ and encoder is clf.optimizer_encoder_
    assert critic is clf.optimizer_discriminator_
    # E + Dc | E alone (what features() uses: not the output layer) | Da
    module = clf.module_  # the SmallCNN, on the unit sphere (normalize_features=True)
    assert isinstance(module, UnitSphereFeatures)
    head = set(module.module.classifier[-1].parameters())
    assert param_set(main) == set(module.parameters())
    assert param_set(encoder) == set(module.parameters()) - head
    assert param_set(critic) == set(clf.discriminator_.parameters())
    assert isinstance(clf.discriminator_, FeatureCritic)
    assert [o.param_groups[0]["lr"] for o in (main, encoder, critic)] == [2e-3, 0.5, 0.25]
    assert critic.param_groups[0]["momentum"] == 0.9
    # each optimizer stepped once per batch (Adam counts; SGD's momentum buffers exist)
    assert {int(s["step"]) for s in main.state.values()} == {2}
    assert all("momentum_buffer" in s for s in critic.state.values())
    for column in ("train_discriminator_loss", "train_encoder_loss", "train_discriminator_acc"):
        assert np.isfinite(clf.history[-1, column]), column


def test_updates_follow_the_papers_order(digits, monkeypatch):
    X, _, y, _ = digits
    clf = AdversarialFeatureDesensitization(**CHEAP)
    order = []
    original = clf.initialize_optimizer

    def initialize_and_spy(*args, **kwargs):
        original(*args, **kwargs)
        for name in ("optimizer_", "optimizer_discriminator_", "optimizer_encoder_"):
            opt = getattr(clf, name)
            step = opt.step
            opt.step = lambda *a, _step=step, _name=name, **k: (order.append(_name), _step(*a, **k))
        return clf

    monkeypatch.setattr(clf, "initialize_optimizer", initialize_and_spy)
    clf.fit(X[:64], y[:64])  # one batch
    assert order == ["optimizer_", "optimizer_discriminator_", "optimizer_encoder_"]


def test_critic_and_encoder_learning_rates_default_to_multiples_of_lr(digits):
    X, _, y, _ = digits
    clf = AdversarialFeatureDesensitization(lr=2e-3, **CHEAP).fit(X[:64], y[:64])
    lrs = [o.param_groups[0]["lr"] for o in clf.optimizers()]
    assert lrs == [2e-3, pytest.approx(2e-2), pytest.approx(1e-3)]  # main, critic, encoder


def test_learning_rates_are_clonable_parameters(digits):
    X, _, y, _ = digits
    clf = AdversarialFeatureDesensitization(optimizer_discriminator__lr=0.05, **CHEAP)
    clf.set_params(optimizer_encoder__lr=0.02, optimizer_encoder=torch.optim.SGD)
    twin = clone(clf)
    params = twin.get_params()
    assert params["optimizer_discriminator__lr"] == 0.05
    assert params["optimizer_encoder__lr"] == 0.02
    assert params["optimizer_encoder"] is torch.optim.SGD
    twin.fit(X[:64], y[:64])
    assert twin.optimizer_encoder_.param_groups[0]["lr"] == 0.02
    assert isinstance(twin.optimizer_encoder_, torch.optim.SGD)
    # on a fitted estimator set_params reaches the live optimizer, as skorch's lr does
    twin.set_params(optimizer_discriminator__lr=0.5)
    assert twin.optimizer_discriminator_.param_groups[0]["lr"] == 0.5
    back = pickle.loads(pickle.dumps(twin))
    assert back.optimizer_encoder_.param_groups[0]["lr"] == 0.02
    np.testing.assert_array_equal(back.predict_proba(X[:20]), twin.predict_proba(X[:20]))


def test_grid_search_over_the_critic_learning_rate(digits):
    X, _, y, _ = digits
    grid = GridSearchCV(AdversarialFeatureDesensitization(**CHEAP),
                        {"optimizer_discriminator__lr": [1e-3, 1e-2],
                         "optimizer_encoder__lr": [1e-4]}, cv=2)
    grid.fit(X[:120], y[:120])
    best = grid.best_estimator_
    assert best.optimizer_discriminator_.param_groups[0]["lr"] == \
        grid.best_params_["optimizer_discriminator__lr"]
    assert best.optimizer_encoder_.param_groups[0]["lr"] == 1e-4


class HeldOutCriticAccuracy(Callback):
    """Records the critic's held-out pairwise accuracy after every epoch."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def on_epoch_end(self, net, **kwargs):
        net.history.record("valid_critic_acc", net.discriminator_accuracy(self.X, self.y))


#: the measured game: digits in [0, 1], eps 0.2, 600 images, 15 epochs
GAME = {"eps": 0.2, "n_iter": 5, "max_epochs": 15, "clip_min": 0.0, "clip_max": 1.0,
        "random_state": 0}


@pytest.fixture(scope="module")
def game(digits):
    """AFD; AFD with a passive encoder (learning rate 0) for 8 epochs and then 10 epochs
    of the game (warm start); StandardTraining."""
    X_tr, X_te, y_tr, y_te = digits
    X, y, X_val, y_val = X_tr[:600], y_tr[:600], X_te[:150], y_te[:150]
    probe = HeldOutCriticAccuracy(X_val, y_val)
    fits = {"afd": AdversarialFeatureDesensitization(callbacks=[probe], **GAME).fit(X, y)}
    late = AdversarialFeatureDesensitization(
        optimizer_encoder__lr=0.0, callbacks=[probe], **{**GAME, "max_epochs": 8}).fit(X, y)
    fits["late"] = late.set_params(optimizer_encoder__lr=5e-4, warm_start=True,
                                   max_epochs=10).fit(X, y)
    fits["standard"] = StandardTraining(**GAME).fit(X, y)
    return fits, X_val, y_val


def critic_distance(fit, epochs):
    """Mean |held-out pairwise accuracy of the critic - 0.5| over ``epochs`` (a slice)."""
    return np.abs(np.asarray(fit.history[epochs, "valid_critic_acc"]) - 0.5).mean()


def test_critic_is_kept_at_chance_by_the_encoder(game):
    # Measured over seeds 0-2: mean |held-out pairwise accuracy - 0.5| over 15 epochs
    # of the game is 0.03 / 0.05 / 0.05, against 0.11 / 0.14 / 0.19 over the first 8
    # epochs with a passive encoder, whose critic learns to tell clean from adversarial.
    fits, _, _ = game
    game_distance = critic_distance(fits["afd"], slice(None))
    passive_distance = critic_distance(fits["late"], slice(0, 8))
    assert game_distance <= 0.07                      # the critic cannot tell ...
    assert passive_distance >= game_distance + 0.05   # ... because the encoder hides it


def test_critic_accuracy_moves_towards_chance_once_the_encoder_plays(game):
    # Seeds 0-2, critic's held-out accuracy over the last 3 passive epochs 0.63-0.64 /
    # 0.64-0.67 / 0.73-0.77, over the last 3 of the 10 game epochs after them 0.54-0.55 /
    # 0.60-0.61 / 0.56-0.58; clean accuracy 0.97-0.98 at the end.
    fits, X_val, y_val = game
    late = fits["late"]
    assert critic_distance(late, slice(5, 8)) >= critic_distance(late, slice(-3, None)) + 0.04
    assert late.score(X_val, y_val) >= 0.9


def test_robust_accuracy_beats_standard_training(game):
    # seeds 0-2, PGD-10 on 150 held-out images: 0.093 / 0.133 / 0.087 against
    # 0.047 / 0.027 / 0.040 (StandardTraining); a passive encoder for all 15 epochs
    # 0.073 / 0.087 / 0.073; clean accuracy 0.97-0.98 for all three
    fits, X_val, y_val = game
    attack = PGD(n_iter=10, random_state=0)
    robust = {name: fits[name].score_adversarial(X_val, y_val, attack=attack)
              for name in ("afd", "standard")}
    assert robust["afd"] >= robust["standard"] + 0.025
    assert fits["afd"].score(X_val, y_val) >= 0.9


def test_module_without_features_is_refused(digits):
    X, _, y, _ = digits
    flat = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    clf = AdversarialFeatureDesensitization(module=flat, **CHEAP)
    with pytest.raises(TypeError, match=r"AdversarialFeatureDesensitization needs the "
                                        r"network's hidden features.*Sequential.*head\(h\)"):
        clf.fit(X[:100], y[:100])
    assert not clf.__sklearn_is_fitted__()


@pytest.mark.parametrize("params, match", [
    ({"optimizer_encoder": "adam"}, r"optimizer_encoder='adam'"),
    ({"optimizer_discriminator": None}, r"optimizer_discriminator=None"),
    ({"discriminator": 2}, r"discriminator=2"),
])
def test_bad_parameters_are_refused_before_work(params, match, digits):
    X, _, y, _ = digits
    clf = AdversarialFeatureDesensitization(**CHEAP, **params)
    with pytest.raises(ValueError, match=match):
        clf.fit(X[:100], y[:100])
    assert not clf.__sklearn_is_fitted__()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda(digits):
    X, X_te, y, y_te = digits
    clf = AdversarialFeatureDesensitization(**{**CHEAP, "device": "cuda"}).fit(X[:128], y[:128])
    for opt in clf.optimizers():
        assert all(p.is_cuda for g in opt.param_groups for p in g["params"])
    assert all(p.is_cuda for p in clf.discriminator_.parameters())
    assert 0.0 <= clf.discriminator_accuracy(X_te[:50], y_te[:50]) <= 1.0


def test_extra_optimizer_without_its_parameters_says_what_to_override(digits):
    from robustsk.defenses import StandardTraining

    class Incomplete(StandardTraining):
        extra_optimizers = ("optimizer_encoder",)

        def __init__(self, module=None, *, optimizer_encoder=torch.optim.SGD, **kwargs):
            super().__init__(module, **kwargs)
            self.optimizer_encoder = optimizer_encoder

    X, _, y, _ = digits
    with pytest.raises(NotImplementedError, match=r"optimizer_named_parameters\(name\)"):
        Incomplete(**CHEAP).fit(X[:64], y[:64])


def test_a_bad_argument_of_the_critics_optimizer_keeps_the_fitted_model():
    from robustsk.datasets import load_digits_images

    X, y = load_digits_images(return_X_y=True)
    X, y = X[:80], y[:80]
    afd = AdversarialFeatureDesensitization(max_epochs=1, n_iter=1, random_state=0).fit(X, y)
    before = afd.predict_proba(X)
    afd.set_params(optimizer_discriminator__lr=-1)
    with pytest.raises(ValueError, match=r"optimizer_discriminator__lr=-1.*Invalid learning"):
        afd.fit(X, y)
    np.testing.assert_array_equal(afd.predict_proba(X), before)


class ConvHeadNet(torch.nn.Module):
    """A head that reads the (N, C, H, W) feature map, not flat features."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                                            torch.nn.MaxPool2d(2))
        self.head = torch.nn.Sequential(torch.nn.Conv2d(4, 10, 4), torch.nn.Flatten())

    def forward(self, x):
        return self.head(self.features(x))


def test_unit_sphere_features_keep_their_shape(digits):
    """The head read flattened features, so a convolutional head was refused."""
    X, _, y, _ = digits
    net = UnitSphereFeatures(ConvHeadNet())
    x = torch.as_tensor(X[:3])
    h = net.features(x)
    assert h.shape == (3, 4, 4, 4)
    np.testing.assert_allclose(h.flatten(1).norm(dim=1).detach().numpy(), 1.0, rtol=1e-6)
    clf = AdversarialFeatureDesensitization(module=ConvHeadNet(), **CHEAP).fit(X[:64], y[:64])
    assert clf.critic_features(x).shape == (3, 64)
    assert clf.predict(X[:5]).shape == (5,)
