"""Audit findings on the fit's contract: callbacks' state is no parameter, a Ctrl-C
during epoch-end callbacks stops the script, checkpoints hold the whole epoch row,
set_params works on fitted estimators and bad skorch parameters fail before work."""
import numpy as np
import pytest
from sklearn.base import clone
from skorch.callbacks import Callback, EarlyStopping
import torch

from robustsk.callbacks import TrainingCheckpoint
from robustsk.checkpoint import load_checkpoint
from robustsk.defenses import AdversarialTraining, StandardTraining

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CHEAP = dict(max_epochs=2, batch_size=32, random_state=0, n_iter=1)


@pytest.fixture(scope="module")
def data(digits):
    X_tr, _, y_tr, _ = digits
    return X_tr[:96], y_tr[:96]


def test_fitted_callbacks_clone_and_round_trip_their_parameters(data, tmp_path):
    X, y = data
    clf = StandardTraining(callbacks=[TrainingCheckpoint(tmp_path)], **CHEAP).fit(X, y)
    params = clf.get_params(deep=True)
    assert not [k for k in params if "___" in k or k.split("__")[-1].startswith("_")]
    checkpoint = [cb for _, cb in clf.callbacks_ if isinstance(cb, TrainingCheckpoint)][0]
    assert set(checkpoint.get_params()) == {"dirname", "every", "resume"}
    clone(clf)  # raised TypeError: unexpected keyword argument '_last_epoch'
    clf.set_params(**{k: v for k, v in params.items() if k.startswith("callbacks__")})


class _Interrupt(Callback):
    """Stands for Ctrl-C arriving while an epoch-end callback works."""

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 2:
            raise KeyboardInterrupt


def test_ctrl_c_during_epoch_end_callbacks_is_an_interruption(data):
    X, y = data
    clf = StandardTraining(**{**CHEAP, "max_epochs": 3}, callbacks=[_Interrupt()])
    with pytest.warns(UserWarning, match="interrupted in epoch 2"), \
            pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    assert len(clf.history) == 1  # the epoch whose callbacks did not all run is dropped
    stopped = StandardTraining(**{**CHEAP, "max_epochs": 9}, callbacks=[
        EarlyStopping(monitor="train_loss", patience=1, threshold=10.0)]).fit(X, y)
    assert len(stopped.history) == 2  # EarlyStopping still stops without an error


class _Late(Callback):
    def on_epoch_end(self, net, **kwargs):
        net.history.record("late", len(net.history))


def test_checkpoint_holds_what_later_callbacks_record(data, tmp_path):
    X, y = data
    StandardTraining(callbacks=[TrainingCheckpoint(tmp_path), _Late()], **CHEAP).fit(X, y)
    import json
    history = json.loads(load_checkpoint(tmp_path / "checkpoint.pt")["history"])
    assert [row.get("late") for row in history] == [1, 2]


def test_set_params_on_fitted_and_before_fit(data):
    X, y = data
    clf = AdversarialTraining(**CHEAP).set_params(compile_attack=False)
    clf.fit(X, y)  # was "unexpected argument compile_attack, did you mean compile__attack?"
    before = clf.predict_proba(X)
    clf.set_params(iterator_train__shuffle=False, iterator_valid=clf.iterator_valid,
                   compile_attack=False)  # skorch 1.4: "Something went wrong"
    np.testing.assert_array_equal(clf.predict_proba(X), before)  # nothing rebuilt
    assert clf.get_params()["iterator_train__shuffle"] is False
    clf.set_params(**clf.get_params())  # (the next fit builds module and optimizer anew)
    clf.fit(X, y)


@pytest.mark.parametrize("param, value, match", [
    ("train_split", 0.2, "ValidSplit"), ("optimizer", "adam", "optimizer class"),
    ("criterion", 5, "loss class"), ("iterator_train", None, "batch iterator"),
    ("callbacks", [5], "not a skorch callback"), ("warm_start", "yes", "True or False"),
    ("verbose", "loud", "verbose"),
    # a class weight of the wrong length failed in torch's words in the first batch
    ("criterion__weight", torch.ones(3), r"criterion__weight=<Tensor of shape \(3,\)>.*one "
                                          "class weight per class"),
    ("criterion", torch.nn.MSELoss, "Expected a classification loss of \\(logits, labels\\)"),
])
def test_bad_skorch_parameters_fail_before_any_work(data, param, value, match):
    X, y = data
    clf = StandardTraining(**CHEAP).fit(X, y)
    state = {k: v.clone() for k, v in clf.module_.state_dict().items()}
    with pytest.raises(ValueError, match=match):
        clf.set_params(**{param: value}).fit(X, y)
    assert all(torch.equal(state[k], v) for k, v in clf.module_.state_dict().items())


