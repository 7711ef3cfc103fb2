"""The best iterate of an evaluation attack, per example.

:class:`BestIterate` keeps, per example, the first successful iterate (else the
highest-loss one) over everything an attack tries (steps, restarts), so more
steps never weaken an evaluation. :class:`TrackedRun` holds that state for the
rows one run of a step loop works on and updates it with a few whole-batch
tensor operations per step (no gather from or scatter into the tracker, which
cost more than the arithmetic on small models), writing back when the run
ends; on the CPU it lets the loop drop the examples already fooled.
"""
import torch

from ._primitives import drops_examples

__all__ = ["is_success", "BestIterate", "TrackedRun"]


def _rows_mask(mask, like):
    return mask.view(-1, *[1] * (like.ndim - 1))


def _detached(t):
    return t.detach() if t.requires_grad else t


def is_success(logits, y, y_target=None):
    """Per example: misclassified (untargeted) or classified as the target (targeted)."""
    pred = logits.argmax(dim=1)
    if y_target is not None:
        return pred == y_target
    return pred != y


class BestIterate:
    """Keep, per example, the first successful iterate, else the highest-loss one.

    Evaluations use it so that more steps never weaken an attack: an example
    that was misclassified at any visited point stays misclassified.

    Parameters
    ----------
    x : Tensor
        The first candidate (usually the clean input, so that an example
        misclassified without attack is reported as such).
    logits, loss : Tensor
        The model's logits and the attack loss at ``x``.
    y, y_target : Tensor
        True labels and, for a targeted attack, the targets.
    """

    def __init__(self, x, logits, loss, y, y_target=None):
        self.y, self.y_target = y, y_target
        self.x = x.detach().clone()
        self.found = is_success(logits, y, y_target)
        self.loss = loss.detach().clone()

    def run(self, index=None):
        """A :class:`TrackedRun` over the rows ``index`` (None: every row, in order)."""
        return TrackedRun(self, index)

    def update(self, x, logits, loss, index=None):
        """Offer the iterate ``x`` (of the examples at ``index``, default all).

        A step loop offers its iterates to a :meth:`run` instead, which ends in
        the same state with fewer operations per step.
        """
        y = self.y if index is None else self.y[index]
        y_t = None if self.y_target is None else (
            self.y_target if index is None else self.y_target[index])
        found = self.found if index is None else self.found[index]
        best_loss = self.loss if index is None else self.loss[index]
        success = is_success(logits, y, y_t)
        # not found before, and successful now or (unsuccessful and) of a higher loss
        take = ~found & (success | (loss > best_loss))
        if not drops_examples(x):  # no boolean-mask indexing: no host-device synchronisation
            if index is None:
                self.x = torch.where(_rows_mask(take, x), x.detach(), self.x)
                self.loss = torch.where(take, loss.detach(), self.loss)
                self.found = found | success
                return
            idx = torch.as_tensor(index, device=self.x.device)
            self.x[idx] = torch.where(_rows_mask(take, x), x.detach(), self.x[idx])
            self.loss[idx] = torch.where(take, loss.detach(), best_loss)
            self.found[idx] = found | success
            return
        if index is None:
            self.x[take] = x[take].detach()
            self.loss = torch.where(take, loss.detach(), self.loss)
            self.found = found | success
        else:
            idx = torch.as_tensor(index, device=self.x.device)
            if idx.dtype == torch.bool:
                idx = idx.nonzero().flatten()
            sel = idx[take]
            self.x[sel] = x[take].detach()
            self.loss[sel] = loss[take].detach()
            self.found[idx] = found | success


class TrackedRun:
    """The best iterates of the examples one run of an attack's step loop works on.

    The loop calls :meth:`offer` with every iterate and :meth:`close` at the
    end, which writes the run's best iterates back to its :class:`BestIterate`.
    The outcome is that of offering each iterate to the tracker directly
    (:meth:`BestIterate.update`), with fewer operations per step.

    Where step loops drop fooled examples (:func:`~robustsk.attacks.drops_examples`:
    the CPU outside :func:`~robustsk.attacks.sync_free`), :meth:`offer`
    writes the examples it finds fooled at once and returns the mask of those
    to keep, which the loop applies to its own tensors; elsewhere it masks them
    and returns None. A dropping run starts on examples not yet fooled only.

    Parameters
    ----------
    tracker : BestIterate
    index : LongTensor or None, default=None
        The tracker's rows of the run's examples, in the run's order; None:
        every row, in order.

    Examples
    --------
    >>> import torch
    >>> from robustsk.attacks.tracking import BestIterate
    >>> y = torch.tensor([0, 1])
    >>> tracker = BestIterate(torch.zeros(2, 1), torch.tensor([[2., 0.], [0., 2.]]),
    ...                       torch.zeros(2), y)
    >>> run = tracker.run()
    >>> keep = run.offer(torch.ones(2, 1), torch.tensor([[0., 2.], [0., 3.]]), torch.ones(2))
    >>> run.close()
    >>> tracker.found.tolist(), tracker.x.flatten().tolist()
    ([True, False], [1.0, 1.0])
    """

    def __init__(self, tracker, index=None):
        self.tracker, self.index = tracker, index
        pick = (lambda v: v) if index is None else (lambda v: v[index])
        self.y = pick(tracker.y)
        self.y_target = None if tracker.y_target is None else pick(tracker.y_target)
        self.x, self.loss, self.found = pick(tracker.x), pick(tracker.loss), pick(tracker.found)
        self.drop = drops_examples(tracker.x)
        if self.drop and bool(self.found.any()):
            raise ValueError("A run that drops fooled examples must start on examples not yet "
                             "fooled: select them with ~tracker.found.")

    def offer(self, x, logits, loss):
        """Offer the iterate ``x`` of the run's examples still in the loop.

        Returns
        -------
        keep : bool Tensor or None
            Which examples the loop keeps (only where it drops fooled ones and
            some were fooled now); None: keep them all.
        """
        success = is_success(logits, self.y, self.y_target)
        take = success | (loss > self.loss)
        if not self.drop:  # (the dropping run's examples are all still standing)
            take = torch.gt(take, self.found)  # take & ~found, in one operation
            self.found = self.found | success
        self.x = torch.where(_rows_mask(take, x), _detached(x), self.x)
        self.loss = torch.where(take, _detached(loss), self.loss)
        if not self.drop or not bool(success.any()):
            return None
        if self.index is None:  # rows now leave: the rest need their positions
            self.index = torch.arange(len(success), device=success.device)
        self._write(success)
        keep = ~success
        self.index, self.x, self.loss, self.y = (
            self.index[keep], self.x[keep], self.loss[keep], self.y[keep])
        if self.y_target is not None:
            self.y_target = self.y_target[keep]
        self.found = self.found[keep]
        return keep

    def _write(self, mask=None):
        """Write back the examples ``mask`` selects (fooled now, in a dropping run), or all."""
        t = self.tracker
        if mask is None and self.index is None:  # every row, in order: no scatter
            t.x, t.loss, t.found = self.x, self.loss, self.found
            return
        if mask is None:
            rows, x, loss, found = self.index, self.x, self.loss, self.found
        else:
            rows, x, loss, found = self.index[mask], self.x[mask], self.loss[mask], True
        t.x[rows], t.loss[rows], t.found[rows] = x, loss, found

    def close(self):
        """Write the run's best iterates back to the tracker."""
        self._write()
