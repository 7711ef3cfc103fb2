"""The counter-based per-example random streams: exact, batch-independent, uniform."""
import numpy as np
import pytest
from scipy import stats
import torch

from robustsk.attacks import Randomness, example_seed
from robustsk.attacks.counter_rng import hash_words, stream_keys


def _mix32_reference(x):
    x ^= x >> 16
    x = (x * 0x21F0AAAD) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x735A2D97) & 0xFFFFFFFF
    return x ^ (x >> 15)


def _hash_reference(key, counter):
    """The same hash in Python's unbounded integers."""
    key &= (1 << 64) - 1
    h = _mix32_reference((counter & 0xFFFFFFFF) ^ (key & 0xFFFFFFFF))
    return _mix32_reference(h ^ (key >> 32))


def test_hash_matches_python_integers():
    rs = np.random.RandomState(0)
    keys = [int(k) for k in rs.randint(-2**63, 2**63 - 1, size=20, dtype=np.int64)]
    counters = [0, 1, 255, 2**31, 2**32 - 1]
    got = hash_words(torch.tensor(keys)[:, None], torch.tensor(counters)[None, :])
    want = [[_hash_reference(k, c) for c in counters] for k in keys]
    assert got.tolist() == want


def test_stream_keys_are_example_seeds():
    keys = stream_keys(12345, [0, 1, 7, 10**6]).numpy().view(np.uint64)
    assert [int(k) for k in keys] == [example_seed(12345, i) for i in (0, 1, 7, 10**6)]


@pytest.mark.parametrize("draw", ["uniform", "normal"])
def test_draws_do_not_depend_on_the_batch(draw):
    like = torch.empty(12, 3, 5)
    full = getattr(Randomness.for_examples(3, 12), draw)(like)
    # any split into batches, any order of the rows
    for start, stop in [(0, 5), (5, 12), (11, 12)]:
        part = getattr(Randomness.for_examples(3, stop - start, offset=start), draw)(like[start:stop])
        assert torch.equal(part, full[start:stop])
    rows = [9, 0, 4]
    picked = getattr(Randomness.for_examples(3, 0, index=rows), draw)(like[:3])
    assert torch.equal(picked, full[rows])
    # a subset continues the examples' streams (its draw is their second one)
    rng = Randomness.for_examples(3, 12)
    assert torch.equal(getattr(rng, draw)(like), full)
    second_sub = getattr(rng.subset(torch.tensor(rows)), draw)(like[:3])
    fresh = Randomness.for_examples(3, 12)
    getattr(fresh, draw)(like)
    assert torch.equal(second_sub, getattr(fresh, draw)(like)[rows])
    assert not torch.equal(second_sub, full[rows])


def test_seeds_give_different_streams():
    like = torch.empty(4, 50)
    a = Randomness.for_examples(0, 4).uniform(like)
    b = Randomness.for_examples(1, 4).uniform(like)
    assert not torch.equal(a, b)
    assert not torch.equal(a[0], a[1])


def test_uniform_and_normal_pass_a_ks_test():
    like = torch.empty(400, 50)
    u = Randomness.for_examples(2024, 400).uniform(like, 0.0, 1.0)
    assert float(u.min()) >= 0.0 and float(u.max()) < 1.0
    assert stats.kstest(u.flatten().numpy(), "uniform").pvalue > 1e-3
    # across streams too: each example's first draw
    assert stats.kstest(u[:, 0].numpy(), "uniform").pvalue > 1e-3
    z = Randomness.for_examples(2024, 400).normal(like)
    assert stats.kstest(z.flatten().numpy(), "norm").pvalue > 1e-3
    # neighbouring draws of a stream are uncorrelated
    assert abs(np.corrcoef(u[:, :-1].flatten(), u[:, 1:].flatten())[0, 1]) < 0.02


def test_draws_follow_the_dtype():
    like = torch.empty(3, 4, dtype=torch.float64)
    out = Randomness.for_examples(0, 3).uniform(like)
    assert out.dtype == torch.float64 and out.shape == like.shape
