"""Stop a fit that diverges, and leave an interrupted fit at its last completed epoch.

:class:`TrainingGuard` is one of every robustsk estimator's default callbacks
(named ``"training_guard"``). Per training batch it checks, with one host
synchronisation, that the loss, the gradient norm, the parameter norm and any
tensor a defense flagged with :func:`watch_finite` (the training attack's last
iterate) are finite. If one is not, it puts back the weights and optimizer
state from before the batch and raises :class:`TrainingDivergedError`. On
Ctrl-C (``KeyboardInterrupt``) it puts back the state at the end of the last
completed epoch, drops the unfinished epoch from the history, warns, and the
estimator re-raises the interrupt (skorch alone would swallow it and return a
half-trained model from ``fit``).
"""
import warnings

from skorch.callbacks import Callback
import torch

from .training_state import restore, snapshot

__all__ = ["TrainingDivergedError", "TrainingInterruptedWarning", "TrainingGuard",
           "watch_finite", "raise_if_interrupted", "interrupted_at"]


class TrainingDivergedError(RuntimeError):
    """A fit stopped because a loss, gradient or attack iterate became NaN or infinite.

    The estimator keeps its weights and optimizer state from before the bad
    batch; checkpoints written so far are untouched.

    Attributes
    ----------
    epoch : int
        The epoch of the bad batch (1-based, as in the history).
    batch : int
        The bad batch within the epoch (1-based).
    what : tuple of str
        What was not finite: ``"loss"``, ``"gradients"``, ``"parameters"``
        or a name given to :func:`watch_finite` (``"attack iterate"``).
    """

    def __init__(self, message, *, epoch, batch, what):
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.what = tuple(what)


class TrainingInterruptedWarning(UserWarning):
    """``fit`` was interrupted; the estimator was left at its last completed epoch."""


def _flag(tensor):
    return torch.isfinite(tensor.detach()).all()


def _total_norm(tensors):
    return torch.nn.utils.get_total_norm([t.detach() for t in tensors])


def _all_finite(loss, tensors, flags):
    """Whether the loss, every tensor and every flag are finite/true: one host sync.

    A NaN or inf anywhere makes the sum of the tensors' norms NaN or inf; so
    can finite values too large for the sum (the caller then looks at each).
    """
    total = loss.detach().float().sum()
    if tensors:
        norms = [n.to(device=total.device, dtype=torch.float32)
                 for n in torch._foreach_norm(tensors)]
        total = total + torch.stack(norms).sum()
    ok = torch.isfinite(total)
    if flags:
        ok = ok & torch.stack([f.to(ok.device) for f in flags]).all()
    return bool(ok)


class TrainingGuard(Callback):
    """Keep a fit in a good state: stop on NaN/inf, roll back on interrupt.

    A default callback of every robustsk estimator (``"training_guard"``;
    ``callbacks__training_guard=None`` removes it). At the start of each
    training batch it copies the weights and optimizer states (every module
    and optimizer, :func:`robustsk.training_state.components`); at its end it
    checks that the loss, the total gradient norm, the total parameter norm
    and the tensors flagged by :func:`watch_finite` are finite, with one host
    synchronisation per batch (attacks are not synchronised per step). On
    failure it restores the copy, so the estimator is never left half-updated
    (a defense with several optimizers may have stepped some of them), and
    raises :class:`TrainingDivergedError` naming the epoch, the batch and what
    diverged. On ``KeyboardInterrupt`` it restores the state at the end of the
    last completed epoch and drops the unfinished epoch's history row.

    The copy costs one pass over the parameters and optimizer state per
    batch, and the memory of two more copies of them (the batch's and the
    epoch's): small beside a batch of adversarial training, which runs
    the network forward and backward ``n_iter + 1`` times.

    Attributes
    ----------
    interrupted_ : tuple of (int, int) or None
        ``(epoch, batch)`` where the last fit was interrupted, or None.

    Examples
    --------
    >>> import torch
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import StandardTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = StandardTraining(optimizer=torch.optim.SGD, lr=1e12, random_state=0)
    >>> try:
    ...     clf.fit(X[:200], y[:200])
    ... except TrainingDivergedError as exc:
    ...     print(exc.epoch, exc.batch, "parameters" in exc.what)
    1 2 True
    """

    def initialize(self):
        self._clear()
        self.interrupted_ = None
        return self

    def _clear(self):
        self._epoch_state = self._batch_state = None
        self._epoch = self._batch = 0
        self._open = False
        self._watched = []

    def on_train_begin(self, net, **kwargs):
        self._clear()
        self.interrupted_ = None

    def on_epoch_begin(self, net, **kwargs):
        self._epoch = len(net.history)
        self._batch = 0
        self._open = True  # before the copy: an interrupt during it drops the epoch too
        self._epoch_state = snapshot(net)

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if not (training and self._open):
            return
        self._batch += 1
        self._batch_state = snapshot(net)  # callbacks may have changed e.g. lr since the epoch's
        self._watched = []

    def watch(self, tensor, what):
        """Check ``tensor`` (e.g. an attack's iterate) with this batch's loss; no sync now."""
        if self._open and self._batch_state is not None:
            self._watched.append((what, _flag(tensor)))

    def on_batch_end(self, net, batch=None, training=False, loss=None, **kwargs):
        if not (training and self._open) or loss is None:
            return
        params = [p for _, p in net.get_all_learnable_params()]
        grads = [p.grad.detach() for p in params if p.grad is not None]
        params = [p.detach() for p in params]
        watched, self._watched = self._watched, []
        if _all_finite(loss, grads + params, [f for _, f in watched]):
            return  # one check, one host synchronisation; the details only on failure
        flags = watched + [("loss", _flag(loss))]
        if grads:
            flags.append(("gradients", _flag(_total_norm(grads))))
        if params:
            flags.append(("parameters", _flag(_total_norm(params))))
        bad = [what for what, f in flags if not bool(f)]
        if not bad:  # the fast check's sum overflowed on finite values
            return
        restore(net, self._batch_state)
        batches = net.history[-1]["batches"]
        if batches:
            batches.pop()  # the bad batch's records (its loss is not finite)
        epoch, index = self._epoch, self._batch
        self._clear()
        raise TrainingDivergedError(_diverged_message(net, epoch, index, bad, loss),
                                    epoch=epoch, batch=index, what=bad)

    def on_epoch_closed(self, net):
        """The epoch and all its epoch-end callbacks are done (called by the estimator)."""
        self._open = False
        self._epoch_state = self._batch_state = None

    def _get_param_names(self):
        # skorch lists every attribute not ending in "_": the guard's bookkeeping is no
        # parameter (get_params, clone and set_params would trip over it)
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    def on_train_end(self, net, **kwargs):
        if self._open:  # skorch caught a KeyboardInterrupt inside the epoch
            self.interrupted_ = (self._epoch, self._batch)
            if self._epoch_state is not None:
                restore(net, self._epoch_state)
            if len(net.history) and len(net.history) == self._epoch:
                net.history.pop()
            warnings.warn(
                f"{type(net).__name__}.fit was interrupted in epoch {self._epoch}, batch "
                f"{self._batch}: the estimator keeps the {len(net.history)} completed epochs "
                "(weights, optimizer state and history as they were at the end of epoch "
                f"{len(net.history)}). Fit again with warm_start=True to continue, or resume "
                "from a TrainingCheckpoint.", TrainingInterruptedWarning, stacklevel=2)
        self._clear()