@pytest.mark.parametrize("params", [{"module__hidden_units": 16}, {"criterion__label_smoothing": 0.1},
                                    {"optimizer": torch.optim.SGD}, "all"])
def test_set_params_on_a_fitted_estimator_waits_for_the_next_fit(data, params):
    """As scikit-learn: a fitted model predicts as before until fit uses the new values
    (skorch rebuilt the named components at once: module__* left an untrained network)."""
    X, y = data
    clf = StandardTraining(**CHEAP).fit(X, y)
    before, module = clf.predict_proba(X), clf.module_
    params = clf.get_params() if params == "all" else params
    clf.set_params(**params)
    assert clf.module_ is module
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    fresh = clone(clf).fit(X, y)
    np.testing.assert_array_equal(clf.fit(X, y).predict_proba(X), fresh.predict_proba(X))
    warm = clone(clf).fit(X, y)
    warm.set_params(**{**params, "warm_start": True}).fit(X, y)  # rebuilds what they name
    assert len(warm.history) == 2 * CHEAP["max_epochs"]
    if "module__hidden_units" in params:
        assert warm.module_ is not module and warm.module_.classifier[-1].in_features == 16


@pytest.mark.parametrize("same", ["get_params", "module"])
def test_setting_the_values_already_set_rebuilds_nothing(data, same):
    """set_params(**get_params()) on a fitted model is a no-op: partial_fit continues the
    training (it rebuilt every component and started over from fresh weights)."""
    X, y = data
    clf = StandardTraining(**CHEAP).fit(X, y)
    twin = clone(clf).fit(X, y)
    clf.set_params(**(clf.get_params(deep=False) if same == "get_params" else
                      {"module": clf.module, "lr": clf.lr}))
    module = clf.module_
    clf.partial_fit(X, y)
    assert clf.module_ is module
    np.testing.assert_array_equal(clf.predict_proba(X), twin.partial_fit(X, y).predict_proba(X))


@pytest.mark.parametrize("change", [
    {"module__hidden_units": 16}, {"optimizer": torch.optim.SGD},
    {"module__hidden_units": 16, "optimizer__weight_decay": 0.1}])
def test_a_set_params_undone_rebuilds_nothing(data, change):
    """Setting a component's parameters back to the values it was built with leaves
    nothing to rebuild: partial_fit continues the fitted model."""
    X, y = data
    clf = StandardTraining(**CHEAP, module__hidden_units=32,
                           optimizer__weight_decay=0.0).fit(X, y)
    twin = clone(clf).fit(X, y)
    fitted = clf.get_params(deep=False)
    clf.set_params(**change)
    assert clf.pending_rebuild_
    clf.set_params(**{k: fitted[k] for k in change})
    assert clf.pending_rebuild_ == frozenset()
    module, optimizer = clf.module_, clf.optimizer_
    clf.partial_fit(X, y)
    assert clf.module_ is module and clf.optimizer_ is optimizer
    np.testing.assert_array_equal(clf.predict_proba(X), twin.partial_fit(X, y).predict_proba(X))


def test_a_set_params_half_undone_still_rebuilds(data):
    X, y = data
    clf = StandardTraining(**CHEAP, module__hidden_units=32).fit(X, y)
    clf.set_params(module__hidden_units=16, optimizer=torch.optim.SGD)
    clf.set_params(module__hidden_units=32)
    assert clf.pending_rebuild_ == {"optimizer"}
    clf.partial_fit(X, y)
    assert isinstance(clf.optimizer_, torch.optim.SGD)


def test_a_refused_callbacks_value_can_be_replaced(data):
    X, y = data
    clf = StandardTraining(**CHEAP).fit(X, y)
    clf.set_params(callbacks=["oops"])
    with pytest.raises(ValueError, match="not a skorch callback"):
        clf.fit(X, y)
    clf.set_params(callbacks=[EarlyStopping(monitor="train_loss", patience=50)]).fit(X, y)
    assert any(isinstance(cb, EarlyStopping) for _, cb in clf.callbacks_)


def test_a_misspelled_parameter_costs_a_fitted_model_nothing(data):
    X, y = data
    clf = StandardTraining(**CHEAP).fit(X, y)
    before = clf.predict_proba(X)
    with pytest.raises(ValueError, match="iterator_train__shufle"):
        clf.set_params(iterator_train_shufle=True)
    with pytest.raises(ValueError, match="iterator_train__shufle"):
        clf.fit(X, y)  # skorch would report it only after rebuilding the network
    np.testing.assert_array_equal(clf.predict_proba(X), before)


