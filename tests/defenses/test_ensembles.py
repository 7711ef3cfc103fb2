"""Ensemble defenses: TRS, margin boosting, ensemble adversarial training, and the shared pieces.

Mechanism tests use flat digits (the default MLP: double backprop through
three CNNs would cost minutes) with fixed seeds; the margins were checked with
seeds 0, 1 and 2.
"""
import itertools
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier
from skorch.callbacks import Callback
import torch

from robustsk.attacks import PGD, cross_entropy, input_gradient, pgd
from robustsk.defenses import (
    EnsembleAdversarialTraining,
    MarginBoostingEnsemble,
    StandardTraining,
    TRSEnsemble,
)
from robustsk.defenses.trs import gradient_smoothness_loss
from robustsk.ensembles import EnsembleMember, EnsembleModule
from robustsk.evaluation import transfer_attack, transfer_matrix

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
BOX = {"clip_min": 0.0, "clip_max": 1.0}


@pytest.fixture(scope="module")
def flat(digits):
    """600 training and 150 test digits as 64 flat features in [0, 1]."""
    X_tr, X_te, y_tr, y_te = digits
    return (X_tr[:600].reshape(600, -1), X_te[:150].reshape(150, -1), y_tr[:600], y_te[:150])


def member_gradient_cosine(ens, X, y):
    """Mean over member pairs of the mean |cos| between input gradients of the CE (eval mode)."""
    x, yy = torch.as_tensor(X), torch.as_tensor(ens.classes_.searchsorted(y))
    grads = []
    for member in ens.module_.members:
        member.eval()
        grads.append(input_gradient(member, x, yy, cross_entropy)[2])
    return np.mean([torch.nn.functional.cosine_similarity(a, b, dim=1).abs().mean().item()
                    for a, b in itertools.combinations(grads, 2)])


def off_diagonal(matrix):
    values = matrix.to_numpy()
    return values[~np.eye(len(values), dtype=bool)].mean()


# ---------------------------------------------------------------- TRS
def test_trs_lowers_gradient_alignment_and_transfer(flat):
    X, X_te, y, y_te = flat
    common = dict(n_members=3, max_epochs=10, lr=2e-3, adv_smoothness=False, scale=1.0,
                  random_state=0, **BOX)
    # the same networks, budget and CE, without the penalties: independent members
    independent = TRSEnsemble(coeff=0.0, lamda=0.0, **common).fit(X, y)
    trs = TRSEnsemble(**common).fit(X, y)
    assert trs.score(X_te, y_te) > 0.85 and independent.score(X_te, y_te) > 0.85
    cos_ind, cos_trs = (member_gradient_cosine(e, X_te, y_te) for e in (independent, trs))
    assert cos_trs < 0.2 < 0.7 < cos_ind  # seeds 0-2: 0.046-0.056 against 0.89-0.90
    attack = PGD(eps=0.1, n_iter=10)
    ind = transfer_matrix(independent.members_, X_te, y_te, attack, random_state=0)
    red = transfer_matrix(trs.members_, X_te, y_te, attack, random_state=0)
    # accuracy of the other members on a member's PGD examples: seeds 0-2 0.854-0.863 against
    # 0.668-0.674 for independent members
    assert off_diagonal(red) > off_diagonal(ind) + 0.1
    assert list(red.index) == [0, 1, 2]


