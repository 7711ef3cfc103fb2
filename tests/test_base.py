"""The estimator base: scikit-learn contract, skorch parameters, validation, seeding."""
import os
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_validate
from skorch.callbacks import Callback, Checkpoint, EarlyStopping, LRScheduler
from skorch.dataset import ValidSplit
import torch

from robustsk.base import NearChanceWarning, RobustClassifier, SoftmaxOutputWarning
from robustsk.defenses import AdversarialTraining, StandardTraining
from robustsk.modules import MLP, SmallCNN


class Net(torch.nn.Module):
    def __init__(self, width=16, n_in=6, n_out=3, softmax=False):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(n_in, width), torch.nn.ReLU(),
                                        torch.nn.Linear(width, n_out))
        self.softmax = softmax

    def forward(self, x):
        out = self.body(x)
        return out.softmax(-1) if self.softmax else out


def test_default_module_is_chosen_from_shape(digits_small, tabular):
    X_tr, _, y_tr, _ = digits_small
    img = StandardTraining(max_epochs=1, random_state=0).fit(X_tr[:100], y_tr[:100])
    assert isinstance(img.module_, SmallCNN)
    assert img.n_features_in_ == 64 and img.input_shape_ == (1, 8, 8)
    X, y = tabular
    flat = StandardTraining(max_epochs=1, random_state=0).fit(X, y)
    assert isinstance(flat.module_, MLP) and flat.n_features_in_ == 6


def test_tabular_learns_and_scores(tabular):
    X, y = tabular
    clf = AdversarialTraining(max_epochs=30, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.8
    robust = clf.score_adversarial(X, y)
    assert 0.0 <= robust <= clf.score(X, y)


def test_user_module_and_skorch_parameters(tabular):
    X, y = tabular
    seen = []

    class Count(Callback):
        def on_epoch_end(self, net, **kwargs):
            seen.append(len(net.history))

    clf = AdversarialTraining(module=Net, module__width=64, optimizer=torch.optim.SGD,
                              optimizer__momentum=0.9, lr=0.05, max_epochs=3,
                              callbacks=[Count(), ("sched", LRScheduler("StepLR", step_size=1,
                                                                       gamma=0.5))],
                              random_state=0)
    clf.fit(X, y)
    assert clf.module_.body[0].out_features == 64
    assert clf.optimizer_.param_groups[0]["momentum"] == 0.9
    assert seen == [1, 2, 3]
    assert clf.optimizer_.param_groups[0]["lr"] == pytest.approx(0.05 * 0.5 ** 3)
    assert clf.get_params()["module__width"] == 64
    clf.set_params(module__width=8).fit(X, y)
    assert clf.module_.body[0].out_features == 8


def test_history_records_adversarial_and_clean_loss(tabular):
    X, y = tabular
    clf = AdversarialTraining(max_epochs=2, record_clean_loss=True, random_state=0).fit(X, y)
    row = clf.history[-1]
    assert "train_loss" in row and "train_clean_loss" in row
    # the adversarial loss is the larger one
    assert row["train_loss"] >= row["train_clean_loss"]


@pytest.mark.parametrize("labels", [["cat", "dog"], ["a", "b", "c"], [-1, 1], [1.0, 2.0, 5.0]])
def test_labels_of_any_type(tabular, labels):
    X, y = tabular
    y = y % len(labels)
    y_lab = np.asarray(labels, dtype=object if isinstance(labels[0], str) else None)[y]
    clf = StandardTraining(max_epochs=3, random_state=0).fit(X, y_lab)
    assert list(clf.classes_) == sorted(labels)
    pred = clf.predict(X)
    assert set(pred) <= set(labels)
    assert clf.predict_proba(X).shape == (len(X), len(labels))
    assert 0 <= clf.score_adversarial(X, y_lab) <= clf.score(X, y_lab)


def test_binary_decision_function(tabular):
    X, y = tabular
    yb = (y > 0).astype(int)
    clf = StandardTraining(max_epochs=5, random_state=0).fit(X, yb)
    dec = clf.decision_function(X)
    assert dec.shape == (len(X),)
    np.testing.assert_array_equal((dec > 0).astype(int), clf.predict(X))


def test_same_random_state_same_fit_and_global_rng_untouched(tabular):
    X, y = tabular
    torch.manual_seed(123)
    state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()
    a = AdversarialTraining(max_epochs=2, random_state=7).fit(X, y)
    b = AdversarialTraining(max_epochs=2, random_state=7).fit(X, y)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-6, atol=1e-7)
    assert torch.equal(torch.get_rng_state(), state)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)
    c = AdversarialTraining(max_epochs=2, random_state=8).fit(X, y)
    assert not np.allclose(a.predict_proba(X), c.predict_proba(X))