def test_a_component_that_cannot_be_rebuilt_costs_a_fitted_model_nothing(data):
    """skorch rebuilds a fitted net's components in set_params; here the next fit builds
    them, and a value a component's class refuses (or a module that cannot read the next
    fit's X) costs the fitted model nothing."""
    from robustsk.defenses import AdversarialFeatureDesensitization
    X, y = data
    afd = AdversarialFeatureDesensitization(**CHEAP).fit(X, y)
    before = afd.predict_proba(X)
    settings_before = {k: v for k, v in afd.get_params().items()
                       if not k.startswith("callbacks__")}
    afd.set_params(discriminator__hidden_units=-4)  # stored for the next fit, as scikit-learn
    for warm_start in (False, True):
        afd.set_params(warm_start=warm_start)
        with pytest.raises(ValueError, match=r"could not build.*discriminator__hidden_units=-4"
                                             r".*Nothing was changed"):
            afd.fit(X, y)
        np.testing.assert_array_equal(afd.predict_proba(X), before)
    def settings(est):
        return {k: v for k, v in est.get_params().items() if not k.startswith("callbacks__")}
    assert settings(afd) == {**settings_before, "discriminator__hidden_units": -4,
                             "warm_start": True}
    afd.set_params(discriminator__hidden_units=8, warm_start=False).fit(X, y)
    clf = StandardTraining(**CHEAP).fit(X, y)
    before = clf.predict_proba(X)
    clf.set_params(module__n_filters=3)
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    with pytest.raises(TypeError, match=r"unexpected keyword.*module__n_filters=3"):
        clf.fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    delattr(clf, "module__n_filters")  # as it was: the next fit builds the network again
    clf.fit(X, y)

    given = StandardTraining(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)),
                             **CHEAP).fit(X, y)
    before, state = given.predict_proba(X), dict(vars(given))
    with pytest.raises(ValueError, match="could not process inputs"):
        given.fit(X[:, :, :4], y)  # 32 features for a Linear(64, 10): found after the rebuild
    np.testing.assert_array_equal(given.predict_proba(X), before)
    assert given.n_features_in_ == state["n_features_in_"] and given.module_ is state["module_"]


def test_predict_checks_the_batch_size_set_since_fit(data):
    X, y = data
    clf = StandardTraining(**CHEAP).fit(X, y)
    clf.set_params(batch_size=0)
    with pytest.raises(ValueError, match=r"batch_size=0: expected an integer in \[1, inf\)"):
        clf.predict(X)  # was Python's "range() arg 3 must not be zero"


def test_newcomer_mistakes_get_messages_that_say_what_to_do(data):
    """Audit: 0-255 images at predict (silently scored 0.75), a CNN on flat X (numpy's
    unpacking error), labels mixing numbers and strings (numpy's sort error)."""
    import warnings

    from robustsk.base import UnscaledInputWarning
    from robustsk.modules import SmallCNN
    X, y = data
    clf = StandardTraining(clip_min=0.0, clip_max=1.0, **CHEAP).fit(X, y)
    with pytest.warns(UnscaledInputWarning, match=r"outside the box .* data range is \[0, 255\]"):
        clf.predict(np.round(X * 255))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnscaledInputWarning)
        clf.predict(X)  # inside the box: quiet
    with pytest.raises(ValueError, match=r"flat examples of shape \(64,\).*X.reshape"):
        StandardTraining(module=SmallCNN, **CHEAP).fit(X.reshape(len(X), -1), y)
    mixed = np.array([1 if i % 2 else "a" for i in range(len(y))], dtype=object)
    with pytest.raises(ValueError, match=r"y mixes labels of the types \['int', 'str'\]"):
        StandardTraining(**CHEAP).fit(X, mixed)
    with pytest.warns(UnscaledInputWarning, match=r"scale X to \[0, 1\] \(X / 255\) with"):
        StandardTraining(**CHEAP).fit(np.round(X * 255).astype(np.uint8), y)


def test_score_refuses_labels_of_another_type_before_predicting(data, monkeypatch):
    """scikit-learn said only "Mix of label input types" after predicting every example."""
    X, y = data
    clf = StandardTraining(**CHEAP).fit(X, y)
    expected = clf.score(X, y)
    unseen = np.where(np.arange(len(y)) < 10, 99, y)  # labels of the right type count as errors
    assert clf.score(X, unseen) == np.mean(clf.predict(X) == unseen)
    monkeypatch.setattr(type(clf), "predict", lambda *a, **k: pytest.fail("predicted"))
    with pytest.raises(ValueError, match=r"y holds string labels .* classes of StandardTraining "
                                         r"are numeric .* y\.astype\(int\)"):
        clf.score(X, y.astype(str))
    with pytest.raises(ValueError, match="X has 40 samples but y has 39"):
        clf.score(X[:40], y[:39])
    monkeypatch.undo()
    assert clf.score(X, list(y)) == expected