def test_trs_smoothness_points_and_eps_ramp(flat):
    X, _, y, _ = flat
    # a smooth (tanh) network: with ReLU the input gradient is piecewise constant in the
    # activation pattern and a sign step of the smoothness PGD is no better than noise
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))
    ens = TRSEnsemble(module=net, n_members=2, n_iter=3, max_epochs=3, random_state=0,
                      **BOX).fit(X[:200], y[:200])
    ramp = ens.history[:, "train_smooth_eps"]
    np.testing.assert_allclose(ramp, [0.05, 0.05 + 0.05 / 3, 0.05 + 0.1 / 3], rtol=1e-6)
    assert all(f"train_member{j}_loss" in ens.history[-1] for j in range(2))
    x = torch.as_tensor(X[:64])
    yy = torch.as_tensor(y[:64])
    x_s = ens.smoothness_points(x, yy, 0.1)
    assert float((x_s - x).abs().max()) <= 0.1 + 1e-6 and 0 <= float(x_s.min()) \
        and float(x_s.max()) <= 1
    assert torch.equal(x, torch.as_tensor(X[:64]))  # input not modified

    def smoothness(points):
        grads = [input_gradient(m, points, yy, cross_entropy)[2].flatten(1) / len(points)
                 for m in ens.module_.members]
        return float(gradient_smoothness_loss(grads))
    # the PGD climbs the gradient norms: seeds 0-2 +5.8 %, +5.0 %, +4.6 % (random start ~0 %)
    assert smoothness(x_s) > 1.025 * smoothness(x)


# ---------------------------------------------------------------- margin boosting
def subset_margins(ens, X, y, eps=0.1):
    """Per number of members k: the sub-ensemble's mean PGD margin and fraction of positive margins."""
    x, yy = torch.as_tensor(X), torch.as_tensor(ens.classes_.searchsorted(y))
    out = []
    for k in range(1, ens.n_members + 1):
        sub = ens.module_.subset(k).eval()
        x_adv = pgd(sub, x, yy, eps=eps, n_iter=10, step_size=eps / 4, random_state=0, **BOX)
        with torch.no_grad():
            z = sub(x_adv)
        wrong = z.scatter(1, yy[:, None], -np.inf).max(1).values
        margin = z.gather(1, yy[:, None])[:, 0] - wrong
        out.append((margin.mean().item(), (margin > 0).float().mean().item()))
    return np.array(out)


def test_margin_boosting_margin_grows_with_members(flat):
    X, X_te, y, y_te = flat
    ens = MarginBoostingEnsemble(n_members=3, max_epochs=9, n_iter=3, random_state=0,
                                 **BOX).fit(X, y)
    assert ens.member_steps_ == [30, 30, 30]
    np.testing.assert_allclose(ens.history[:, "train_member"], [0, 0, 0, 1, 1, 1, 2, 2, 2])
    margin, positive = subset_margins(ens, X, y).T
    # seeds 0-2, mean PGD margin of 1, 2, 3 members: 0.029 0.058 0.070 / 0.055 0.077 0.076 /
    # 0.071 0.093 0.090; positive margins 0.555 -> 0.63 / 0.555 -> 0.648 / 0.602 -> 0.643
    assert margin[1] > margin[0] + 0.01 and margin[2] > margin[0] + 0.01
    assert margin[2] > margin[1] - 0.01
    assert positive[2] > positive[0] + 0.02
    assert ens.score(X_te, y_te) > 0.7


class _Snapshots(Callback):
    def on_train_begin(self, net, **kwargs):
        self.weights, self.buffers = [self.copy(net)], [self.stats(net)]

    def on_epoch_end(self, net, **kwargs):
        self.weights.append(self.copy(net))
        self.buffers.append(self.stats(net))

    @staticmethod
    def stats(net):
        return [{k: b.clone() for k, b in m.named_buffers()} for m in net.module_.members]

    @staticmethod
    def copy(net):
        return [[p.detach().clone() for p in m.parameters()] for m in net.module_.members]


def test_margin_boosting_updates_only_the_new_member(flat):
    X, _, y, _ = flat
    snap = _Snapshots()
    MarginBoostingEnsemble(n_members=2, max_epochs=2, n_iter=1, callbacks=[snap],
                           criterion=torch.nn.CrossEntropyLoss, random_state=0,
                           **BOX).fit(X[:128], y[:128])
    start, after_first, after_second = snap.weights

    def same(a, b):
        return all(torch.equal(p, q) for p, q in zip(a, b))
    assert not same(start[0], after_first[0]) and same(start[1], after_first[1])
    assert same(after_first[0], after_second[0]) and not same(after_first[1], after_second[1])


class _NormMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.BatchNorm1d(16),
                                       torch.nn.ReLU(), torch.nn.Linear(16, 10))

    def forward(self, x):
        return self.net(x)


