"""TrackedRun keeps what BestIterate.update keeps, in both step-loop modes.

A run of a step loop offers its iterates to a :class:`TrackedRun` (a few
whole-batch operations per step, written back at the end) instead of
scattering each into the :class:`BestIterate`; the tracker must end in exactly
the state that offering every iterate with ``update`` gives, also where a
dropping run (the CPU) removes the examples it has fooled, for a subset of
the rows (a restart), with targets, and with NaN or infinite losses.
"""
import contextlib

import pytest
import torch

from robustsk.attacks import sync_free
from robustsk.attacks.tracking import BestIterate, TrackedRun


def _offers(n, n_classes, n_steps, seed, special):
    """Random iterates, logits and losses; ``special`` sprinkles NaN and inf losses."""
    g = torch.Generator().manual_seed(seed)
    steps = []
    for _ in range(n_steps):
        x = torch.rand(n, 2, 3, generator=g)
        logits = torch.randn(n, n_classes, generator=g)
        loss = torch.randn(n, generator=g).round(decimals=1)  # ties happen
        if special:
            pick = torch.rand(n, generator=g)
            loss = torch.where(pick < 0.1, torch.nan, loss)
            loss = torch.where((pick > 0.9) & (pick < 0.95), torch.inf, loss)
            loss = torch.where(pick >= 0.95, -torch.inf, loss)
        steps.append((x, logits, loss))
    return steps


def _tracker(n, n_classes, seed, targeted):
    g = torch.Generator().manual_seed(seed + 100)
    y = torch.randint(0, n_classes, (n,), generator=g)
    y_target = (y + 1) % n_classes if targeted else None
    logits = torch.randn(n, n_classes, generator=g)
    logits[torch.arange(n), y] += 1.0  # most examples correct at first
    return BestIterate(torch.zeros(n, 2, 3), logits, torch.zeros(n), y, y_target)


def _state(tracker):
    return tracker.x.clone(), tracker.loss.clone(), tracker.found.clone()


def _same(a, b):
    return all(torch.equal(u, v) if u.dtype == torch.bool else
               torch.allclose(u, v, equal_nan=True, rtol=0, atol=0) for u, v in zip(a, b))


@pytest.mark.parametrize("dropping", [True, False])
@pytest.mark.parametrize("targeted", [False, True])
@pytest.mark.parametrize("special", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_a_run_ends_where_offering_every_iterate_ends(dropping, targeted, special, seed):
    n, n_classes = 40, 3
    steps = _offers(n, n_classes, 6, seed, special)
    direct, tracked = _tracker(n, n_classes, seed, targeted), _tracker(n, n_classes, seed, targeted)
    # a restart: only the rows not fooled at the start, as the attacks select them
    rows = (~tracked.found).nonzero().flatten()
    if seed % 2:
        rows = rows[torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed))]
    for x, logits, loss in steps:
        direct.update(x[rows], logits[rows], loss[rows], rows)
    with contextlib.nullcontext() if dropping else sync_free():
        run = tracked.run(rows)
        assert run.drop is dropping
        active = torch.arange(len(rows))  # the loop's examples, as positions in ``rows``
        for x, logits, loss in steps:
            keep = run.offer(x[rows][active], logits[rows][active], loss[rows][active])
            if keep is not None:
                assert dropping
                active = active[keep]
        run.close()
    assert _same(_state(direct), _state(tracked))


@pytest.mark.parametrize("dropping", [True, False])
def test_a_run_over_every_row_writes_without_an_index(dropping):
    steps = _offers(30, 4, 5, 7, special=False)
    direct, tracked = _tracker(30, 4, 7, False), _tracker(30, 4, 7, False)
    direct.found[:] = False  # a run over every row starts with none fooled
    tracked.found[:] = False
    for x, logits, loss in steps:
        direct.update(x, logits, loss)
    with contextlib.nullcontext() if dropping else sync_free():
        run = tracked.run()
        active = torch.arange(30)
        for x, logits, loss in steps:
            keep = run.offer(x[active], logits[active], loss[active])
            if keep is not None:
                active = active[keep]
        run.close()
    assert _same(_state(direct), _state(tracked))


def test_a_dropping_run_refuses_rows_already_fooled():
    tracker = _tracker(10, 3, 0, False)
    tracker.found[3] = True
    with pytest.raises(ValueError, match="not yet fooled"):
        TrackedRun(tracker)
    with sync_free():  # a masking run takes them (and leaves them as they are)
        run = TrackedRun(tracker)
        x = torch.ones(10, 2, 3)
        run.offer(x, torch.randn(10, 3), torch.full((10,), 1e9))
        run.close()
    assert tracker.found[3] and torch.equal(tracker.x[3], torch.zeros(2, 3))


def test_offer_takes_iterates_that_require_grad_without_their_graph():
    tracker = _tracker(5, 3, 1, False)
    tracker.found[:] = False
    x = torch.rand(5, 2, 3, requires_grad=True)
    with sync_free():
        run = tracker.run()
        run.offer(x * 2, torch.randn(5, 3), (x * 2).sum((1, 2)))
        run.close()
    assert not tracker.x.requires_grad and not tracker.loss.requires_grad
