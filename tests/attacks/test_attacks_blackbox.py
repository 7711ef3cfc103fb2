"""Score-based attacks (SPSA, Square) on any fitted scikit-learn classifier."""
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVC
import torch

from robustsk.attacks import PGD, WorstCase
from robustsk.attacks._scores import as_score_target, encode_y, score_function
from robustsk.attacks.spsa import SPSA, spsa
from robustsk.attacks.square import Square, _eta, _init_l2, _window, p_schedule, square
from robustsk.base import RobustClassifier
from robustsk.metrics import robust_accuracy

N_TRAIN, N_TEST = 400, 60

FAST = {
    "spsa": lambda **kw: SPSA(**{"n_iter": 20, "n_samples": 16, "random_state": 0, **kw}),
    "square": lambda **kw: Square(**{"n_iter": 60, "random_state": 0, **kw}),
}


@pytest.fixture(scope="module")
def flat(digits):
    _, X, y = digits
    return X[:N_TRAIN], y[:N_TRAIN], X[-N_TEST:], y[-N_TEST:]


@pytest.fixture(scope="module")
def sk_models(flat):
    X, y, _, _ = flat
    return {
        "forest": RandomForestClassifier(n_estimators=30, random_state=0).fit(X, y),
        "svc-pipeline": make_pipeline(StandardScaler(), SVC()).fit(X, y),
        "logreg": LogisticRegression(max_iter=500).fit(X, y),
    }


@pytest.fixture(scope="module")
def mlp(flat):
    """A 10-class MLP on flat digits (robustsk, Linf eps 0.1, box [0, 1])."""
    X, y, _, _ = flat
    return RobustClassifier(max_epochs=10, lr=1e-2, batch_size=32, random_state=0, eps=0.1,
                            clip_min=0.0, clip_max=1.0, module__hidden_units=(32,)).fit(X, y)


def accuracy(clf, X, y):
    return float(np.mean(clf.predict(X) == y))


def linf(A, B):
    return np.abs(np.asarray(A, np.float64) - np.asarray(B, np.float64)).reshape(len(A), -1).max(1)


def l2(A, B):
    return np.linalg.norm((np.asarray(A, np.float64) - np.asarray(B, np.float64))
                          .reshape(len(A), -1), axis=1)


# --------------------------------------------------------------- effectiveness
@pytest.mark.parametrize("model", ["forest", "svc-pipeline"])
@pytest.mark.parametrize("name", ["spsa", "square"])
def test_lowers_accuracy_of_sklearn_models(name, model, sk_models, flat):
    _, _, X, y = flat
    clf = sk_models[model]
    X_copy = X.copy()
    X_adv, info = FAST[name](eps=0.25, clip_min=0.0, clip_max=1.0).generate(
        clf, X, y, return_info=True)
    np.testing.assert_array_equal(X, X_copy)
    assert X_adv.shape == X.shape and X_adv.dtype == X.dtype
    assert linf(X_adv, X).max() <= 0.25 + 1e-6
    assert X_adv.min() >= 0.0 and X_adv.max() <= 1.0
    clean, robust = accuracy(clf, X, y), accuracy(clf, X_adv, y)
    assert robust <= clean - 0.15, (clean, robust)
    np.testing.assert_array_equal(info["success"], clf.predict(X_adv) != y)
    assert info["queries"].shape == (len(X),) and info["queries"].min() >= 1


def test_spsa_close_to_pgd_on_a_differentiable_model(mlp, flat):
    _, _, X, y = flat
    pgd_acc = robust_accuracy(mlp, X, y, PGD(n_iter=20, random_state=0))
    spsa_acc = robust_accuracy(mlp, X, y, SPSA(n_iter=50, n_samples=32, random_state=0))
    assert spsa_acc <= pgd_acc + 0.10, (spsa_acc, pgd_acc)
    assert spsa_acc < accuracy(mlp, X, y)


