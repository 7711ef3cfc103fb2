"""Defenses written in a test file from robustsk's public names only.

Each class below is the whole defense (under 40 lines) and is held to the same
contract, estimator checks and grid search as the built-in ones.
"""
import pickle
import warnings

from defense_contract import CHEAP, check_defense, same_weights, weights
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks
import torch

from robustsk.attacks import PGD, as_box, clip_box, cross_entropy, input_gradient
from robustsk.base import RobustClassifier
from robustsk.defenses import AdversarialTraining
from robustsk.metrics import make_adversarial_scorer
from robustsk.params import InstanceOf, Interval

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class NoiseAugmentation(RobustClassifier):
    """Train on ``clip(x + sigma * N(0, 1))``: Gaussian data augmentation."""

    _parameter_constraints = {"sigma": [Interval(float, 0, None)]}

    def __init__(self, module=None, *, sigma=0.1, **kwargs):
        super().__init__(module, **kwargs)
        self.sigma = sigma

    def train_step_single(self, batch, **fit_params):
        x, y = self.unpack_batch(batch)
        box = as_box(self.threat_.clip_min, self.threat_.clip_max, x)
        x_noisy = clip_box(x + self.sigma * self.training_randomness().normal(x), *box)
        y_pred = self.infer(x_noisy, **fit_params)
        loss = self.get_loss(y_pred, y, X=x_noisy, training=True)
        loss.backward()
        self.record_loss("noise", (x_noisy - x).abs().mean())
        return {"loss": loss, "y_pred": y_pred}


class GradientNormPenalty(RobustClassifier):
    """``CE + lam * ||grad_x CE||^2``: input-gradient regularisation by double backprop."""

    _parameter_constraints = {"lam": [Interval(float, 0, None)]}
    forwards_fit_params = False  # input_gradient calls the network with x alone

    def __init__(self, module=None, *, lam=1.0, **kwargs):
        super().__init__(module, **kwargs)
        self.lam = lam

    def train_step_single(self, batch, **fit_params):
        x, y = self.unpack_batch(batch)
        ce, logits, grad = input_gradient(self.attack_module(), x, y, cross_entropy,
                                          create_graph=True)
        penalty = grad.flatten(1).pow(2).sum(1).mean()
        loss = ce.mean() + self.lam * penalty
        loss.backward()
        self.record_loss("clean_loss", ce.mean())
        self.record_loss("gradient_penalty", penalty)
        return {"loss": loss, "y_pred": logits}


class AuxiliaryHead(torch.nn.Module):
    def __init__(self, in_features=128, n_classes=10):
        super().__init__()
        self.linear = torch.nn.Linear(in_features, n_classes)

    def forward(self, h):
        return self.linear(h)


class FeatureAuxiliaryLoss(RobustClassifier):
    """A second head on the features with its own optimizer (the shape DIAL and AFD need)."""

    extra_modules = {"aux": "aux_optimizer"}
    requires_features = True
    forwards_fit_params = False  # features and head, not forward

    def __init__(self, module=None, *, aux=AuxiliaryHead, aux_optimizer=torch.optim.SGD,
                 **kwargs):
        super().__init__(module, **kwargs)
        self.aux = aux
        self.aux_optimizer = aux_optimizer

    def extra_module_kwargs(self, name):
        h, _ = self.features_and_logits(torch.zeros(1, *self.input_shape_, device=self.device))
        return {"in_features": h.shape[1], "n_classes": len(self.classes_)}

    def train_step_single(self, batch, **fit_params):
        x, y = self.unpack_batch(batch)
        h, logits = self.features_and_logits(x)
        aux = self.get_loss(self.aux_(h), y, X=x, training=True)
        loss = self.get_loss(logits, y, X=x, training=True) + aux
        loss.backward()
        self.record_loss("aux_loss", aux)
        return {"loss": loss, "y_pred": logits}


CUSTOM = [NoiseAugmentation, GradientNormPenalty, FeatureAuxiliaryLoss]


@pytest.fixture(scope="module")
def data(digits):
    X_tr, _, y_tr, _ = digits
    return X_tr[:240], y_tr[:240]


def test_defined_in_under_40_lines():
    import inspect
    for cls in CUSTOM:
        assert len(inspect.getsource(cls).splitlines()) < 40, cls.__name__