def test_build_error_on_flat_data_suggests_images_only_when_it_can_be_the_cause(data):
    from robustsk.modules import SmallCNN
    X, y = data
    flat = X.reshape(len(X), -1)
    with pytest.raises(ValueError, match=r"built for flat examples of shape \(64,\).*"
                                         r"X\.reshape\(len\(X\), 1, 8, 8\)"):
        StandardTraining(module=SmallCNN, **CHEAP).fit(flat, y)
    # a type refused for an argument given by hand: that argument is the cause
    from robustsk.defenses import SDPCertifiedNetwork  # one hidden layer: an int width
    with pytest.raises(TypeError, match=r"module__hidden_units=\(16,\)\. Nothing") as exc:
        SDPCertifiedNetwork(module__hidden_units=(16,), **CHEAP).fit(flat, y)
    assert "flat examples" not in str(exc.value)
    # a network given as an instance was not built for X's shape: no images hint
    deep = torch.nn.Sequential(torch.nn.Linear(64, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8),
                               torch.nn.ReLU(), torch.nn.Linear(8, 10))
    with pytest.raises(TypeError, match=r"exactly one hidden layer.*C\)\)\. The") as exc:
        SDPCertifiedNetwork(module=deep, **CHEAP).fit(flat, y)
    assert "flat examples" not in str(exc.value)


class KeywordNet(torch.nn.Module):
    """Logits divided by a temperature that fit can pass (skorch's fit_params)."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16),
                                            torch.nn.ReLU())
        self.head = torch.nn.Linear(16, 10)
        self.temperatures = []

    def forward(self, x, temperature=1.0):
        self.temperatures.append(temperature)
        return self.head(self.features(x)) / temperature


def test_fit_params_reach_the_network_or_are_refused_before_any_work(data):
    """Defenses that call the network without them ignored them (AFD crashed mid-fit)."""
    from robustsk.defenses import (
        AdversarialFeatureDesensitization,
        DomainInvariantAdversarialLearning,
        JacobianSaliencyRegularization,
        MarginBoostingEnsemble,
        RobustUpperBoundTraining,
        TRSEnsemble,
    )
    X, y = data
    clf = AdversarialTraining(module=KeywordNet(), **CHEAP).fit(X, y, temperature=2.0)
    assert 2.0 in clf.module_.temperatures  # (the fit trains a copy of the instance)
    for cls in (AdversarialFeatureDesensitization, DomainInvariantAdversarialLearning,
                JacobianSaliencyRegularization, MarginBoostingEnsemble,
                RobustUpperBoundTraining, TRSEnsemble):
        assert not cls.forwards_fit_params
        net = KeywordNet()
        clf = cls(module=net, **CHEAP)
        with pytest.raises(TypeError, match=rf"{cls.__name__}.fit got the keyword arguments "
                                            r"\['temperature'\].*fit\(X, y\) only"):
            clf.fit(X, y, temperature=2.0)
        assert net.temperatures == [] and not hasattr(clf, "module_")


def test_a_refit_refused_at_fit_time_keeps_the_fitted_model_and_its_history(data):
    """A misspelled fit keyword failed in forward, and a validation-monitoring callback
    was refused, only after the network was rebuilt (and the history cleared in place)."""
    X, y = data
    clf = StandardTraining(**CHEAP).fit(X, y)
    before, rows = clf.predict_proba(X), len(clf.history)
    with pytest.raises(TypeError, match=r"keyword arguments \['sample_weights'\], which the "
                                        r"default network's forward does not take"):
        clf.fit(X, y, sample_weights=np.ones(len(y)))
    with pytest.raises(ValueError, match="monitors validation data"):
        clf.set_params(callbacks=[EarlyStopping()]).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    assert len(clf.history) == rows
    with pytest.raises(TypeError, match=r"\['temp'\], which KeywordNet's forward does not "
                                        r"take \(its parameters: x, temperature\)"):
        StandardTraining(module=KeywordNet, **CHEAP).fit(X, y, temp=2.0)


def test_a_device_set_since_fit_is_refused_by_predictions_and_meta_by_fit(data):
    """set_params(device=...) left the network where it was fitted, and predict then moved
    X to the new device (torch's "not compiled with CUDA" or device-mismatch error)."""
    X, y = data
    clf = StandardTraining(**CHEAP).fit(X, y)
    before = clf.predict_proba(X)
    clf.set_params(device=torch.device("cpu"))  # the same device, spelt otherwise
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    clf.set_params(device="meta")
    for call in (lambda: clf.predict(X), lambda: clf.score_adversarial(X, y)):
        with pytest.raises(ValueError, match=r"fitted on device='cpu', and device='meta' was "
                                             r"set since.*set_params\(device='cpu'\)"):
            call()
    with pytest.raises(ValueError, match=r"device='meta' holds no data"):
        clf.partial_fit(X, y)
    with pytest.raises(ValueError, match=r"device='meta' holds no data"):
        StandardTraining(**{**CHEAP, "device": "meta"}).fit(X, y)
    np.testing.assert_array_equal(clf.set_params(device="cpu").predict_proba(X), before)