@pytest.mark.parametrize("norm,eps", [("inf", 0.1), (2, 1.0)])
def test_square_on_images(norm, eps, image_clf, image_data):
    _, _, X, y = image_data
    X, y = X[:40], y[:40]
    X_adv = Square(norm=norm, eps=eps, n_iter=60, random_state=0).generate(image_clf, X, y)
    assert X_adv.shape == X.shape
    size = linf(X_adv, X) if norm == "inf" else l2(X_adv, X)
    assert size.max() <= eps + 1e-5
    assert X_adv.min() >= 0.0 and X_adv.max() <= 1.0
    assert accuracy(image_clf, X_adv, y) < accuracy(image_clf, X, y)


@pytest.mark.parametrize("name", ["spsa", "square"])
def test_l2_ball_and_box(name, sk_models, flat):
    _, _, X, y = flat
    X_adv = FAST[name](norm=2, eps=1.0, clip_min=0.0, clip_max=1.0).generate(
        sk_models["logreg"], X, y)
    assert l2(X_adv, X).max() <= 1.0 + 1e-6
    assert X_adv.min() >= 0.0 and X_adv.max() <= 1.0
    assert accuracy(sk_models["logreg"], X_adv, y) < accuracy(sk_models["logreg"], X, y)


def test_binary_decision_function(binary_data):
    X, y, X_te, y_te = binary_data
    svc = SVC().fit(X, y)
    scores = score_function(svc)(X_te[:5])
    d = svc.decision_function(X_te[:5])
    np.testing.assert_allclose(scores.numpy(), np.stack([-d / 2, d / 2], axis=1))
    X_adv = FAST["square"](eps=0.3, clip_min=0.0, clip_max=1.0).generate(svc, X_te, y_te)
    assert accuracy(svc, X_adv, y_te) < accuracy(svc, X_te, y_te)


# --------------------------------------------------------------- the contract
class _RowByRow(ClassifierMixin, BaseEstimator):
    """A fitted linear classifier whose scores sum each row alike in any batch.

    A batched matrix product may sum in another order by batch size and CPU
    (tests/conftest.py); numpy's reduction over the last axis sums every row
    the same way, so the scores of a row do not depend on the batch.
    """

    def __init__(self, fitted):
        self.fitted = fitted

    def fit(self, X, y):  # wraps an already fitted classifier
        return self

    def __sklearn_is_fitted__(self):
        return True

    @property
    def classes_(self):
        return self.fitted.classes_

    @property
    def n_features_in_(self):
        return self.fitted.n_features_in_

    def decision_function(self, X):
        X = np.asarray(X, dtype=np.float64)
        return (X[:, None, :] * self.fitted.coef_[None]).sum(-1) + self.fitted.intercept_

    def predict(self, X):
        return self.classes_[self.decision_function(X).argmax(1)]


@pytest.mark.parametrize("name", ["spsa", "square"])
def test_deterministic_and_batch_independent(name, sk_models, flat):
    _, _, X, y = flat
    X, y = X[:24], y[:24]
    clf = _RowByRow(sk_models["logreg"])
    first = FAST[name](eps=0.2).generate(clf, X, y)
    again = FAST[name](eps=0.2).generate(clf, X, y)
    batched = FAST[name](eps=0.2, batch_size=7).generate(clf, X, y)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, batched)
    other = FAST[name](eps=0.2, random_state=1).generate(clf, X, y)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("name", ["spsa", "square"])
def test_eps_zero_changes_nothing(name, sk_models, flat):
    _, _, X, y = flat
    X_adv, info = FAST[name](eps=0.0).generate(sk_models["forest"], X, y, return_info=True)
    np.testing.assert_array_equal(X_adv, X)
    assert (info["queries"] == 0).all()


@pytest.mark.parametrize("name", ["spsa", "square"])
def test_robust_accuracy_at_most_clean(name, sk_models, flat):
    _, _, X, y = flat
    for clf in sk_models.values():
        robust = robust_accuracy(clf, X, y, FAST[name](eps=0.05))
        assert robust <= accuracy(clf, X, y)


def _count_calls(clf):
    calls = []
    method = clf.decision_function

    def counted(X):
        calls.append(len(X))
        return method(X)
    clf.decision_function = counted  # an instance attribute shadows the method
    return calls


