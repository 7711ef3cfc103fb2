"""robustsk.io: every estimator round-trips without pickle; bad files are refused clearly."""
import copy
import json
import os
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
import torch

from robustsk import io as rio
from robustsk.defenses import (
    EnsembleAdversarialTraining,
    RandomizedSmoothingClassifier,
    StandardTraining,
    TRSEnsemble,
    all_defenses,
)
from robustsk.io.container import pack, unpack
from robustsk.modules import MLP

DEFENSES = all_defenses()
CHEAP = {"max_epochs": 1, "n_iter": 1, "batch_size": 32, "random_state": 0,
         "clip_min": 0.0, "clip_max": 1.0}
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def data(digits):
    X_tr, _, y_tr, _ = digits
    return X_tr[:96], y_tr[:96]


def round_trip(obj, tmp_path, **kwargs):
    path = tmp_path / "model.rsk"
    rio.save(obj, path)
    assert path.read_bytes().startswith(b"robustsk-model\n")
    return rio.load(path, **kwargs)


def same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("name", sorted(DEFENSES))
def test_every_defense_round_trips(name, data, tmp_path):
    X, y = data
    est = DEFENSES[name](**CHEAP).fit(X, y)
    back = round_trip(est, tmp_path)
    assert type(back) is type(est) and repr(back) == repr(est)
    np.testing.assert_array_equal(back.predict_proba(X[:40]), est.predict_proba(X[:40]))
    np.testing.assert_array_equal(back.classes_, est.classes_)
    assert back.threat_ == est.threat_ or str(back.threat_) == str(est.threat_)
    assert list(back.history[:, "train_loss"]) == list(est.history[:, "train_loss"])
    for opt_a, opt_b in zip(est.optimizers(), back.optimizers()):
        assert len(opt_a.state_dict()["state"]) == len(opt_b.state_dict()["state"])


def test_unfitted_estimator_and_nested_params(tmp_path):
    from skorch.callbacks import EpochScoring, LRScheduler
    from skorch.dataset import ValidSplit
    est = StandardTraining(lr=0.01, module__hidden_units=(8,), criterion__weight=torch.ones(3),
                           classes=np.array(["a", "b", "c"]), eps=np.float32(0.2),
                           callbacks=[EpochScoring("accuracy", on_train=True),
                                      LRScheduler(torch.optim.lr_scheduler.StepLR, step_size=2)],
                           train_split=ValidSplit(0.2, random_state=0))
    back = round_trip(est, tmp_path)
    assert repr(back.callbacks[1].policy) == repr(torch.optim.lr_scheduler.StepLR)
    assert back.callbacks[1].step_size == 2 and back.train_split.cv == 0.2
    assert not back.__sklearn_is_fitted__()
    assert back.lr == 0.01 and back.module__hidden_units == (8,)
    assert torch.equal(back.criterion__weight, torch.ones(3))
    assert back.classes.tolist() == ["a", "b", "c"] and type(back.eps) is np.float32


def test_string_labels_and_module_instances(data, tmp_path):
    X, y = data
    labels = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven",
                       "eight", "nine"], dtype=object)[y]
    torch.manual_seed(0)
    net = MLP((1, 8, 8), 10, hidden_units=(16,))
    for est in (StandardTraining(module=net, **CHEAP),
                TRSEnsemble(module=net, n_members=2, **CHEAP)):
        est.fit(X, labels)
        back = round_trip(est, tmp_path)
        assert back.classes_.dtype == object and list(back.classes_) == list(est.classes_)
        np.testing.assert_array_equal(back.predict(X[:40]), est.predict(X[:40]))
        np.testing.assert_array_equal(back.predict_proba(X[:40]), est.predict_proba(X[:40]))
        # the module parameter is an instance again, with the weights it had
        assert isinstance(back.module, MLP) and back.module is not net
        assert same_state(back.module, net)