@pytest.mark.parametrize("cls", CUSTOM, ids=lambda c: c.__name__)
def test_contract(cls, data):
    fitted = check_defense(cls(**CHEAP), *data)
    terms = {"NoiseAugmentation": ["train_noise"],
             "GradientNormPenalty": ["train_clean_loss", "train_gradient_penalty"],
             "FeatureAuxiliaryLoss": ["train_aux_loss"]}[cls.__name__]
    for term in terms:
        assert np.isfinite(fitted.history[-1, term])


def test_loss_terms_are_batch_size_weighted_means(data):
    X, y = data
    clf = NoiseAugmentation(**{**CHEAP, "batch_size": 100}).fit(X, y)  # batches 100, 100, 40
    batches = clf.history[-1, "batches"]
    sizes = np.array([b["train_batch_size"] for b in batches])
    values = np.array([b["train_noise"] for b in batches])
    assert list(sizes) == [100, 100, 40]
    assert clf.history[-1, "train_noise"] == pytest.approx((values * sizes).sum() / sizes.sum(),
                                                           rel=1e-12)


def test_double_backprop_reaches_the_weights(data):
    X, y = data
    plain = GradientNormPenalty(lam=0.0, **CHEAP).fit(X, y)
    penalised = GradientNormPenalty(lam=10.0, **CHEAP).fit(X, y)
    assert not same_weights(weights(plain), weights(penalised))


def test_extra_module_has_its_own_optimizer(data):
    X, y = data
    clf = FeatureAuxiliaryLoss(**CHEAP, aux_optimizer__lr=0.5, aux_optimizer__momentum=0.9)
    clf.fit(X, y)
    assert isinstance(clf.aux_, AuxiliaryHead) and clf.aux_.linear.in_features == 128
    main = {p for g in clf.optimizer_.param_groups for p in g["params"]}
    extra = {p for g in clf.aux_optimizer_.param_groups for p in g["params"]}
    assert extra == set(clf.aux_.parameters()) and not main & extra
    assert main == set(clf.module_.parameters())
    assert clf.aux_optimizer_.param_groups[0]["lr"] == 0.5
    assert len(clf.optimizers()) == 2
    # set_params routes to the extra optimizer and module, as to skorch's own
    clf.set_params(aux_optimizer__lr=0.01)
    assert clf.aux_optimizer_.param_groups[0]["lr"] == 0.01
    clf.set_params(aux__in_features=128)
    assert isinstance(clf.aux_, AuxiliaryHead)
    back = pickle.loads(pickle.dumps(clf))
    assert torch.equal(back.aux_.linear.weight, clf.aux_.linear.weight)
    assert clone(clf).get_params()["aux_optimizer__momentum"] == 0.9


def test_an_extra_module_instance_is_used_as_given(data):
    """Its sizing defaults made skorch build a fresh module in its place (the given
    size and weights dropped); a misspelled argument of an extra module is named in the
    error (it said "arguments set: none")."""
    X, y = data
    given = AuxiliaryHead(in_features=128, n_classes=10)
    torch.nn.init.constant_(given.linear.bias, 0.25)
    clf = FeatureAuxiliaryLoss(aux=given, aux_optimizer__lr=0.0, **CHEAP).fit(X, y)
    assert torch.equal(clf.aux_.linear.bias, torch.full((10,), 0.25))  # lr 0: untouched
    with pytest.raises(TypeError, match="aux__nonexistent=3"):
        FeatureAuxiliaryLoss(aux__nonexistent=3, **CHEAP).fit(X, y)


def test_both_optimizers_step_once_per_batch(data):
    X, y = data
    clf = FeatureAuxiliaryLoss(**CHEAP).fit(X, y)
    assert all(opt.state for opt in clf.optimizers()) or clf.optimizer_.state
    # Adam counts its steps: one per batch, so the closure was not run twice
    steps = {int(s["step"]) for s in clf.optimizer_.state.values()}
    assert steps == {int(np.ceil(len(X) / CHEAP["batch_size"]))}


def test_module_without_features_is_refused_before_work(data):
    X, y = data
    flat = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    clf = FeatureAuxiliaryLoss(module=flat, **CHEAP)
    with pytest.raises(TypeError, match="needs the network's hidden features.*features"):
        clf.fit(X, y)
    assert not clf.__sklearn_is_fitted__()