def test_spsa_one_model_call_per_iteration(flat):
    X, y, X_te, y_te = flat
    clf = SVC().fit(X, y)  # no torch twin: scored through decision_function
    calls = _count_calls(clf)
    n_iter, n_samples = 7, 5
    attack = SPSA(eps=0.05, n_iter=n_iter, n_samples=n_samples, early_stop=False,
                  batch_size=None, random_state=0)
    attack.generate(clf, X_te, y_te)
    assert len(calls) == n_iter + 1  # one per iteration, one for the last iterate
    assert calls[0] == len(X_te) * (2 + 2 * n_samples)  # clean + current + 2 n_samples
    _, info = attack.generate(clf, X_te, y_te, return_info=True)
    assert info["queries"].sum() == sum(calls[:n_iter + 1])
    calls.clear()
    attack.set_params(eps=0.3, early_stop=True, batch_size=20).generate(clf, X_te, y_te)
    assert len(calls) <= 3 * (n_iter + 1)  # per batch of examples
    assert sum(calls) < len(X_te) * (n_iter + 1) * (2 + 2 * n_samples)  # some stopped early


def test_square_one_model_call_per_iteration(flat):
    X, y, X_te, y_te = flat
    clf = SVC().fit(X, y)
    calls = _count_calls(clf)
    attack = Square(eps=0.1, n_iter=15, batch_size=None, random_state=0)
    attack.generate(clf, X_te, y_te)
    n_calls = len(calls)
    assert n_calls <= 15 + 1  # the clean input and the start share the first call
    assert calls[0] == 2 * len(X_te)
    _, info = attack.generate(clf, X_te, y_te, return_info=True)
    assert info["queries"].sum() == sum(calls[:n_calls])


def test_inherits_threat_from_robustsk_estimator(binary_clf, binary_data):
    _, _, X, y = binary_data
    attack = SPSA(n_iter=5, n_samples=8)
    X_adv = attack.generate(binary_clf, X, y)
    assert linf(X_adv, X).max() <= binary_clf.eps + 1e-6
    assert X_adv.min() >= 0.0 and X_adv.max() <= 1.0
    assert attack.eps is None  # the attack object is not changed
    passthrough = Pipeline([("id", "passthrough"), ("clf", binary_clf)])
    np.testing.assert_array_equal(attack.set_params(random_state=3).generate(passthrough, X, y),
                                  attack.generate(binary_clf, X, y))


def test_pipelines_with_preprocessing(binary_data):
    X, y, X_te, y_te = binary_data
    robust = RobustClassifier(max_epochs=5, lr=1e-2, random_state=0, eps=0.2, clip_min=-50.0,
                              clip_max=50.0, module__hidden_units=(16,))
    # affine preprocessing: the torch twin of the pipeline (as the gradient attacks see it)
    affine = make_pipeline(StandardScaler(), robust).fit(X, y)
    # other preprocessing: transform in numpy, then the module's logits
    nonaffine = make_pipeline(FunctionTransformer(np.tanh), clone(robust)).fit(X, y)
    for pipe in (affine, nonaffine):
        target = as_score_target(pipe)
        assert target.threat_default("eps") == 0.2  # the final step's eps ...
        assert target.threat_default("clip_max") is None  # ... but not its box
        X_adv = SPSA(n_iter=3, n_samples=4, random_state=0).generate(pipe, X_te, y_te)
        assert linf(X_adv, X_te).max() <= 0.2 + 1e-6  # eps in the raw space
    X_adv = Square(eps=0.3, n_iter=30, clip_min=0.0, clip_max=1.0, random_state=0).generate(
        nonaffine, X_te, y_te)
    assert X_adv.min() >= 0.0
    assert accuracy(nonaffine, X_adv, y_te) <= accuracy(nonaffine, X_te, y_te)


def test_inside_worst_case(binary_clf, binary_data):
    _, _, X, y = binary_data
    attack = WorstCase([PGD(n_iter=3), Square(n_iter=30), SPSA(n_iter=5, n_samples=8)],
                       random_state=0)
    X_adv = attack.generate(binary_clf, X, y)
    assert linf(X_adv, X).max() <= 0.1 + 1e-6
    assert accuracy(binary_clf, X_adv, y) <= accuracy(binary_clf, X, y)


