"""Checkpoint a long fit every few epochs and resume it, bit for bit, after a crash.

:class:`TrainingCheckpoint` is a skorch callback. Why not skorch's own
``Checkpoint`` and ``LoadInitState``: they write the module, the optimizer,
the criterion and the history to separate files, one after the other and in
place (a kill between or during the writes leaves a mixed or truncated set),
they do not save the random streams, and a resumed fit trains ``max_epochs``
*more* epochs. Here one file holds everything a fit needs to go on exactly
as if it had never stopped, written to a temporary file and renamed over the
previous checkpoint with ``os.replace`` (atomic on POSIX and Windows), and
read back with ``torch.load(weights_only=True)``, which never runs code from
the file.
"""
import contextlib
import hashlib
import json
import os
from pathlib import Path

import numpy as np
from skorch.callbacks import Callback, EpochScoring
from skorch.history import History
import torch

from . import __version__
from .guard import interrupted_at
from .training_state import restore, snapshot

__all__ = ["TrainingCheckpoint", "epochs_resumed", "load_checkpoint", "fingerprint"]

_FORMAT = "robustsk-training-checkpoint"
_FORMAT_VERSION = 2  # 2: a SHA-256 of the contents ("sha256"); 1 (without it) is still read
_READABLE_VERSIONS = (1, 2)


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"history value {value!r} of type {type(value).__name__} is not JSON")


def _plain(value):
    """Numbers, strings, None and lists or dicts of them: what torch.load(weights_only=True)
    reads back."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def _scheduler_states(net):
    """The state of each learning-rate scheduler callback's torch scheduler (skorch's
    LRScheduler rebuilds it at every fit's start, from epoch 0), by callback name."""
    states = {}
    for name, cb in getattr(net, "callbacks_", ()):
        scheduler = getattr(cb, "lr_scheduler_", None)
        state = scheduler.state_dict() if hasattr(scheduler, "state_dict") else None
        if state is not None and _plain(state):
            states[name] = state
    return states


def _rng_state(net):
    state = {"torch": torch.get_rng_state()}
    if str(net.device).startswith("cuda") and torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state(torch.device(net.device))
    return state


def _set_rng_state(net, state):
    torch.set_rng_state(state["torch"])
    if "cuda" in state and str(net.device).startswith("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"], torch.device(net.device))


_NOT_FINGERPRINTED = ("callbacks", "max_epochs", "warm_start", "verbose", "device")


