"""TrainingCheckpoint: a fit killed with SIGKILL resumes to the same bits; writes are atomic."""
import json
import os
import signal

import pytest
import torch
import training_children as kids

from robustsk.checkpoint import TrainingCheckpoint, epochs_resumed, load_checkpoint


@pytest.fixture(autouse=True)
def one_thread():
    kids.warm_up()
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # the children use one thread too: same rounding
    yield
    torch.set_num_threads(previous)


def assert_same(a, b):
    """Bit-identical modules, optimizer states and history (wall-clock ``dur`` aside)."""
    assert json.loads(a["history"]) == json.loads(b["history"])
    for name in a["modules"]:
        for key, value in a["modules"][name].items():
            assert torch.equal(value, b["modules"][name][key]), (name, key)
    for opt_a, opt_b in zip(a["optimizers"], b["optimizers"], strict=True):
        assert opt_a["param_groups"] == opt_b["param_groups"]
        for index, state in opt_a["state"].items():
            for key, value in state.items():
                assert torch.equal(torch.as_tensor(value),
                                   torch.as_tensor(opt_b["state"][index][key])), (index, key)


@pytest.mark.parametrize("name,during", [("madry", "epoch"), ("trades", "epoch"),
                                         ("afd", "epoch"), ("madry", "write")])
def test_sigkill_then_resume_is_bit_identical(tmp_path, name, during):
    dirname, marker, out = tmp_path / "ckpt", tmp_path / "marker", tmp_path / "resumed.pt"
    child = kids.start(kids.fit_until_killed, name, str(dirname), str(marker), during)
    kids.wait_for(marker, child)
    assert kids.signal_and_join(child, signal.SIGKILL) == -signal.SIGKILL
    saved = load_checkpoint(dirname / "checkpoint.pt")
    assert saved["epoch"] == (2 if during == "epoch" else 1)
    if during == "write":  # the half-written file is beside the good one, never in its place
        (partial,) = dirname.glob(".checkpoint.pt.*.tmp")
        with pytest.raises(ValueError, match="truncated, corrupted"):
            load_checkpoint(partial)
    resumer = kids.start(kids.resume, name, str(dirname), str(out))
    resumer.join(120)
    assert resumer.exitcode == 0
    resumed = torch.load(out, weights_only=True)
    assert resumed["resumed"] == saved["epoch"]
    assert not list(dirname.glob("*.tmp"))
    X, y = kids.data()
    reference = kids.fitted_state(kids.make(name).fit(X, y))
    assert len(json.loads(reference["history"])) == kids.MAX_EPOCHS
    assert_same(reference, resumed["state"])


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    real = torch.save

    def failing_save(obj, f, *args, **kwargs):
        if obj["epoch"] == 2:
            f.write(b"\x80\x02partial")
            raise OSError(28, "No space left on device")
        return real(obj, f, *args, **kwargs)
    monkeypatch.setattr(torch, "save", failing_save)
    X, y = kids.data()
    with pytest.raises(OSError, match="No space"):
        kids.make("madry", [TrainingCheckpoint(tmp_path)]).fit(X, y)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.pt"]


def test_every_and_last_epoch_and_resume_false(tmp_path):
    X, y = kids.data()
    saved = []

    class Spy(TrainingCheckpoint):
        def save(self, net):
            super().save(net)
            saved.append(len(net.history))
    kids.make("madry", [Spy(tmp_path, every=3)], max_epochs=4).fit(X, y)
    assert saved == [3, 4]
    checkpoint = TrainingCheckpoint(tmp_path, resume=False)
    kids.make("madry", [checkpoint], max_epochs=1).fit(X, y)
    assert checkpoint.resumed_epochs_ == 0
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1


def test_loading_refuses_code_corruption_and_other_estimators(tmp_path):
    X, y = kids.data()
    kids.make("madry", [TrainingCheckpoint(tmp_path)], max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="written by AdversarialTraining, not TRADES"):
        kids.make("trades", [TrainingCheckpoint(tmp_path)]).fit(X, y)
    with pytest.raises(ValueError, match="other data or other parameters"):
        kids.make("madry", [TrainingCheckpoint(tmp_path)], module__hidden_units=(8,)).fit(X, y)
    with pytest.raises(ValueError, match="other data or other parameters"):  # e.g. a CV fold
        kids.make("madry", [TrainingCheckpoint(tmp_path)]).fit(X[:100], y[:100])
    path = tmp_path / "checkpoint.pt"
    data = bytearray(path.read_bytes())
    state = torch.load(path, weights_only=True)
    weight = next(iter(state["modules"]["module"].values()))
    at = bytes(data).find(weight.numpy().tobytes()[:64])  # a byte inside the weights
    assert at > 0
    data[at + 3] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged: its contents do not match the SHA-256"):
        load_checkpoint(path)  # torch reads it: only the checksum sees the change
    for key, value in (("history", "not json"), ("modules", None), ("random_seed", "abc")):
        old = {k: v for k, v in state.items() if k != "sha256"}
        torch.save({**old, "format_version": 1, key: value}, path)  # format 1: no checksum
        with pytest.raises(ValueError, match=f"damaged: its (field {key!r}|history)"):
            load_checkpoint(path)
    path.write_bytes(bytes(data[:len(data) // 3]))
    with pytest.raises(ValueError, match="truncated, corrupted"):
        kids.make("madry", [TrainingCheckpoint(tmp_path)]).fit(X, y)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))
    torch.save({"format": "robustsk-training-checkpoint", "evil": Evil()}, path)
    with pytest.raises(ValueError, match="truncated, corrupted"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(ValueError, match="every=0"):
        kids.make("madry", [TrainingCheckpoint(tmp_path, every=0)]).fit(X, y)


@pytest.mark.parametrize("first", [True, False])
def test_resume_restores_learning_rate_schedulers_and_best_scores(tmp_path, first):
    """skorch rebuilds an LRScheduler's scheduler at every fit's start (StepLR stepped once
    more: other weights), and its validation scorer read the empty history before the
    checkpoint loaded (wrong valid_acc_best flags)."""
    from skorch.callbacks import LRScheduler
    from skorch.dataset import ValidSplit

    from robustsk.datasets import load_digits_images
    from robustsk.defenses import AdversarialTraining
    X, y = load_digits_images(return_X_y=True)
    X, y = X[:160], y[:160]

    def fit(max_epochs, folder=None):
        callbacks = [("lrs", LRScheduler("StepLR", step_size=1, gamma=0.5))]
        if folder is not None:
            checkpoint = TrainingCheckpoint(folder)
            callbacks = [checkpoint] + callbacks if first else callbacks + [checkpoint]
        return AdversarialTraining(max_epochs=max_epochs, n_iter=1, batch_size=32,
                                   random_state=0, clip_min=0.0, clip_max=1.0,
                                   train_split=ValidSplit(4, stratified=False),
                                   callbacks=callbacks).fit(X, y)
    full = fit(4)
    fit(2, tmp_path)  # a job that stopped after 2 of its 4 epochs
    resumed = fit(4, tmp_path)
    assert epochs_resumed(resumed) == 2
    for a, b in zip(resumed.module_.parameters(), full.module_.parameters()):
        assert torch.equal(a, b)
    for column in ("event_lr", "valid_acc", "valid_acc_best", "valid_loss_best"):
        assert resumed.history[:, column] == full.history[:, column], column