def test_clone_and_params():
    attack = SPSA(eps=0.1, n_samples=4)
    assert clone(attack).get_params() == attack.get_params()
    assert Square(p_init=0.3).set_params(n_iter=7).n_iter == 7


def test_string_labels(flat):
    X, y, X_te, y_te = flat
    names = np.array(list("abcdefghij"))
    clf = LogisticRegression(max_iter=500).fit(X, names[y])
    assert encode_y(clf, ["j", "a"]).tolist() == [9, 0]
    X_adv = FAST["square"](eps=0.2).generate(clf, X_te, names[y_te])
    assert accuracy(clf, X_adv, names[y_te]) < accuracy(clf, X_te, names[y_te])


# --------------------------------------------------------------- errors
class _PredictOnly(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


@pytest.mark.parametrize("name", ["spsa", "square"])
def test_errors(name, sk_models, flat):
    X, y, X_te, y_te = flat
    attack = FAST[name](eps=0.1)
    with pytest.raises(NotFittedError):
        attack.generate(LogisticRegression(), X_te, y_te)
    with pytest.raises(TypeError, match="neither predict_proba nor decision_function.*SPSA"):
        attack.generate(_PredictOnly().fit(X, y), X_te, y_te)
    clf = sk_models["logreg"]
    with pytest.raises(ValueError, match="features"):
        attack.generate(clf, X_te[:, :10], y_te)
    with pytest.raises(ValueError, match="negative"):
        FAST[name](eps=-0.1).generate(clf, X_te, y_te)
    with pytest.raises(ValueError, match="y has"):
        attack.generate(clf, X_te, y_te[:-1])
    for model in (clf, sk_models["forest"]):  # torch twin and plain scores
        with pytest.raises(ValueError, match="labels"):
            attack.generate(model, X_te, y_te + 100)
    with pytest.raises(ValueError, match="outside the box"):
        FAST[name](eps=0.1, clip_min=0.0, clip_max=0.5).generate(clf, X_te, y_te)


def test_bad_parameters(flat):
    _, _, X, y = flat
    x, t = torch.as_tensor(X[:3]), torch.as_tensor(y[:3])
    model = torch.nn.Linear(64, 10)
    with pytest.raises(ValueError, match="n_samples"):
        spsa(model, x, t, eps=0.1, n_samples=0)
    with pytest.raises(ValueError, match="delta"):
        spsa(model, x, t, eps=0.1, delta=0.0)
    with pytest.raises(ValueError, match="p_init"):
        square(model, x, t, eps=0.1, p_init=2.0)
    with pytest.raises(ValueError, match="image_shape"):
        square(model, x, t, eps=0.1, image_shape=(1, 7, 7))
    with pytest.raises(ValueError, match="norm"):
        spsa(model, x, t, eps=0.1, norm=1)


# --------------------------------------------------------------- Square internals
def test_p_schedule_and_windows():
    assert p_schedule(0.05, 0, 10000) == 0.05
    assert p_schedule(0.05, 11, 10000) == 0.025
    assert p_schedule(0.8, 9999, 10000) == pytest.approx(0.8 / 512)
    assert p_schedule(0.8, 50, 100) == p_schedule(0.8, 5000, 10000)  # rescaled
    # AutoAttack's standard ensemble: resc_schedule=False, thresholds in iterations
    assert p_schedule(0.8, 30, 5000) == 0.2 and p_schedule(0.8, 30, 5000, rescale=False) == 0.4
    assert p_schedule(0.8, 4999, 5000, rescale=False) == pytest.approx(0.8 / 128)
    from robustsk.evaluation import autoattack_ensemble
    square_of_ensemble = [a for a in autoattack_ensemble(10).values() if isinstance(a, Square)]
    assert [(a.p_init, a.n_iter, a.rescale_schedule) for a in square_of_ensemble] == \
        [(0.8, 5000, False)]
    assert _window(0.05, 8, 8, 1) == (2, 2)
    assert _window(0.05, 1, 64, 1) == (1, 3)
    assert _window(0.001, 8, 8, 3) == (3, 3)
    for a, b in [(3, 3), (5, 5), (1, 7), (2, 4)]:
        eta = _eta(a, b)
        assert eta.shape == (a, b) and float(eta.norm()) == pytest.approx(1.0)


def _official_l2_step(x, xb, eps, s, corners, signs, transpose):
    """One L2 proposal as fra31/auto-attack's square.py computes it (box clip left out)."""
    (vh, vw), (vh2, vw2) = corners
    c = x.shape[1]
    delta = (xb - x).clone()
    win1 = (delta[:, :, vh:vh + s, vw:vw + s] ** 2).sum((-2, -1), keepdim=True).sqrt()
    m1, m2 = torch.zeros_like(x), torch.zeros_like(x)
    m1[:, :, vh:vh + s, vw:vw + s] = 1
    m2[:, :, vh2:vh2 + s, vw2:vw2 + s] = 1
    n_img = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    n_union = ((delta * torch.maximum(m1, m2)) ** 2).sum((-2, -1), keepdim=True).sqrt()
    eta = _eta(s, s).to(x)
    eta = eta.t() if transpose else eta
    new = eta * signs.view(1, c, 1, 1) + delta[:, :, vh:vh + s, vw:vw + s] / (1e-12 + win1)
    new = new / (1e-12 + (new ** 2).sum((-2, -1), keepdim=True).sqrt()) \
        * ((eps ** 2 - n_img ** 2).clamp_min(0) / c + n_union ** 2).sqrt()
    delta[:, :, vh2:vh2 + s, vw2:vw2 + s] = 0
    delta[:, :, vh:vh + s, vw:vw + s] = new
    return x + delta / delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * eps


@pytest.mark.parametrize("c, h, p", [(1, 8, 0.1), (3, 8, 0.1), (3, 16, 0.05)])
def test_square_l2_proposal_is_the_official_one(c, h, p):
    """Same windows, signs and orientation: the official update, where the budget of the
    new window reads the union of the two windows' norm per channel."""
    from robustsk.attacks.square import _step_l2
    gen = torch.Generator().manual_seed(c * h)
    s = _window(p, h, h, 3)[0]
    s = min(s + 1, h) if s % 2 == 0 else s
    for _ in range(10):
        x = torch.rand(1, c, h, h, generator=gen, dtype=torch.float64)
        step = torch.randn(x.shape, generator=gen, dtype=torch.float64) \
            * (torch.rand(x.shape, generator=gen) < 0.5)
        xb = x + step * (0.8 / step.norm())
        corners = torch.randint(0, h - s + 1, (2, 2), generator=gen).tolist()
        signs = torch.where(torch.rand(c, generator=gen) < 0.5, -1.0, 1.0).double()
        transpose = bool(torch.rand(1, generator=gen) < 0.5)
        u = torch.zeros(1, 5 + c, dtype=torch.float64)  # uniforms that pick those draws
        u[0, :4] = (torch.tensor(corners, dtype=torch.float64).flatten() + 0.5) / (h - s + 1)
        u[0, 4:4 + c] = torch.where(signs > 0, 0.75, 0.25)
        u[0, 4 + c] = 0.75 if transpose else 0.25
        ours = _step_l2(x, xb, 1.0, p, u)
        torch.testing.assert_close(ours, _official_l2_step(x, xb, 1.0, s, corners, signs,
                                                           transpose), rtol=0, atol=1e-10)


def test_square_l2_window_and_start_follow_the_official_rules():
    from robustsk.attacks._primitives import Randomness

    # an even side becomes odd, then is cut to the image: 8 on an 8 x 8 image at p=1
    from robustsk.attacks.square import _step_l2
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64)
    xb = x + 0.01
    u = torch.full((1, 6), 0.3, dtype=torch.float64)
    moved = (_step_l2(x, xb, 1.0, 1.0, u) - xb).abs() > 1e-12
    assert bool(moved.all())  # the window is the whole image
    # the start tiles side h // 5 from the offset (h - 5 side) // 2, h // side tiles cut at
    # the edge: on 8 x 8 the first row and column stay zero, on 28 x 28 rows 1..25
    for h, rows in [(8, range(1, 8)), (28, range(1, 26)), (10, range(0, 10))]:
        delta = _init_l2(torch.zeros(2, 3, h, h), 1.0, Randomness.for_examples(0, 2))
        nonzero = (delta.abs().sum(dim=(0, 1, 3)) > 0).nonzero().flatten().tolist()
        assert nonzero == list(rows)