def test_margin_boosting_stages_follow_the_epochs_across_calls(flat):
    """partial_fit(epochs=1) max_epochs times (as RandomizedSmoothingClassifier's noise
    training calls it) ran stage 0 every time: member 1 stayed at its initial weights."""
    X, _, y, _ = flat
    kwargs = dict(n_members=2, max_epochs=4, n_iter=1, batch_size=64, random_state=0, **BOX)
    whole = MarginBoostingEnsemble(**kwargs).fit(X[:128], y[:128])
    steps = MarginBoostingEnsemble(**kwargs)
    for _ in range(4):
        steps.partial_fit(X[:128], y[:128], epochs=1)
    assert whole.member_steps_ == steps.member_steps_ == [4, 4]
    np.testing.assert_array_equal(whole.history[:, "train_member"],
                                  steps.history[:, "train_member"])  # 0, 0, 1, 1
    steps.partial_fit(X[:128], y[:128])  # a continued fit of max_epochs runs the stages again
    assert steps.member_steps_ == [8, 8]


def test_margin_boosting_leaves_finished_members_batch_norm_alone(flat):
    X, _, y, _ = flat
    snap = _Snapshots()
    MarginBoostingEnsemble(_NormMLP, n_members=2, max_epochs=2, n_iter=1, callbacks=[snap],
                           random_state=0, **BOX).fit(X[:128], y[:128])
    first = snap.buffers[1][0]  # member 0's statistics when its stage ended
    assert all(torch.equal(first[k], snap.buffers[2][0][k]) for k in first)


def test_ensemble_warm_start_refuses_another_number_of_members(flat):
    X, _, y, _ = flat
    ens = TRSEnsemble(n_members=2, max_epochs=1, n_iter=1, random_state=0, **BOX).fit(
        X[:64], y[:64])
    before = ens.predict_proba(X[:10])
    with pytest.raises(ValueError, match="2 fitted members but n_members=3"):
        ens.set_params(n_members=3, warm_start=True).fit(X[:64], y[:64])
    np.testing.assert_array_equal(ens.predict_proba(X[:10]), before)


# ---------------------------------------------------------------- ensemble adversarial training
@pytest.fixture(scope="module")
def statics(flat):
    X, _, y, _ = flat
    net = StandardTraining(max_epochs=3, random_state=1).fit(X[:300], y[:300])
    logreg = LogisticRegression(max_iter=300).fit(X[:300], y[:300])
    pipe = make_pipeline(StandardScaler(), LinearSVC()).fit(X[:300], y[:300])
    return net, logreg, pipe


def test_ensemble_at_draws_sources_uniformly(flat, statics):
    X, _, y, _ = flat
    static = [FrozenEstimator(m) for m in statics]
    clf = EnsembleAdversarialTraining(static_models=static, max_epochs=3, random_state=0,
                                      **BOX).fit(X, y)
    assert clf.n_static_ == 3
    frac = np.mean(clf.history[:, "train_static_source"])
    assert 0.55 < frac < 0.95  # 3 of 4 sources are static; 30 draws
    # clone keeps the frozen models (and does not refit them), GridSearchCV works
    twin = clone(clf)
    assert twin.static_models[0] is static[0] and twin.static_models[0].estimator is statics[0]
    grid = GridSearchCV(EnsembleAdversarialTraining(static_models=static, max_epochs=1,
                                                    random_state=0, **BOX),
                        {"attack": ["rfgsm", "fgsm"]}, cv=2).fit(X[:200], y[:200])
    assert len(grid.cv_results_["params"]) == 2
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X[:20]), clf.predict_proba(X[:20]))