def test_loaded_model_continues_training_identically(data, tmp_path):
    X, y = data
    est = DEFENSES["AdversarialTraining"](**CHEAP).fit(X, y)
    back = round_trip(est, tmp_path)
    est.partial_fit(X, y)
    back.partial_fit(X, y)
    assert same_state(back.module_, est.module_)


def test_randomized_smoothing_round_trips(data, tmp_path):
    X, y = data
    clf = RandomizedSmoothingClassifier(StandardTraining(**CHEAP), n=40, n0=10,
                                        random_state=0).fit(X, y)
    back = round_trip(clf, tmp_path)
    np.testing.assert_array_equal(back.predict(X[:8]), clf.predict(X[:8]))
    for a, b in zip(back.certify(X[:8]), clf.certify(X[:8])):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.base_estimator_.predict_proba(X[:20]),
                                  clf.base_estimator_.predict_proba(X[:20]))


def test_pipeline_and_frozen_static_models_use_skops(data, tmp_path):
    X, y = data
    flat = X.reshape(len(X), -1)
    pipe = Pipeline([("scale", StandardScaler()),
                     ("clf", StandardTraining(**{**CHEAP, "clip_min": None, "clip_max": None}))])
    pipe.fit(flat, y)
    back = round_trip(pipe, tmp_path)
    assert isinstance(back, Pipeline) and isinstance(back[-1], StandardTraining)
    np.testing.assert_array_equal(back.predict_proba(flat[:40]), pipe.predict_proba(flat[:40]))
    np.testing.assert_array_equal(back[0].scale_, pipe[0].scale_)
    static = StandardTraining(**CHEAP).fit(X, y)
    eat = EnsembleAdversarialTraining(static_models=[FrozenEstimator(static)], **CHEAP).fit(X, y)
    back = round_trip(eat, tmp_path)
    np.testing.assert_array_equal(back.predict_proba(X[:30]), eat.predict_proba(X[:30]))
    frozen = back.static_models[0]
    assert isinstance(frozen, FrozenEstimator)
    assert same_state(frozen.estimator.module_, static.module_)
    clone(back).fit(X, y)  # the loaded parameters work for a refit


class TinyNet(torch.nn.Module):
    """A module class outside the default allow-list (this test module)."""

    def __init__(self, input_shape=(1, 8, 8), n_classes=10):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, n_classes))

    def forward(self, x):
        return self.body(x)


def test_untrusted_class_needs_trusted(data, tmp_path):
    X, y = data
    est = StandardTraining(module=TinyNet, **CHEAP).fit(X, y)
    rio.save(est, tmp_path / "m.rsk")
    with pytest.raises(rio.UnsafeFileError, match=r"not trusted.*trusted=\['test_io'\]"):
        rio.load(tmp_path / "m.rsk")
    back = rio.load(tmp_path / "m.rsk", trusted=["test_io"])
    np.testing.assert_array_equal(back.predict_proba(X[:20]), est.predict_proba(X[:20]))
    with pytest.raises(TypeError, match="no import path"):
        rio.dumps(StandardTraining(criterion=lambda: torch.nn.CrossEntropyLoss()))


# ------------------------------------------------------------------ refused files
@pytest.fixture(scope="module")
def saved(digits):
    X_tr, _, y_tr, _ = digits
    est = StandardTraining(max_epochs=1, batch_size=32, random_state=0,
                           module__channels=(4, 4), module__hidden_units=8).fit(X_tr[:64],
                                                                               y_tr[:64])
    return rio.dumps(est)