class _ScaledForward(torch.nn.Module):
    """features and head, but forward doubles the logits: the contract is broken."""

    def __init__(self, factor=2.0):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16),
                                        torch.nn.ReLU())
        self.out = torch.nn.Linear(16, 10)
        self.factor = factor

    def features(self, x):
        return self.body(x)

    def head(self, h):
        return self.out(h)

    def forward(self, x):
        return self.factor * self.head(self.features(x))


def test_module_breaking_the_features_contract_is_refused_before_work(data):
    """Training the features path and predicting with forward would disagree silently."""
    X, y = data
    clf = FeatureAuxiliaryLoss(module=_ScaledForward, **CHEAP)
    with pytest.raises(ValueError, match=r"FeatureAuxiliaryLoss trains the network's features, "
                                         r"but for the module _ScaledForward head\(features\(x\)\) "
                                         r"differs by up to .* module\(x\) == "):
        clf.fit(X, y)
    assert not clf.__sklearn_is_fitted__()
    FeatureAuxiliaryLoss(module=_ScaledForward, module__factor=1.0, **CHEAP).fit(X, y)


def test_bad_parameter_message(data):
    with pytest.raises(ValueError, match=r"NoiseAugmentation got sigma=-1: expected a finite "
                                         r"number in \[0, inf\)"):
        NoiseAugmentation(sigma=-1, **CHEAP).fit(*data)


def test_grid_search_over_custom_and_builtin(data):
    X, y = data
    grid = GridSearchCV(Pipeline([("clf", NoiseAugmentation())]),
                        {"clf": [NoiseAugmentation(**CHEAP), GradientNormPenalty(**CHEAP),
                                 AdversarialTraining(**CHEAP)]},
                        scoring=make_adversarial_scorer(PGD(n_iter=2)), cv=2)
    grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == 3


_SUBSET = ("float32 matrix products use a blocking that depends on the number of rows, so "
           "probabilities on a subset differ in the last bits (see test_estimator_checks.py)")


@parametrize_with_checks([cls() for cls in CUSTOM], expected_failed_checks=lambda est: {
    "check_methods_subset_invariance": _SUBSET})
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_extra_module_follows_the_device(data):
    clf = FeatureAuxiliaryLoss(**{**CHEAP, "device": "cuda"}).fit(*data)
    assert all(p.is_cuda for p in clf.aux_.parameters())
    assert all(p.is_cuda for g in clf.aux_optimizer_.param_groups for p in g["params"])


class AttackParameter(RobustClassifier):
    """Train on a user-given attack's examples (``train_attack``, any robustsk attack)."""

    _parameter_constraints = {"train_attack": [None, InstanceOf(PGD)]}

    def __init__(self, module=None, *, train_attack=None, **kwargs):
        super().__init__(module, **kwargs)
        self.train_attack = train_attack

    def train_step_single(self, batch, **fit_params):
        x, y = self.unpack_batch(batch)
        attack = self.train_attack or PGD()
        x_adv = self.pgd_examples(x, y, n_iter=attack.n_iter)
        y_pred = self.infer(x_adv, **fit_params)
        loss = self.get_loss(y_pred, y, X=x_adv, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}


def test_nested_parameters_of_an_attack_valued_parameter(digits_small):
    """train_attack__n_iter reaches the attack (scikit-learn's nested form), before and
    after fit, in clone and in GridSearchCV; a bad nested value fails before any work."""
    X, _, y, _ = digits_small
    X, y = X[:120], y[:120]
    est = AttackParameter(train_attack=PGD(n_iter=2), max_epochs=1, random_state=0)
    est.set_params(train_attack__n_iter=7)
    assert est.train_attack.n_iter == 7 and est.get_params()["train_attack__n_iter"] == 7
    assert clone(est).train_attack.n_iter == 7
    est.set_params(train_attack=PGD(n_iter=1), train_attack__n_iter=3)  # object, then its own
    assert est.train_attack.n_iter == 3
    est.fit(X, y)
    est.set_params(train_attack__n_iter=1)  # on a fitted estimator: no rebuild, kept
    assert est.train_attack.n_iter == 1 and est.initialized_
    grid = GridSearchCV(est, {"train_attack__n_iter": [1, 2]}, cv=2, error_score="raise")
    grid.fit(X, y)
    assert grid.best_estimator_.train_attack.n_iter in (1, 2)
    before = weights(est)
    est.set_params(train_attack=PGD(n_iter=-3))
    with pytest.raises(ValueError, match=r"train_attack=PGD.*invalid.*n_iter=-3"):
        est.fit(X, y)
    assert same_weights(before, weights(est))
