"""TrainingGuard: NaN/inf stops a fit at its last good state; Ctrl-C keeps the last epoch."""
import copy
import json
import signal

import pytest
from skorch.callbacks import Callback
import torch
import training_children as kids

import robustsk
from robustsk.checkpoint import TrainingCheckpoint, load_checkpoint
from robustsk.defenses import AdversarialTraining


@pytest.fixture(autouse=True)
def warm():
    kids.warm_up()


class LrJump(Callback):
    """From epoch ``epoch`` on, every optimizer's learning rate is ``lr``."""

    def __init__(self, epoch, lr):
        self.epoch, self.lr = epoch, lr

    def on_epoch_begin(self, net, **kwargs):
        if len(net.history) == self.epoch:
            for optimizer in net.optimizers():
                for group in optimizer.param_groups:
                    group["lr"] = self.lr


class BeforeBatch(Callback):
    """A deep copy of every module and optimizer state before each training batch."""

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            modules = [net.module_] + [getattr(net, n + "_") for n in net.extra_modules]
            self.modules = [copy.deepcopy(m.state_dict()) for m in modules]
            self.optimizers = [copy.deepcopy(o.state_dict()) for o in net.optimizers()]


def assert_state_is(clf, before):
    modules = [clf.module_] + [getattr(clf, n + "_") for n in clf.extra_modules]
    for module, saved in zip(modules, before.modules, strict=True):
        for key, value in module.state_dict().items():
            assert torch.equal(value, saved[key]), key
    for optimizer, saved in zip(clf.optimizers(), before.optimizers, strict=True):
        state = optimizer.state_dict()
        assert state["param_groups"] == saved["param_groups"]
        assert state["state"].keys() == saved["state"].keys()
        for index, values in saved["state"].items():
            for key, value in values.items():
                assert torch.equal(torch.as_tensor(state["state"][index][key]),
                                   torch.as_tensor(value)), (index, key)


@pytest.mark.parametrize("name", ["madry", "afd"])  # afd: three optimizers, stepped in turn
def test_divergence_stops_at_the_last_good_state(tmp_path, name):
    X, y = kids.data()
    before = BeforeBatch()
    clf = kids.make(name, [TrainingCheckpoint(tmp_path), LrJump(3, 1e30), before])
    with pytest.raises(robustsk.TrainingDivergedError) as info:
        clf.fit(X, y)
    error = info.value
    assert isinstance(error, RuntimeError)
    assert error.epoch == 3 and error.batch >= 1
    message = str(error)
    assert f"epoch {error.epoch}, batch {error.batch}" in message
    assert "smaller lr" in message and "step_size" in message
    assert_state_is(clf, before)  # from before the bad batch: nothing half-updated
    assert all(torch.isfinite(p).all() for _, p in clf.get_all_learnable_params())
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2  # the last good one
    assert len(clf.history[-1]["batches"]) == error.batch - 1  # the bad batch is not recorded
    clf.predict(X)


class SqrtNet(torch.nn.Module):
    """Defined on x <= 1.05 only: an L2 attack step beyond it is NaN."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(64, 10)

    def forward(self, x):
        return self.linear(torch.sqrt(1.05 - x))


def test_a_nan_attack_iterate_is_named():
    X, y = kids.data()
    before = BeforeBatch()
    clf = AdversarialTraining(SqrtNet(), norm=2, eps=2.0, step_size=1.0, n_iter=3,
                              max_epochs=2, random_state=0, callbacks=[before])
    with pytest.raises(robustsk.TrainingDivergedError) as info:
        clf.fit(X, y)
    assert "attack iterate" in info.value.what
    message = str(info.value)
    assert "epoch 1, batch 1" in message
    assert message.index("step_size") < message.index("smaller lr")  # the likely cause first
    assert_state_is(clf, before)


def test_guard_adds_no_state_and_can_be_removed():
    X, y = kids.data()
    a = kids.make("madry", max_epochs=2).fit(X, y)
    b = kids.make("madry", max_epochs=2, callbacks__training_guard=None).fit(X, y)
    for key, value in a.module_.state_dict().items():
        assert torch.equal(value, b.module_.state_dict()[key])
    assert "training_guard" not in dict(b.callbacks_)


def test_sigint_during_fit_keeps_the_last_epoch(tmp_path):
    marker, out = tmp_path / "marker", tmp_path / "out.json"
    child = kids.start(kids.fit_until_interrupted, "madry", str(marker), str(out))
    kids.wait_for(marker, child)
    assert kids.signal_and_join(child, signal.SIGINT) == 130
    result = json.loads(out.read_text())
    assert result["raised"]  # fit re-raises KeyboardInterrupt (skorch alone returns)
    assert result["n_epochs"] == result["copied_epochs"] == 2
    assert result["weights_are_last_epoch"] and result["rows_complete"]
    assert 0 <= result["accuracy"] <= 1  # predict works
    assert result["history_after_continue"] == 3
    assert any("interrupted in epoch 3, batch 2" in w and "2 completed epochs" in w
               for w in result["warnings"])