def test_clone_and_refit_start_fresh_warm_start_continues(tabular):
    X, y = tabular
    clf = StandardTraining(max_epochs=2, random_state=0).fit(X, y)
    w1 = clf.module_.net[1].weight.detach().clone()
    clf.fit(X, y)  # same seed: a fresh start gives the same weights
    assert torch.allclose(w1, clf.module_.net[1].weight)
    assert len(clf.history) == 2
    twin = clone(clf)
    assert not twin.__sklearn_is_fitted__()
    warm = StandardTraining(max_epochs=2, random_state=0, warm_start=True).fit(X, y)
    warm.fit(X, y)
    assert len(warm.history) == 4
    assert not torch.allclose(w1, warm.module_.net[1].weight)


def test_partial_fit_validates_and_keeps_classes(tabular):
    X, y = tabular
    clf = StandardTraining(max_epochs=1, random_state=0)
    clf.partial_fit(X[:50], y[:50], classes=[0, 1, 2])
    clf.partial_fit(X[50:], y[50:])
    assert len(clf.history) == 2
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :4], y)
    with pytest.raises(ValueError, match="not among the classes.*Pass all labels"):
        clf.partial_fit(X[:10], np.full(10, 5))


def test_classes_given_by_hand_name_the_wrappers_that_re_encode_y(tabular):
    """cross_val_predict(method="predict_proba") fits on y re-encoded as 0, 1, ...: the
    message advised y.astype(str) or classes=..., both already done by the user."""
    from sklearn.model_selection import cross_val_predict

    X, y = tabular
    names = np.array(["low", "mid", "high"])[y]
    clf = StandardTraining(max_epochs=1, random_state=0, classes=["high", "low", "mid"])
    with pytest.raises(ValueError, match=r"numeric labels.*given as classes=\['high', 'low', "
                                         r"'mid'\].*cross_val_predict.*leave classes unset"):
        cross_val_predict(clf, X, names, cv=2, method="predict_proba")
    proba = cross_val_predict(clf.set_params(classes=None), X, names, cv=2,
                              method="predict_proba")
    assert proba.shape == (len(y), 3)


def test_pickle_round_trip(digits_small):
    X_tr, X_te, y_tr, _ = digits_small
    clf = AdversarialTraining(max_epochs=2, random_state=0).fit(X_tr, y_tr)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clf.predict(X_te), again.predict(X_te))
    np.testing.assert_allclose(clf.predict_proba(X_te), again.predict_proba(X_te))


@pytest.mark.parametrize("bad, match", [
    (lambda X, y: (X[:, :3], y), "features"),
    (lambda X, y: (X.reshape(len(X), 2, 3), y), "shape"),
])
def test_predict_shape_must_match_fit(tabular, bad, match):
    X, y = tabular
    clf = StandardTraining(max_epochs=1, random_state=0).fit(X, y)
    Xb, _ = bad(X, y)
    with pytest.raises(ValueError, match=match):
        clf.predict(Xb)


@pytest.mark.parametrize("make, err, match", [
    (lambda X, y: (X[:0], y[:0]), ValueError, "0 sample"),
    (lambda X, y: (np.where(X > 1, np.nan, X), y), ValueError, "NaN"),
    (lambda X, y: (np.where(X > 1, np.inf, X), y), ValueError, "infinity"),
    (lambda X, y: (X, y[:-1]), ValueError, "300 samples but y has 299"),
    (lambda X, y: (X, np.zeros_like(y)), ValueError, "only one class"),
    (lambda X, y: (X, X[:, 0]), ValueError, "continuous"),
    (lambda X, y: (X, None), ValueError, "requires y"),
])
def test_bad_training_input(tabular, make, err, match):
    X, y = tabular
    Xb, yb = make(X, y)
    clf = StandardTraining(max_epochs=1)
    with pytest.raises(err, match=match):
        clf.fit(Xb, yb)
    assert not clf.__sklearn_is_fitted__()