def test_square_l2_start_on_the_sphere():
    from robustsk.attacks._primitives import Randomness
    x = torch.rand(4, 1, 10, 10)
    delta = _init_l2(x, 0.7, Randomness.for_examples(0, 4))
    np.testing.assert_allclose(delta.flatten(1).norm(dim=1).numpy(), 0.7, rtol=1e-5)


def test_score_target_for_robustsk_uses_logits(binary_clf, binary_data):
    _, _, X, _ = binary_data
    target = as_score_target(binary_clf)
    with torch.no_grad():
        logits = binary_clf.module_(torch.as_tensor(X[:5]))
    np.testing.assert_allclose(target.scores(X[:5]).numpy(), logits.numpy(), rtol=1e-6)
    assert target.threat_default("eps") == binary_clf.eps
    assert as_score_target(LogisticRegression().fit(X[:20], np.arange(20) % 2)) \
        .threat_default("random_state") is None


@pytest.mark.parametrize("name", ["square", "spsa"])
def test_functions_attack_a_module_in_eval_mode_and_restore_it(name):
    """A module left in train mode is attacked as in eval mode (dropout off, batch-norm
    statistics untouched, torch's global generator not drawn from), then restored."""
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.Dropout(0.5), torch.nn.Flatten(), torch.nn.Linear(256, 10))
    x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 10, (16,))
    fn, kw = (square, {"n_iter": 5}) if name == "square" else (spsa, {"n_iter": 3, "n_samples": 4})
    kw.update(eps=0.1, clip_min=0.0, clip_max=1.0, random_state=0)
    expected = fn(module.eval(), x, y, **kw)
    module.train()
    stats = module[1].running_mean.clone(), int(module[1].num_batches_tracked)
    rng_state = torch.get_rng_state()
    got = fn(module, x, y, **kw)
    assert torch.equal(got, expected)
    assert module.training and all(m.training for m in module.modules())
    assert torch.equal(module[1].running_mean, stats[0])
    assert int(module[1].num_batches_tracked) == stats[1]
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert all(p.requires_grad for p in module.parameters())
    kept = fn(module, x, y, mode=None, **kw)  # mode=None: the module's own (train) mode
    assert int(module[1].num_batches_tracked) > stats[1] and kept.shape == x.shape