def test_ensemble_at_resists_transfer_better_than_fgsm_training(digits):
    """Tramer et al.: FGSM training on the model's own gradients learns to mask them
    (white-box PGD accuracy falls to 0 at eps 0.3 on digits after 40 epochs), so
    examples transferred from a held-out model fool it more than a model that also
    trained on examples from static models. benchmarks/ensemble_at_transfer.py,
    seeds 0-2: transferred PGD-20 accuracy 0.82-0.84 against 0.69-0.73."""
    X_tr, X_te, y_tr, y_te = digits
    X, y = X_tr[:800].reshape(800, -1), y_tr[:800]
    X_test, y_test = X_te[:300].reshape(300, -1), y_te[:300]
    static = [FrozenEstimator(StandardTraining(max_epochs=40, random_state=100 + i).fit(X, y))
              for i in range(2)]
    held_out = StandardTraining(max_epochs=40, random_state=200,
                                module__hidden_units=(64,)).fit(X, y)
    common = {"eps": 0.3, "max_epochs": 40, "random_state": 0, **BOX}
    ensemble = EnsembleAdversarialTraining(static_models=static, **common).fit(X, y)
    fgsm = EnsembleAdversarialTraining(attack="fgsm", **common).fit(X, y)
    transferred = {name: transfer_attack(held_out, clf, X_test, y_test,
                                         PGD(eps=0.3, n_iter=20), random_state=0).target_accuracy
                   for name, clf in (("ensemble", ensemble), ("fgsm", fgsm))}
    assert transferred["ensemble"] >= transferred["fgsm"] + 0.05, transferred
    assert fgsm.score_adversarial(X_test[:100], y_test[:100], PGD(eps=0.3, n_iter=20,
                                                                  random_state=0)) <= 0.05


def test_ensemble_at_accepts_images_with_flat_static_model(digits):
    X_tr, _, y_tr, _ = digits
    logreg = LogisticRegression(max_iter=200).fit(X_tr[:200].reshape(200, -1), y_tr[:200])
    clf = EnsembleAdversarialTraining(static_models=[FrozenEstimator(logreg)], max_epochs=1,
                                      random_state=0, **BOX).fit(X_tr[:200], y_tr[:200])
    assert clf.predict(X_tr[:5]).shape == (5,)


def test_ensemble_at_refuses_bad_static_models(flat, statics, digits):
    X, _, y, _ = flat
    net, logreg, _ = statics

    def refused(static, match, X=X, y=y):
        clf = EnsembleAdversarialTraining(static_models=static, max_epochs=1, **BOX)
        with pytest.raises(ValueError, match=match):
            clf.fit(X[:100], y[:100])
    refused([FrozenEstimator(DecisionTreeClassifier().fit(X, y))], "cannot be differentiated")
    refused([clone(net)], "not a fitted.*FrozenEstimator")
    # a fitted model passed unwrapped is cloned into an unfitted one by clone/GridSearchCV
    cloned = clone(EnsembleAdversarialTraining(static_models=[logreg], **BOX))
    with pytest.raises(ValueError, match="FrozenEstimator"):
        cloned.fit(X[:100], y[:100])
    refused([FrozenEstimator(LogisticRegression(max_iter=50).fit(X[y < 5], y[y < 5]))],
            r"classes \[0, 1, 2, 3, 4\].*same class set")
    refused([FrozenEstimator(LogisticRegression(max_iter=50).fit(X[:, :32], y))],
            r"shape \(32,\).*shape \(64,\)")
    refused(FrozenEstimator(net), "static_models=.*expected")
    with pytest.raises(ValueError, match="Linf"):
        EnsembleAdversarialTraining(norm=2, **BOX).fit(X[:100], y[:100])


# ---------------------------------------------------------------- the shared ensemble pieces
@pytest.mark.parametrize("cls", [TRSEnsemble, MarginBoostingEnsemble])
def test_n_members_below_two_refused(cls, flat):
    X, _, y, _ = flat
    with pytest.raises(ValueError, match=r"n_members=1.*at least 2"):
        cls(n_members=1).fit(X[:50], y[:50])


