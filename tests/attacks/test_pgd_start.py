"""PGD's uniform start can be drawn from a smaller ball (``init_eps``)."""
import numpy as np
import pytest
import torch

from robustsk.attacks import pgd


@pytest.mark.parametrize("norm", ["inf", 2])
def test_start_drawn_within_init_eps(norm):
    torch.manual_seed(0)
    model = torch.nn.Linear(16, 3)
    x, y = torch.rand(300, 16), torch.randint(0, 3, (300,))
    kw = {"eps": 0.2, "norm": norm, "n_iter": 0, "return_best": False, "random_state": 0}
    half = (pgd(model, x, y, init_eps=0.1, **kw) - x).flatten(1)
    full = (pgd(model, x, y, **kw) - x).flatten(1)
    size = (lambda d: d.abs().amax(1)) if norm == "inf" else (lambda d: d.norm(dim=1))
    assert size(half).max() <= 0.1 + 1e-6
    assert size(full).max() > 0.15  # without init_eps the start fills the eps ball
    # the same draws, scaled: the smaller ball is the same start at half the radius
    np.testing.assert_allclose(half.numpy(), full.numpy() / 2, atol=1e-6)


@pytest.mark.parametrize("bad", [0.3, -0.1, "0.1", True])
def test_bad_init_eps_refused(bad):
    model = torch.nn.Linear(4, 3)
    x, y = torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1])
    with pytest.raises(ValueError, match="init_eps"):
        pgd(model, x, y, eps=0.2, init_eps=bad)
