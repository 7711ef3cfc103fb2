"""Evaluation batches sized by a memory budget."""
import numpy as np
import pytest
import torch

from robustsk.attacks import PGD, Threat, WorstCase, memory_batch_size, run_batches


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 32), torch.nn.ReLU(),
                               torch.nn.Linear(32, 3))


def test_the_batch_follows_the_budget():
    net, x = _net(), torch.zeros(5, 4, 4)
    small = memory_batch_size(net, x, budget_bytes=2**16)
    large = memory_batch_size(net, x, budget_bytes=2**18)
    assert 1 <= small < large <= 4096
    assert abs(large / small - 4) < 0.1
    assert memory_batch_size(net, x, budget_bytes=1) == 1
    with pytest.raises(ValueError, match="budget_bytes"):
        memory_batch_size(net, x, budget_bytes=0)


def test_auto_batches_give_the_same_attack():
    net, x = _net(), torch.rand(40, 4, 4)
    y = net(x).argmax(1)
    threat = Threat(eps=0.2, norm="inf", clip_min=0.0, clip_max=1.0)
    auto = run_batches(PGD(n_iter=5), net, x, y, threat=threat, seed=3, batch_size="auto")
    fixed = run_batches(PGD(n_iter=5), net, x, y, threat=threat, seed=3, batch_size=7)
    assert torch.equal(auto, fixed)


def test_auto_is_a_valid_attack_parameter(image_clf, image_data):
    clf, (_, _, X, y) = image_clf, image_data
    attack = WorstCase([PGD(n_iter=3, batch_size="auto")], batch_size="auto", random_state=0)
    X_adv = attack.generate(clf, X[:20], y[:20])
    assert X_adv.shape == X[:20].shape
    assert np.all(np.abs(X_adv - X[:20]) <= clf.eps + 1e-6)