@pytest.mark.parametrize("params, match", [
    ({"eps": -0.1}, "negative"),
    ({"norm": "l3"}, "norm"),
    ({"n_iter": -1}, "n_iter"),
    ({"clip_min": 0.0, "clip_max": 1.0}, "outside the box"),
    ({"clip_min": 1.0, "clip_max": 0.0}, "empty"),
])
def test_bad_threat_model_fails_before_training(tabular, params, match):
    X, y = tabular
    clf = AdversarialTraining(max_epochs=1, **params)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)
    assert clf.history is None  # nothing was trained


def test_unfitted_errors(tabular):
    X, y = tabular
    clf = AdversarialTraining()
    for method in (clf.predict, clf.predict_proba, clf.decision_function):
        with pytest.raises(NotFittedError):
            method(X)
    with pytest.raises(NotFittedError):
        clf.score_adversarial(X, y)


def test_validation_split_required_by_monitoring_callbacks(tabular):
    X, y = tabular
    for cb in (EarlyStopping(), Checkpoint(dirname=os.devnull)):
        with pytest.raises(ValueError, match="train_split"):
            StandardTraining(max_epochs=1, callbacks=[cb]).fit(X, y)
    clf = StandardTraining(max_epochs=30, train_split=ValidSplit(0.2, random_state=0),
                           callbacks=[EarlyStopping(patience=2)], random_state=0).fit(X, y)
    assert "valid_loss" in clf.history[-1] and "valid_acc" in clf.history[-1]


def test_fit_uses_all_data_by_default(tabular):
    X, y = tabular
    clf = StandardTraining(max_epochs=1, batch_size=50, random_state=0).fit(X, y)
    assert clf.history[-1, "train_batch_count"] == 6
    assert "valid_loss" not in clf.history[-1]


def test_softmax_module_warns(tabular):
    X, y = tabular
    with pytest.warns(SoftmaxOutputWarning):
        StandardTraining(module=Net, module__softmax=True, max_epochs=1,
                         random_state=0).fit(X, y)