@pytest.mark.parametrize("box, match", [
    ({"clip_min": np.zeros(5)}, r"clip_min of shape \(5,\) does not broadcast"),
    ({"clip_max": np.nan}, "clip_max has non-finite values"),
    ({"clip_min": "0"}, "expected None, a number"),
])
@pytest.mark.parametrize("attack", [Square, SPSA])
def test_score_attacks_check_the_box_as_the_gradient_attacks(attack, box, match, sk_models,
                                                             flat):
    """A wrong-length box gave numpy's broadcasting error, a NaN box "X contains NaN"."""
    _, _, X, y = flat
    with pytest.raises((ValueError, TypeError), match=match):
        attack(eps=0.1, **box).generate(sk_models["forest"], X[:5], y[:5])


def test_score_attacks_name_non_numeric_columns():
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder
    rng = np.random.RandomState(0)
    df = pd.DataFrame({"a": rng.rand(40), "c": rng.choice(["x", "y"], 40)})
    y = np.arange(40) % 2
    pipe = make_pipeline(ColumnTransformer([("num", "passthrough", ["a"]),
                                            ("cat", OneHotEncoder(), ["c"])]),
                         LogisticRegression()).fit(df, y)
    with pytest.raises(ValueError, match=r"X holds non-numeric values .* pipeline\[-1\]"):
        Square(eps=0.1).generate(pipe, df, y)