def test_truncated_file(saved):
    for cut in (0, 5, 20, 90, 200, len(saved) // 2, len(saved) - 1):
        with pytest.raises(rio.CorruptFileError, match="empty|truncated"):
            rio.loads(saved[:cut])


def test_changed_byte_is_detected(saved):
    rng = np.random.default_rng(0)
    positions = list(range(15, 400)) + rng.integers(400, len(saved), 60).tolist()
    for pos in positions:
        changed = bytearray(saved)
        changed[pos] ^= 0x01
        with pytest.raises(rio.CorruptFileError):
            rio.loads(bytes(changed))
    for pos in range(15):  # the magic line: not recognised as a model file
        changed = bytearray(saved)
        changed[pos] ^= 0x01
        with pytest.raises(rio.ModelFileError):
            rio.loads(bytes(changed))


def _repack(saved, header=None, spec=None):
    """A validly checksummed file with another header or spec (a forger's file)."""
    from safetensors.torch import load, save
    old, payload = unpack(saved)
    if spec is not None:
        payload = save(load(payload), metadata={"robustsk.spec": json.dumps(spec)})
    return pack({**old, **(header or {})}, payload)


def test_incompatible_versions(saved):
    with pytest.raises(rio.IncompatibleFileError, match="format 99.*Upgrade robustsk"):
        rio.loads(_repack(saved, {"format": 99}))
    with pytest.raises(rio.IncompatibleFileError, match="robustsk 7.0.0.*major versions differ"):
        rio.loads(_repack(saved, {"robustsk": "7.0.0"}))
    rio.loads(_repack(saved, {"torch": "9.9", "robustsk": rio.versions()["robustsk"]}))


def test_wrappers_that_load_could_never_read_are_refused_at_save(data):
    """GridSearchCV, VotingClassifier, ... were written, then refused by every load (private
    scorers, skorch nets inside skops data); a Pipeline and a BaggingClassifier load."""
    from sklearn.ensemble import BaggingClassifier, VotingClassifier
    from sklearn.model_selection import GridSearchCV
    X, y = data
    X = X.reshape(len(X), -1)
    for wrapper in (GridSearchCV(StandardTraining(**CHEAP), {"lr": [0.01]}, cv=2),
                    VotingClassifier([("a", StandardTraining(**CHEAP))], voting="soft")):
        with pytest.raises(TypeError, match=r"cannot save .* so that robustsk.io.load can read "
                                            r"it.*Save the robustsk estimators inside it"):
            rio.dumps(wrapper.fit(X, y))
    bagging = BaggingClassifier(StandardTraining(**CHEAP), n_estimators=2,
                                random_state=0).fit(X, y)
    np.testing.assert_array_equal(rio.loads(rio.dumps(bagging)).predict(X), bagging.predict(X))


def test_crafted_headers_and_values_are_refused_as_model_file_errors(saved):
    """A header nested deeper than Python's recursion limit, and a number out of its
    dtype's range, escaped as RecursionError and OverflowError."""
    magic, digest, rest = saved.split(b"\n", 2)
    _, payload = rest.split(b"\n", 1)
    with pytest.raises(rio.CorruptFileError):
        rio.loads(b"\n".join([magic, digest, b"[" * 100000 + b"]" * 100000, payload]))
    from safetensors.torch import load
    _, payload = unpack(saved)
    spec = json.loads(_load_metadata(payload)["robustsk.spec"])
    spec["params"]["lr"] = {"$": "npscalar", "dtype": "int8", "value": 1000}
    with pytest.raises(rio.CorruptFileError, match="OverflowError"):
        rio.loads(_repack(saved, spec=spec))
    assert load(payload)  # the tensors themselves were fine


def _load_metadata(payload):
    import struct
    size = struct.unpack("<Q", payload[:8])[0]
    return json.loads(payload[8:8 + size])["__metadata__"]


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch robustsk-pwned",))


def test_pickles_and_forged_imports_run_no_code(saved, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for proto in (0, 2, 4, 5):
        with pytest.raises(rio.UnsafeFileError, match="pickle.*runs code"):
            rio.loads(pickle.dumps(_RunsCode(), protocol=proto))
    torch.save({"w": torch.ones(2)}, tmp_path / "w.pt")
    with pytest.raises(rio.UnsafeFileError, match="torch.save"):
        rio.load(tmp_path / "w.pt")
    import joblib
    joblib.dump(_RunsCode(), tmp_path / "m.joblib", compress=3)
    with pytest.raises(rio.UnsafeFileError, match="compressed"):
        rio.load(tmp_path / "m.joblib")
    # a forged spec naming os.system as the criterion, with a valid checksum
    _, payload = unpack(saved)
    spec = json.loads(rio._metadata(payload)["robustsk.spec"])
    spec["params"]["criterion"] = {"$": "import", "path": "os:system"}
    with pytest.raises(rio.UnsafeFileError, match="os.system, which is not trusted"):
        rio.loads(_repack(saved, spec=spec))
    spec["params"]["criterion"] = {"$": "import", "path": "robustsk.report.run:run_report"}
    with pytest.raises(rio.UnsafeFileError, match="not trusted"):  # writes files: denied
        rio.loads(_repack(saved, spec=spec))
    # a trusted module's attribute that is another module's function (robustsk.checkpoint
    # imports os), called by partial when the net builds its criterion: refused by name
    for path in ("robustsk.checkpoint:os.system", "robustsk.datasets:np.save"):
        spec["params"]["criterion"] = {
            "$": "partial", "func": {"$": "import", "path": path},
            "args": {"$": "tuple", "items": ["touch robustsk-pwned"]},
            "kwargs": {"$": "dict", "items": []}}
        with pytest.raises(rio.UnsafeFileError, match="not a class or function defined there"):
            rio.loads(_repack(saved, spec=spec))
    spec["params"]["criterion"] = {  # a private file writer of a trusted module
        "$": "partial", "func": {"$": "import", "path": "robustsk.checkpoint:_atomic_save"},
        "args": {"$": "tuple", "items": [1, "robustsk-pwned"]},
        "kwargs": {"$": "dict", "items": []}}
    with pytest.raises(rio.UnsafeFileError, match="private"):
        rio.loads(_repack(saved, spec=spec))
    spec["params"].pop("criterion")
    spec["attributes"]["predict"] = {"$": "import", "path": "robustsk.datasets:load_digits"}
    with pytest.raises(rio.UnsafeFileError, match="'predict'.*not a fitted attribute"):
        rio.loads(_repack(saved, spec=spec))
    with pytest.raises(rio.CorruptFileError, match="cannot be rebuilt"):
        rio.loads(_repack(saved, spec={"$": "estimator", "class": spec["class"]}))
    assert not (tmp_path / "robustsk-pwned").exists()
    with pytest.raises(rio.CorruptFileError, match="not a robustsk model"):
        rio.loads(b"hello world, not a model")


def test_trusted_packages_helpers_that_unpickle_or_write_files_are_refused(saved, tmp_path,
                                                                             monkeypatch):
    """Loading calls what the file names with the file's arguments (initialize builds the
    module): trusting torch.utils.data or skorch.callbacks wholesale let a file name a
    function that unpickles its argument, or a callback that makes directories."""
    import skops.io
    from torch.utils.data.datapipes.datapipe import _DataPipeSerializationWrapper
    monkeypatch.chdir(tmp_path)
    _, payload = unpack(saved)
    spec = json.loads(rio._metadata(payload)["robustsk.spec"])
    for path, match in (("torch.utils.data.datapipes.utils.decoder:basichandlers", "not trusted"),
                        ("torch.nn.modules.module:register_module_forward_hook",
                         "loading would call it")):
        forged = copy.deepcopy(spec)
        forged["params"]["module"] = {"$": "import", "path": path}
        with pytest.raises(rio.UnsafeFileError, match=match):
            rio.loads(_repack(saved, spec=forged))
    forged = copy.deepcopy(spec)
    forged["params"]["callbacks"] = [{
        "$": "callback", "class": "skorch.callbacks.training:Checkpoint",
        "params": {"dirname": str(tmp_path / "made-by-load")}}]
    with pytest.raises(rio.UnsafeFileError, match="Checkpoint, which is not trusted"):
        rio.loads(_repack(saved, spec=forged))
    assert not (tmp_path / "made-by-load").exists()
    forged = copy.deepcopy(spec)
    forged["params"]["device"] = {"$": "device", "name": "nonsense"}  # torch: RuntimeError
    with pytest.raises(rio.CorruptFileError, match="cannot be rebuilt"):
        rio.loads(_repack(saved, spec=forged))
    raw = skops.io.dumps(_DataPipeSerializationWrapper([1, 2]))  # unpickles in __setstate__
    with pytest.raises(rio.UnsafeFileError, match="_DataPipeSerializationWrapper"):
        rio.loads(raw)


def test_skops_data_holding_a_skorch_net_is_refused(data):
    import skops.io
    X, y = data
    est = StandardTraining(**CHEAP).fit(X, y)
    raw = skops.io.dumps(est)  # skops would restore it through torch.load (pickle)
    types = skops.io.get_untrusted_types(data=raw)
    with pytest.raises(rio.UnsafeFileError):
        rio.loads(raw, trusted=types)
    scaler = StandardScaler().fit(X.reshape(len(X), -1))
    back = rio.loads(skops.io.dumps(scaler))  # a plain skops file loads
    np.testing.assert_array_equal(back.mean_, scaler.mean_)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback without CUDA")
def test_cuda_model_loads_on_cpu_without_cuda():
    with pytest.warns(UserWarning, match="CUDA is not available: loaded on the CPU"):
        back = rio.loads(rio.dumps(StandardTraining(device="cuda")))
    assert back.device == "cpu"
    assert rio.loads(rio.dumps(StandardTraining(device="cuda")), device="cpu").device == "cpu"
    # asking for CUDA where there is none: a clear error before anything is read
    with pytest.raises(ValueError, match="CUDA is not available on this machine"):
        rio.loads(rio.dumps(StandardTraining()), device="cuda")
    with pytest.raises(ValueError, match="is not a torch device"):
        rio.loads(rio.dumps(StandardTraining()), device="gpu0")


def test_callbacks_with_their_default_print_sink_load(data, tmp_path):
    """PrintLog's and EarlyStopping's sink is print: trusted by name, not all of builtins."""
    from skorch.callbacks import EarlyStopping, PrintLog
    X, y = data
    est = StandardTraining(callbacks=[EarlyStopping(monitor="train_loss", patience=3),
                                      PrintLog()], **CHEAP).fit(X, y)
    back = round_trip(est, tmp_path)
    np.testing.assert_array_equal(back.predict_proba(X[:20]), est.predict_proba(X[:20]))
    from robustsk.io.trust import resolve, trusted_prefixes
    with pytest.raises(rio.UnsafeFileError, match=r"trusted=\['builtins.eval'\]") as exc:
        resolve("builtins:eval", trusted_prefixes())
    assert exc.value.untrusted == ["builtins.eval"]


def test_pending_set_params_are_refused_at_save(data, tmp_path):
    """The saved parameters would not match the fitted components: refused, not a file
    that fails to load (module__*) or loads an Adam state into SGD (optimizer)."""
    X, y = data
    est = StandardTraining(**CHEAP).fit(X, y)
    est.set_params(module__channels=(4, 8))
    assert est.pending_rebuild_ == {"module"}
    with pytest.raises(ValueError, match="changed by set_params and not yet used by a fit"):
        rio.save(est, tmp_path / "m.rsk")
    assert not (tmp_path / "m.rsk").exists()
    est.partial_fit(X, y)
    assert est.pending_rebuild_ == frozenset()
    back = round_trip(est, tmp_path)
    np.testing.assert_array_equal(back.predict_proba(X[:20]), est.predict_proba(X[:20]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_round_trip(data, tmp_path):
    X, y = data
    est = StandardTraining(**{**CHEAP, "device": "cuda"}).fit(X, y)
    back = round_trip(est, tmp_path)
    assert all(p.is_cuda for p in back.module_.parameters())
    np.testing.assert_array_equal(back.predict_proba(X[:30]), est.predict_proba(X[:30]))
    on_cpu = rio.load(tmp_path / "model.rsk", device="cpu")
    assert not any(p.is_cuda for p in on_cpu.module_.parameters())
    np.testing.assert_allclose(on_cpu.predict_proba(X[:30]), est.predict_proba(X[:30]),
                               atol=1e-5)