class ConstNet(torch.nn.Module):
    """Predicts class 0 for every input, and cannot learn at lr=0."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.tensor([1.0, 0.0, 0.0]))

    def forward(self, x):
        return x[:, :1] * 0 + self.bias


def test_near_chance_warns(tabular):
    X, y = tabular
    with pytest.warns(NearChanceWarning, match="near chance"):
        StandardTraining(module=ConstNet, lr=0.0, max_epochs=1).fit(X, np.arange(len(X)) % 3)


def test_near_chance_judged_over_the_whole_training_set():
    """Data sorted by class: a model that learned is not flagged (the check once looked at
    the first rows only, all of one class), and a constant one still is, against the
    majority share of every label."""
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    order = np.argsort(y, kind="stable")
    X, y = X[order], y[order]
    with warnings.catch_warnings():
        warnings.simplefilter("error", NearChanceWarning)
        clf = StandardTraining(max_epochs=20, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    with pytest.warns(NearChanceWarning, match=r"near chance \(0\.399\)"):
        StandardTraining(module=ConstNet, lr=0.0, max_epochs=1).fit(X, y)


def test_partial_fit_checks_the_model_only_on_the_call_that_initialises_it(tabular):
    X, _ = tabular
    y = np.arange(len(X)) % 3
    clf = StandardTraining(module=ConstNet, lr=0.0, max_epochs=1)
    with pytest.warns(NearChanceWarning, match="near chance"):
        clf.partial_fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NearChanceWarning)
        clf.partial_fit(X, y)  # a loop of calls pays no check forward pass per call
    with pytest.warns(NearChanceWarning, match="near chance"):
        clf.set_params(warm_start=True).fit(X, y)  # fit always checks


class _ThreadSpy(StandardTraining):
    def fit(self, X, y, **kw):
        self.threads_seen_ = torch.get_num_threads()
        return super().fit(X, y, **kw)


def test_parallel_search_does_not_oversubscribe(tabular):
    X, y = tabular
    n_jobs = 2
    cv = cross_validate(_ThreadSpy(max_epochs=1), X, y, cv=2, n_jobs=n_jobs,
                        return_estimator=True)
    for est in cv["estimator"]:
        assert est.threads_seen_ * n_jobs <= max(os.cpu_count(), n_jobs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_device(digits_small):
    X_tr, X_te, y_tr, y_te = digits_small
    clf = AdversarialTraining(max_epochs=1, device="cuda", random_state=0).fit(X_tr, y_tr)
    assert next(clf.module_.parameters()).is_cuda
    assert 0 <= clf.score_adversarial(X_te, y_te) <= 1


def test_base_is_a_plain_classifier(tabular):
    X, y = tabular
    clf = RobustClassifier(max_epochs=2, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.4


def test_training_batches_are_shuffled_and_continued_fits_draw_new_streams(tabular):
    X, y = tabular
    orders = []

    class Spy(StandardTraining):
        def train_step_single(self, batch, **fit_params):
            orders.append(batch[0][0, 0].item())
            return super().train_step_single(batch, **fit_params)

    clf = Spy(max_epochs=2, batch_size=300, random_state=0).fit(X, y)
    assert orders[0] != X[0, 0] or orders[1] != X[0, 0]  # shuffled
    assert orders[0] != orders[1]  # a new permutation every epoch
    orders.clear()
    clf.partial_fit(X, y)
    clf.partial_fit(X, y)
    assert orders[0] != orders[2]  # a continued fit does not replay the same shuffles
    orders.clear()
    Spy(max_epochs=1, batch_size=300, random_state=0, iterator_train__shuffle=False).fit(X, y)
    assert orders == [X[0, 0]]


def test_defenses_that_reduce_to_standard_training_train_its_weights(digits_small):
    """The shuffle has its own stream (seed, epoch): the attack noise TRADES draws at
    beta=0 and AT at eps=0 does not move the batches of later epochs."""
    from robustsk.defenses import TRADES
    X, _, y, _ = digits_small
    X, y = X[:200], y[:200]
    kwargs = dict(max_epochs=3, batch_size=32, random_state=0, n_iter=2)
    reference = StandardTraining(**kwargs).fit(X, y).module_.state_dict()
    for clf in (TRADES(beta=0.0, **kwargs), AdversarialTraining(eps=0.0, **kwargs)):
        state = clf.fit(X, y).module_.state_dict()
        assert len(X) > 2 * kwargs["batch_size"]  # several batches: the order matters
        assert all(torch.equal(reference[k], state[k]) for k in reference), type(clf).__name__


def test_failed_refit_loses_nothing(tabular):
    X, y = tabular
    clf = StandardTraining(max_epochs=2, random_state=0).fit(X, y)
    before = clf.predict_proba(X)
    for bad_X, bad_y in ((X, np.zeros_like(y)), (np.full_like(X, np.nan), y), (X, y[:-1])):
        with pytest.raises(ValueError):
            clf.fit(bad_X, bad_y)
        np.testing.assert_array_equal(clf.predict_proba(X), before)
        assert clf.n_features_in_ == 6 and list(clf.classes_) == [0, 1, 2]
    clf.set_params(clip_min=0.0, clip_max=1.0)
    with pytest.raises(ValueError, match="outside the box"):
        clf.fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), before)


class NormNet(torch.nn.Module):
    """A network with batch norm: a probe in train mode would move its statistics."""

    def __init__(self, n_in=6, n_out=3):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(n_in, 16), torch.nn.BatchNorm1d(16),
                                        torch.nn.ReLU(), torch.nn.Linear(16, n_out))

    def forward(self, x):
        return self.body(x)


def test_predictions_run_in_batches_sized_by_memory(tabular):
    X, y = tabular
    clf = StandardTraining(module=NormNet, max_epochs=2, batch_size=16, random_state=0).fit(X, y)
    auto = clone(clf).set_params(iterator_valid__batch_size="auto").fit(X, y)
    fixed = clone(clf).set_params(iterator_valid__batch_size=32).fit(X, y)
    dataset = clf.get_dataset(X)
    assert clf.get_iterator(dataset, training=False).batch_size == 16  # the CPU's default
    assert auto.get_iterator(dataset, training=False).batch_size > 16  # sized by memory
    assert auto.get_iterator(dataset, training=True).batch_size == 16
    assert fixed.get_iterator(dataset, training=False).batch_size == 32
    norm = auto.module_.body[1]
    auto.module_.train()  # as a fit leaves it: the probe must not update the statistics
    seen = int(norm.num_batches_tracked)
    proba = auto.predict_proba(X)
    assert int(norm.num_batches_tracked) == seen
    for other in (clf, fixed):
        np.testing.assert_allclose(proba, other.predict_proba(X), rtol=0, atol=1e-6)


def test_batch_norm_network_trains_when_one_example_is_left_over(tabular):
    """33 examples in batches of 16 leave a last batch of one, which batch norm cannot
    normalise in training mode: it is dropped (unless the user decides)."""
    X, y = tabular
    X, y = X[:33], y[:33]
    clf = AdversarialTraining(module=NormNet, batch_size=16, max_epochs=2,
                              random_state=0).fit(X, y)
    assert clf.predict(X).shape == (33,)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        AdversarialTraining(module=NormNet, batch_size=16, max_epochs=1,
                            iterator_train__drop_last=False).fit(X, y)


def test_new_optimizer_on_a_fitted_estimator(tabular):
    """skorch 1.4 raised "Something went wrong" for ``set_params(optimizer=...)`` once
    fitted; the fitted model is untouched, and the next fit (warm or not) uses it."""
    X, y = tabular
    clf = StandardTraining(max_epochs=1, random_state=0).fit(X[:90], y[:90])
    before = clf.predict_proba(X[:20])
    clf.set_params(optimizer=torch.optim.SGD, optimizer__momentum=0.5)
    assert isinstance(clf.optimizer_, torch.optim.Adam)  # until the next fit
    np.testing.assert_array_equal(clf.predict_proba(X[:20]), before)
    clf.set_params(warm_start=True).partial_fit(X[:90], y[:90])
    assert isinstance(clf.optimizer_, torch.optim.SGD)
    assert clf.optimizer_.param_groups[0]["momentum"] == 0.5
    clf.set_params(warm_start=False).fit(X[:90], y[:90])
    assert isinstance(clf.optimizer_, torch.optim.SGD)
    # a virtual optimizer parameter on a fitted net reaches get_params, clone and refits
    # (skorch set it on the live optimizer only, and the next fit went back to the old one)
    clf.set_params(optimizer__momentum=0.25)
    assert clf.optimizer_.param_groups[0]["momentum"] == 0.25
    assert clf.get_params()["optimizer__momentum"] == 0.25
    assert clone(clf).get_params()["optimizer__momentum"] == 0.25
    assert clf.fit(X[:90], y[:90]).optimizer_.param_groups[0]["momentum"] == 0.25


def test_unscaled_pixels_warn_before_training():
    """8-bit intensities (or sklearn's 0-16 digits) with an eps meant for [0, 1]."""
    from sklearn.datasets import load_digits

    from robustsk.base import UnscaledInputWarning
    from robustsk.defenses import AdversarialTraining

    X, y = load_digits(return_X_y=True)
    X, y = X[:120], y[:120]
    with pytest.warns(UnscaledInputWarning, match=r"whole numbers from 0 to 16.*X / 16"):
        AdversarialTraining(max_epochs=1, n_iter=1, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnscaledInputWarning)
        for X_ok, eps in ((X / 16, 0.1), (X, 2.0), (X - 8, 0.1), (X + 0.5, 0.1)):
            AdversarialTraining(max_epochs=1, n_iter=1, eps=eps, random_state=0).fit(X_ok, y)


@pytest.mark.parametrize("eps, norm, ok", [(8.0, "inf", False), (1.0, "inf", False),
                                           (0.99, "inf", True), (8.0, 2, True)])
def test_linf_eps_as_wide_as_the_box_is_refused_before_training(eps, norm, ok):
    X = np.random.RandomState(0).rand(40, 4).astype(np.float32)
    y = np.arange(40) % 2
    clf = StandardTraining(eps=eps, norm=norm, clip_min=0.0, clip_max=1.0, max_epochs=1)
    if ok:
        clf.fit(X, y)
        return
    with pytest.raises(ValueError, match=r"width 1: a ball that wide.*8/255"):
        clf.fit(X, y)
    assert not clf.initialized_


def test_module_class_taking_the_data_sizes_gets_them():
    """module=SmallCNN (a class needing input_shape and n_classes) raised skorch's
    "missing 2 required positional arguments"; it now builds the default network."""
    from robustsk.datasets import load_digits_images

    X, y = load_digits_images(return_X_y=True)
    X, y = X[:100], y[:100]
    fits = [StandardTraining(module=module, max_epochs=1, random_state=0).fit(X, y)
            for module in (None, SmallCNN)]
    for a, b in zip(*(f.module_.parameters() for f in fits)):
        assert torch.equal(a, b)
    wider = StandardTraining(module=MLP, module__hidden_units=(7,),
                             max_epochs=1, random_state=0).fit(X.reshape(100, -1), y)
    first = next(m for m in wider.module_.modules() if isinstance(m, torch.nn.Linear))
    assert first.out_features == 7  # module__* is passed beside the data's sizes
    assert wider.module_(torch.zeros(1, 64)).shape == (1, 10)


@pytest.mark.parametrize("params, match", [
    ({"optimizer__momentum": 0.9}, r"optimizer=Adam with optimizer__momentum=0.9.*momentum"),
    ({"optimizer__lr": -1.0}, r"optimizer__lr=-1.0.*Invalid learning rate"),
])
def test_arguments_an_optimizer_refuses_fail_before_the_fitted_net_is_rebuilt(params, match):
    """They failed inside the next initialisation, after the fitted weights were gone."""
    X = np.random.RandomState(0).rand(60, 4).astype(np.float32)
    y = np.arange(60) % 3
    clf = StandardTraining(max_epochs=1, random_state=0).fit(X, y)
    before = clf.predict_proba(X)
    clf.set_params(**params)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), before)


