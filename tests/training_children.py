"""Fits run in child processes by tests/test_checkpoint.py and tests/test_guard.py.

Each child is forked from the test process (``multiprocessing``'s "fork"
context: torch is already imported, so a child costs no start-up), writes a
marker file when it reaches the point where the parent should kill or
interrupt it, and then sleeps until it is.
"""
import io
import json
import multiprocessing
import os
from pathlib import Path
import signal
import sys
import time
import warnings

import numpy as np
from skorch.callbacks import Callback
import torch

from robustsk.checkpoint import TrainingCheckpoint
from robustsk.datasets import load_digits_images
from robustsk.defenses import (
    TRADES,
    AdversarialFeatureDesensitization,
    AdversarialTraining,
    DomainInvariantAdversarialLearning,
)

DEFENSES = {"madry": AdversarialTraining, "trades": TRADES,
            "afd": AdversarialFeatureDesensitization, "dial": DomainInvariantAdversarialLearning}
MAX_EPOCHS = 4


def data(n=192):
    X, y = load_digits_images(return_X_y=True)
    return X[:n].reshape(n, -1), y[:n]


def make(name, callbacks=None, **params):
    """A tiny, fast estimator: an MLP with one hidden layer of 32, 2 attack steps, 3 batches."""
    params = {"module__hidden_units": (32,), "n_iter": 2, "eps": 0.2, "max_epochs": MAX_EPOCHS,
              "batch_size": 64, "random_state": 0, **params}
    return DEFENSES[name](callbacks=callbacks, **params)


def fitted_state(clf):
    """Everything the tests compare: weights of every module, optimizer states, history."""
    modules = {"module": clf.module_.state_dict()}
    modules.update({n: getattr(clf, n + "_").state_dict() for n in clf.extra_modules})
    history = [{k: v for k, v in row.items() if k != "dur"} for row in clf.history.to_list()]
    return {"modules": modules, "optimizers": [o.state_dict() for o in clf.optimizers()],
            "history": json.dumps(history)}


class PauseAt(Callback):
    """Write ``marker`` at the end of batch ``batch`` of epoch ``epoch``, then sleep."""

    def __init__(self, marker, epoch, batch=2):
        self.marker, self.epoch, self.batch = marker, epoch, batch

    def on_batch_end(self, net, training=False, **kwargs):
        if training and len(net.history) == self.epoch \
                and len(net.history[-1]["batches"]) == self.batch \
                and not Path(self.marker).exists():  # once
            Path(self.marker).write_text("paused")
            time.sleep(120)


class EpochEndCopy(Callback):
    """Keep a copy of the fitted state at the end of every epoch."""

    def on_epoch_end(self, net, **kwargs):
        self.copy = {"module": {k: v.clone() for k, v in net.module_.state_dict().items()},
                     "n_epochs": len(net.history)}


def _slow_second_save(marker):
    """Make the checkpoint of epoch 2 write half its bytes, then hang (to be killed)."""
    real = torch.save

    def save(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("epoch") == 2:
            buffer = io.BytesIO()
            real(obj, buffer)
            f.write(buffer.getvalue()[:len(buffer.getvalue()) // 2])
            f.flush()
            Path(marker).write_text("writing")
            time.sleep(120)
        return real(obj, f, *args, **kwargs)
    torch.save = save


def fit_until_killed(name, dirname, marker, during="epoch"):
    torch.set_num_threads(1)
    X, y = data()
    callbacks = [TrainingCheckpoint(dirname, every=1)]
    if during == "write":
        _slow_second_save(marker)
    else:
        callbacks.append(PauseAt(marker, epoch=3))
    make(name, callbacks).fit(X, y)


def resume(name, dirname, out):
    torch.set_num_threads(1)
    X, y = data()
    checkpoint = TrainingCheckpoint(dirname, every=1)
    clf = make(name, [checkpoint]).fit(X, y)
    torch.save({"state": fitted_state(clf), "resumed": checkpoint.resumed_epochs_}, out)


def fit_until_interrupted(name, marker, out):
    """Fit, get Ctrl-C in epoch 3; record what the estimator kept; exit 130 as Python would."""
    torch.set_num_threads(1)
    X, y = data()
    copy = EpochEndCopy()
    clf = make(name, [copy, PauseAt(marker, epoch=3)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            clf.fit(X, y)
            raised = False
        except KeyboardInterrupt:
            raised = True
    same = all(torch.equal(v, clf.module_.state_dict()[k]) for k, v in copy.copy["module"].items())
    rows_complete = all("train_loss" in row for row in clf.history)
    n_epochs, copied_epochs = len(clf.history), copy.copy["n_epochs"]
    accuracy = float(np.mean(clf.predict(X) == y))
    clf.set_params(warm_start=True, max_epochs=1, callbacks=None)
    clf.fit(X, y)  # a usable estimator: training goes on from there
    Path(out).write_text(json.dumps({
        "raised": raised, "n_epochs": n_epochs, "copied_epochs": copied_epochs,
        "weights_are_last_epoch": same, "rows_complete": rows_complete, "accuracy": accuracy,
        "history_after_continue": len(clf.history),
        "warnings": [str(w.message) for w in caught]}))
    os._exit(130)


def run_report_until_interrupted(output, marker, stderr_path):
    """``robustsk report`` on two models, interrupted while attacking the second."""
    from robustsk.report.cli import main
    import robustsk.report.run as run
    torch.set_num_threads(1)
    real, calls = run.attack_curve, []

    def attack_curve(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            Path(marker).write_text("second model")
            time.sleep(120)
        return real(*args, **kwargs)
    run.attack_curve = attack_curve
    with open(stderr_path, "w") as err:
        sys.stderr = err  # what main prints to stderr, for the test to read
        status = main(["report", "--defenses", "standard,fast", "--attacks", "fgsm",
                       "--epochs", "1", "--n-train", "120", "--n-test", "30", "--eps-grid",
                       "0,0.1", "--no-masking-checks", "--quiet", "--output", str(output)])
        err.flush()
    os._exit(status)


def warm_up():
    """Import what a first fit imports (torch's optimizers pull in torch._dynamo, seconds),
    once in the test process, so that forked children do not each pay for it."""
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def _interactive(target, *args):
    # A shell starts background jobs with SIGINT ignored, and Python then keeps it
    # ignored: restore Python's own handler (KeyboardInterrupt), as in a terminal.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    target(*args)


def start(target, *args):
    """Run ``target(*args)`` in a forked child process."""
    process = multiprocessing.get_context("fork").Process(target=_interactive,
                                                           args=(target, *args))
    process.start()
    return process


def wait_for(path, process, timeout=120):
    """Wait until the child wrote ``path`` (or died: then fail loudly)."""
    deadline = time.monotonic() + timeout
    while not Path(path).exists():
        if not process.is_alive():
            raise AssertionError(f"the child exited with {process.exitcode} before {path}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the child did not reach {path} in {timeout} s")
        time.sleep(0.02)


def signal_and_join(process, sig, timeout=120):
    os.kill(process.pid, sig)
    process.join(timeout)
    if process.is_alive():
        process.kill()
        raise AssertionError(f"the child did not stop after signal {sig}")
    return process.exitcode