def _diverged_message(net, epoch, batch, bad, loss):
    name = type(net).__name__
    value = float(loss.detach().float().mean()) if torch.is_tensor(loss) else loss
    threat = getattr(net, "threat_", None)
    step = "" if threat is None else f"step_size={threat.step_size:g} now"
    lr = getattr(net, "lr", None)
    advice = [f"a smaller lr (lr={lr:g} now, e.g. lr={lr / 10:g})" if lr is not None
              else "a smaller learning rate"]
    if threat is not None:
        advice.append(f"a smaller step_size for the training attack ({step})")
    if any(w not in ("loss", "gradients", "parameters") for w in bad):
        advice.reverse()
    return (f"{name} diverged in epoch {epoch}, batch {batch}: {', '.join(bad)} not finite "
            f"(loss {value:g}). Training stopped; the estimator keeps its weights and optimizer "
            "state from before this batch, and checkpoints written so far are kept. Try "
            f"{' or '.join(advice)}, and check that X has no huge values and that the module "
            "cannot return NaN or inf.")


def _guards(net):
    return [cb for _, cb in getattr(net, "callbacks_", ()) if isinstance(cb, TrainingGuard)]


def watch_finite(net, tensor, what="attack iterate"):
    """Have the training guard check ``tensor`` at the end of the current batch.

    Call it on a training attack's last iterate (``pgd_examples`` does): if
    the iterate holds NaN or inf, the fit stops with
    :class:`TrainingDivergedError` naming ``what``. The check is queued on
    the device and read with the batch's loss, so it adds no host
    synchronisation.

    Parameters
    ----------
    net : RobustClassifier
    tensor : Tensor
    what : str, default="attack iterate"
        How the error names it.

    Returns
    -------
    tensor : Tensor
        ``tensor`` itself.
    """
    for guard in _guards(net):
        guard.watch(tensor, what)
    return tensor


def raise_if_interrupted(net):
    """Re-raise the ``KeyboardInterrupt`` that skorch caught during ``net``'s last fit.

    Called by :class:`~robustsk.base.RobustClassifier` after training, so that
    Ctrl-C stops a script (exit status 130) rather than letting it go on with
    a model trained for fewer epochs than asked. skorch's ``EarlyStopping``,
    which stops by raising ``KeyboardInterrupt`` after a completed epoch, is
    not an interruption.
    """
    where = interrupted_at(net)
    if where is not None:
        raise KeyboardInterrupt(f"fit interrupted in epoch {where[0]}, batch {where[1]}")


def interrupted_at(net):
    """``(epoch, batch)`` where ``net``'s last fit was interrupted (Ctrl-C), or None."""
    for guard in _guards(net):
        if getattr(guard, "interrupted_", None) is not None:
            return guard.interrupted_
    return None