class TupleNet(torch.nn.Module):
    """Returns (logits, features), which skorch's predictions allow and training did not."""

    def __init__(self):
        super().__init__()
        self.body, self.out = torch.nn.Linear(64, 16), torch.nn.Linear(16, 10)

    def forward(self, x):
        h = torch.relu(self.body(x))
        return self.out(h), h


@pytest.mark.parametrize("module, flat, match", [
    (SmallCNN((1, 8, 8), 10), True, r"could not process inputs of shape \(2, 64\).*conv2d"),
    (SmallCNN((1, 8, 8), 5), False, r"returned \(2, 5\).*10 classes.*module__n_classes=10"),
    (torch.nn.Sequential(torch.nn.Linear(64, 10)), False, r"shape \(2, 1, 8, 8\).*mat1"),
    # more logits than classes: predict_proba had 12 columns, predict an IndexError
    (SmallCNN((1, 8, 8), 12), False, r"returned \(2, 12\).*10 classes.*pass classes=\[\.\.\.\]"),
    (TupleNet(), True, r"returned a tuple of 2 outputs.*one tensor of shape \(2, 10\)"),
    (torch.nn.Sequential(torch.nn.Linear(64, 10)).double(), True,
     r"dtype torch.float32.*parameters are torch.float64.*module.float\(\)"),
])
def test_a_module_that_does_not_fit_the_data_fails_before_training(module, flat, match):
    """torch's own error from the first batch (conv2d on flat X, a target out of bounds, a
    tuple given to the loss, a float64 module) or wrong predictions (extra logits)."""
    from robustsk.datasets import load_digits_images

    X, y = load_digits_images(return_X_y=True)
    X, y = (X[:60].reshape(60, -1) if flat else X[:60]), y[:60]
    state = torch.random.get_rng_state()
    with pytest.raises(ValueError, match=match):
        StandardTraining(module=module, max_epochs=1, random_state=0).fit(X, y)
    assert torch.equal(state, torch.random.get_rng_state())


def test_softmax_members_of_an_ensemble_warn(tabular):
    """TRS combines members by the log of their mean softmax, which hid their softmax."""
    from robustsk.defenses import TRSEnsemble

    X, y = tabular
    member = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 8), torch.nn.ReLU(),
                                 torch.nn.Linear(8, len(np.unique(y))), torch.nn.Softmax(dim=1))
    with pytest.warns(SoftmaxOutputWarning, match="ensemble members' outputs"):
        TRSEnsemble(module=member, n_members=2, n_iter=1, max_epochs=1,
                    random_state=0).fit(X, y)