def _simple(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    if isinstance(value, (tuple, list)) and all(_simple(v) is not _SKIP for v in value):
        return [_simple(v) for v in value]
    return _SKIP


_SKIP = object()


def fingerprint(net, X, y):
    """A SHA-256 of the training data and of the estimator's plain parameters.

    A checkpoint is resumed only by a fit of the same data with the same
    parameters (``max_epochs``, ``callbacks``, ``device``, ``verbose``,
    ``warm_start`` aside; parameters that are objects, such as a module
    instance, are not compared), so that e.g. the folds of a cross-validation
    sharing one ``dirname`` never resume each other.
    """
    digest = hashlib.sha256()
    for array in (X, y):
        if array is None:
            continue
        data = np.ascontiguousarray(np.asarray(array))
        if data.dtype != object:
            digest.update(str((data.shape, data.dtype.str)).encode())
            digest.update(memoryview(data).cast("B"))
    params = {k: _simple(v) for k, v in net.get_params(deep=False).items()
              if k not in _NOT_FINGERPRINTED and not k.startswith("callbacks__")}
    digest.update(json.dumps({k: v for k, v in sorted(params.items()) if v is not _SKIP},
                             default=str).encode())
    return digest.hexdigest()


def _digest(obj, h=None):
    """SHA-256 of a checkpoint's contents (tensors by dtype, shape and bytes), in hex."""
    top = h is None
    h = hashlib.sha256() if top else h
    if isinstance(obj, dict):
        h.update(b"{%d" % len(obj))
        for key in sorted(obj, key=repr):
            h.update(repr(key).encode())
            _digest(obj[key], h)
    elif isinstance(obj, (list, tuple)):
        h.update(b"[%d" % len(obj))
        for item in obj:
            _digest(item, h)
    elif isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    else:
        h.update(f"{type(obj).__name__}:{obj!r}".encode())
    return h.hexdigest() if top else None


def _atomic_save(obj, path):
    """``torch.save`` to a temporary file beside ``path``, synced, then renamed over it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # a failed or interrupted write never replaces the good file
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (POSIX)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def load_checkpoint(path, map_location="cpu"):
    """Read a checkpoint file safely (``torch.load(weights_only=True)``) and check its format.

    Parameters
    ----------
    path : str or Path
    map_location : str or torch.device, default="cpu"

    Returns
    -------
    dict
        ``epoch``, ``estimator`` (class name), ``random_seed``, ``modules``
        and ``optimizers`` (state dicts by name), ``history`` (JSON text),
        ``rng`` (random generator states), ``robustsk_version``.

    Raises
    ------
    ValueError
        The file is truncated, corrupted (its contents differ from the
        SHA-256 written with them, or a field a resume reads is missing or of
        the wrong kind), not a robustsk checkpoint, or would need to run code
        to load.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        raise ValueError(
            f"cannot read the checkpoint {str(path)!r}: it is truncated, corrupted or not a "
            f"robustsk checkpoint ({type(exc).__name__}: {str(exc)[:200]}). Delete it to "
            "start the fit afresh.") from exc
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        raise ValueError(f"{str(path)!r} is not a robustsk training checkpoint: delete it or "
                         "give TrainingCheckpoint another dirname.")
    if state.get("format_version") not in _READABLE_VERSIONS:
        raise ValueError(
            f"{str(path)!r} has checkpoint format {state.get('format_version')!r} (written by "
            f"robustsk {state.get('robustsk_version')}); this robustsk reads formats "
            f"{', '.join(map(str, _READABLE_VERSIONS))}. Delete it to start afresh.")
    damaged = f"the checkpoint {str(path)!r} is damaged"
    if "sha256" in state or state["format_version"] >= 2:
        saved = state.pop("sha256", None)
        if saved != _digest(state):
            raise ValueError(f"{damaged}: its contents do not match the SHA-256 written with "
                             "them (a changed byte, or a file edited by hand). Delete it to "
                             "start the fit afresh.")
    _check_fields(state, damaged)
    return state


def _check_fields(state, damaged):
    """Every field a resume reads, of the right kind, before anything is restored."""
    expected = {"epoch": int, "random_seed": int, "modules": dict, "optimizers": dict,
                "history": str, "rng": dict, "estimator": str}
    for key, kind in expected.items():
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            raise ValueError(f"{damaged}: its field {key!r} is {state.get(key)!r:.80}, "
                             f"expected a {kind.__name__}. Delete it to start the fit afresh.")
    try:
        rows = json.loads(state["history"])
    except ValueError:
        rows = None
    if not isinstance(rows, list) or len(rows) != state["epoch"]:
        raise ValueError(f"{damaged}: its history is not a list of {state['epoch']} epochs. "
                         "Delete it to start the fit afresh.")
    rng = state["rng"].get("torch")
    if not (isinstance(rng, torch.Tensor) and rng.dtype == torch.uint8
            and rng.shape == torch.get_rng_state().shape):
        raise ValueError(f"{damaged}: its random generator state is not torch's. Delete it "
                         "to start the fit afresh.")


class TrainingCheckpoint(Callback):
    """Save the whole training state every ``every`` epochs; resume from it in ``fit``.

    A checkpoint holds every module and optimizer of the estimator (a defense
    with extra networks and optimizers, e.g. AFD's critic, included), the
    history, the epoch counter, the resolved seed and the state of torch's
    random generator, which draws the training attacks' noise (and CUDA's
    generator on a GPU). That covers every random stream of a robustsk fit:
    ``training_randomness()`` is torch's generator, a defense needing numpy
    draws seeds it from that stream (``InterpolatedAdversarialTraining``),
    the batch iterator shuffles each epoch with a generator seeded by the
    resolved seed and the epoch's number (:func:`robustsk.base.shuffle_seed`,
    so the restored history is all it needs), and numpy's global generator is
    not used. A fit that starts with a checkpoint in ``dirname`` (and
    ``resume=True``) loads it and trains only
    the epochs left to ``max_epochs``: rerunning the same script after a
    crash or a kill ends with the same weights and history, bit for bit on a
    CPU, as a run that was never interrupted (wall-clock ``dur`` aside).

    The file is written to a temporary file, synced to disk, and renamed over
    the previous one, so a kill during the write leaves the previous good
    checkpoint in place. It is read with ``torch.load(weights_only=True)``:
    loading never runs code from the file. A fit that diverges
    (:class:`~robustsk.guard.TrainingDivergedError`) or is interrupted writes
    nothing more, so the last good checkpoint stays.

    It saves once every callback's ``on_epoch_end`` has run (the estimator
    calls its ``on_epoch_closed``), so the saved history row holds what later
    callbacks recorded too. skorch's ``LRScheduler`` callbacks get their
    schedulers' state back (at the first resumed epoch's start) and its
    scoring callbacks their best scores (from the resumed history), wherever
    the checkpoint stands among the callbacks. Other state that callbacks keep
    themselves (``EarlyStopping``'s count of epochs without improvement) and
    defense attributes outside modules and optimizers are not saved. A
    checkpoint resumes only a fit of the same data and parameters
    (:func:`fingerprint`; ``max_epochs`` may differ): a fit of other data,
    e.g. another cross-validation fold given the same ``dirname``, raises
    ``ValueError`` rather than resuming the wrong model. Raising
    ``max_epochs`` to train longer continues the fit; it is the
    uninterrupted fit of the larger ``max_epochs`` only for defenses whose
    training does not depend on ``max_epochs``. Schedules given as fractions
    of ``max_epochs`` (DIAL's reversal weight, TRS's radius warm-up, FOSC's
    ``c_t``, FAT's ``tau_schedule``, margin boosting's stages) follow the
    new ``max_epochs`` from the resumed epoch on, having followed the old
    one before it.

    Parameters
    ----------
    dirname : str or path-like
        Folder of the checkpoint (created); the file is ``checkpoint.pt``.
    every : int, default=1
        Write after every ``every``-th epoch, and after the fit's last epoch.
    resume : bool, default=True
        Load an existing checkpoint when a fit starts from scratch (not a
        ``warm_start`` or ``partial_fit`` continuation). False starts afresh
        and overwrites it.

    Attributes
    ----------
    path : Path
        The checkpoint file.
    resumed_epochs_ : int
        Epochs loaded from the checkpoint by the last fit (0: none).
    saved_epoch_ : int or None
        The epoch of the last checkpoint written by this fit.

    Examples
    --------
    >>> import tempfile
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import AdversarialTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> folder = tempfile.mkdtemp()
    >>> clf = AdversarialTraining(n_iter=2, max_epochs=2, random_state=0,
    ...                           callbacks=[TrainingCheckpoint(folder)]).fit(X[:100], y[:100])
    >>> load_checkpoint(f"{folder}/checkpoint.pt")["epoch"]
    2
    """

    def __init__(self, dirname, every=1, resume=True):
        self.dirname = dirname
        self.every = every
        self.resume = resume

    @property
    def path(self):
        """The checkpoint file: ``dirname / "checkpoint.pt"`` (a :class:`pathlib.Path`)."""
        return Path(self.dirname) / "checkpoint.pt"

    def initialize(self):
        if not isinstance(self.every, int) or isinstance(self.every, bool) or self.every < 1:
            raise ValueError(f"TrainingCheckpoint(every={self.every!r}): expected an integer "
                             ">= 1, the number of epochs between checkpoints.")
        self.resumed_epochs_ = 0
        self.saved_epoch_ = None
        self._last_epoch = None
        self._fingerprint = None
        self._schedulers = {}
        return self

    # ------------------------------------------------------------- writing
    def state(self, net):
        """The checkpoint of ``net`` as it is now (a dict ``torch.save`` can write)."""
        saved = snapshot(net)
        return {
            "format": _FORMAT, "format_version": _FORMAT_VERSION,
            "robustsk_version": __version__, "estimator": type(net).__name__,
            "epoch": len(net.history), "random_seed": int(getattr(net, "random_seed_", 0)),
            "modules": saved["modules"], "optimizers": saved["optimizers"],
            "history": json.dumps(net.history.to_list(), default=_jsonable),
            "rng": _rng_state(net), "fingerprint": self._fingerprint or "",
            "schedulers": _scheduler_states(net),
        }

    def _stamped(self, net):
        state = self.state(net)
        state["sha256"] = _digest(state)
        return state

    def save(self, net):
        """Write the checkpoint now (atomically)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_save(self._stamped(net), self.path)
        self.saved_epoch_ = len(net.history)

    def _get_param_names(self):
        # skorch lists every attribute not ending in "_": the fit's bookkeeping is no
        # parameter (get_params, clone and set_params would trip over it)
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    def on_epoch_closed(self, net):
        """Save when due, after every callback has written the epoch's history row
        (called by the estimator once all ``on_epoch_end`` hooks have run)."""
        epoch = len(net.history)
        if epoch % self.every == 0 or epoch == self._last_epoch:
            self.save(net)

    def on_train_end(self, net, **kwargs):
        # a fit stopped early (EarlyStopping) after an epoch not yet saved; an
        # interrupted fit has been rolled back to its last epoch by TrainingGuard,
        # but torch's generator has moved on: write nothing then.
        if interrupted_at(net) is None and len(net.history) and self.saved_epoch_ != len(net.history):
            self.save(net)

    # ------------------------------------------------------------- reading
    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.resumed_epochs_ = 0
        self.saved_epoch_ = None
        self._schedulers = {}
        self._fingerprint = fingerprint(net, X, y)
        if self.resume and len(net.history) == 0 and self.path.exists():
            self._load(net)
            # scoring callbacks that began before this one read an empty history: their
            # best score (the "_best" flags) comes from the resumed history
            for _, cb in net.callbacks_:
                if isinstance(cb, EpochScoring):
                    cb.on_train_begin(net, X=X, y=y)
        self._last_epoch = len(net.history) + max(int(net.max_epochs) - self.resumed_epochs_, 0)

    def on_epoch_begin(self, net, **kwargs):
        # every callback's on_train_begin has run: the learning-rate schedulers exist now.
        # One built after the resume (skorch passes last_epoch=len(history) - 1) may have
        # stepped the restored learning rates once more: they go back to the saved ones
        for name, cb in net.callbacks_:
            scheduler = getattr(cb, "lr_scheduler_", None)
            if name in self._schedulers and scheduler is not None:
                state = self._schedulers[name]
                scheduler.load_state_dict(state)
                for group, lr in zip(scheduler.optimizer.param_groups, state.get("_last_lr", ())):
                    group["lr"] = lr
        self._schedulers = {}

    def _load(self, net):
        state = load_checkpoint(self.path, map_location=net.device)
        if state["estimator"] != type(net).__name__:
            raise ValueError(
                f"the checkpoint {str(self.path)!r} was written by {state['estimator']}, not "
                f"{type(net).__name__}: give TrainingCheckpoint another dirname, or delete the "
                "file (or pass resume=False) to start afresh.")
        if state.get("fingerprint") != self._fingerprint:
            raise ValueError(
                f"the checkpoint {str(self.path)!r} was written by a fit of other data or "
                "other parameters than this one, so it cannot resume it: give each fit its "
                "own dirname (in a grid search or cross-validation too), or delete the file "
                "(or pass resume=False) to start afresh.")
        try:
            restore(net, state)
        except ValueError as exc:
            raise ValueError(f"cannot resume from {str(self.path)!r}: {exc} Give "
                             "TrainingCheckpoint another dirname, or delete the file (or pass "
                             "resume=False) to start afresh.") from exc
        net.history_ = History(json.loads(state["history"]))
        net.random_seed_ = int(state["random_seed"])
        _set_rng_state(net, state["rng"])
        self.resumed_epochs_ = int(state["epoch"])
        self.saved_epoch_ = self.resumed_epochs_
        self._schedulers = dict(state.get("schedulers", {}))  # restored at the epoch's start
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            with contextlib.suppress(OSError):  # left by a process killed while writing
                stale.unlink()


def epochs_resumed(net):
    """Epochs the current fit of ``net`` loaded from a :class:`TrainingCheckpoint` (0: none)."""
    return sum(cb.resumed_epochs_ for _, cb in getattr(net, "callbacks_", ())
               if isinstance(cb, TrainingCheckpoint) and hasattr(cb, "resumed_epochs_"))