def test_members_are_classifiers(flat):
    X, X_te, y, y_te = flat
    ens = MarginBoostingEnsemble(n_members=2, n_iter=1, max_epochs=2, random_state=0,
                                 **BOX)
    with pytest.raises(NotFittedError):
        ens.members_
    ens.fit(X[:200], y[:200])
    members = ens.members_
    assert [type(m) for m in members] == [EnsembleMember] * 2
    scores = ens.score_members(X_te, y_te)
    assert scores.shape == (2,) and np.all((0 <= scores) & (scores <= 1))
    logits = np.mean([m.decision_function(X_te) for m in members], axis=0)
    np.testing.assert_allclose(ens.decision_function(X_te), logits, rtol=1e-5, atol=1e-5)
    robust = members[0].score_adversarial(X_te[:40], y_te[:40], PGD(n_iter=3, random_state=0))
    assert 0 <= robust <= members[0].score(X_te[:40], y_te[:40])
    with pytest.raises(TypeError, match="trained with it"):
        members[1].fit(X, y)
    with pytest.raises(ValueError, match="y holds string labels .* EnsembleMember are numeric"):
        members[0].score(X_te, y_te.astype(str))  # scikit-learn: "Mix of label input types"
    # log-mean-softmax: probabilities are the members' mean probabilities
    trs = TRSEnsemble(n_members=2, max_epochs=1, adv_smoothness=False, random_state=0,
                      **BOX).fit(X[:100], y[:100])
    mean_proba = np.mean([m.predict_proba(X_te) for m in trs.members_], axis=0)
    np.testing.assert_allclose(trs.predict_proba(X_te), mean_proba, rtol=1e-5, atol=1e-6)


def test_clone_shares_no_weights_and_grid_over_n_members(flat):
    X, _, y, _ = flat
    ens = MarginBoostingEnsemble(n_members=2, n_iter=1, max_epochs=1, random_state=0,
                                 **BOX).fit(X[:100], y[:100])
    twin = clone(ens).fit(X[:100], y[:100])
    assert all(p.data_ptr() != q.data_ptr()
               for p, q in zip(ens.module_.parameters(), twin.module_.parameters()))
    back = pickle.loads(pickle.dumps(ens))
    np.testing.assert_array_equal(back.predict_proba(X[:30]), ens.predict_proba(X[:30]))
    assert len(back.members_) == 2
    grid = GridSearchCV(ens, {"n_members": [2, 3]}, cv=2).fit(X[:120], y[:120])
    assert len(grid.best_estimator_.module_.members) == grid.best_params_["n_members"]


def test_module_instance_gives_distinct_members(flat):
    X, _, y, _ = flat
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    ens = TRSEnsemble(module=net, n_members=2, max_epochs=1, adv_smoothness=False,
                      random_state=0, **BOX).fit(X[:100], y[:100])
    a, b = ens.module_.members
    assert a is not b and not torch.equal(a[0].weight, b[0].weight)


def test_ensemble_module_combinations():
    members = [torch.nn.Linear(3, 4), torch.nn.Linear(3, 4)]
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    z = torch.stack([m(x) for m in members])
    torch.testing.assert_close(EnsembleModule(members)(x), z.mean(0))
    log_mean = EnsembleModule(members, combine="log_mean_softmax")(x)
    torch.testing.assert_close(log_mean.exp(), z.softmax(-1).mean(0))
    with pytest.raises(ValueError, match="combine"):
        EnsembleModule(members, combine="vote")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_ensembles_on_cuda(flat, statics):
    X, _, y, _ = flat
    static = [FrozenEstimator(m) for m in statics]  # CPU models as sources of a CUDA fit
    for est in (TRSEnsemble(n_members=2, n_iter=2, max_epochs=1, device="cuda", **BOX),
                MarginBoostingEnsemble(n_members=2, n_iter=2, max_epochs=1, device="cuda",
                                       **BOX),
                EnsembleAdversarialTraining(static_models=static, max_epochs=1, device="cuda",
                                            **BOX)):
        est.fit(X[:128], y[:128])
        assert all(p.is_cuda for p in est.module_.parameters())
        assert 0 <= est.score_adversarial(X[:40], y[:40], attack=PGD(n_iter=2)) <= 1
        for member in getattr(est, "members_", []):
            assert 0 <= member.score(X[:40], y[:40]) <= 1
