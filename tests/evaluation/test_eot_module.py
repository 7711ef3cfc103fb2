"""EOTModule refuses a number of forward passes that is not a positive integer."""
import numpy as np
import pytest
import torch

from robustsk.evaluation import EOTModule


@pytest.mark.parametrize("eot_iter", [0, -1, 2.7, True, "3", None])
def test_eot_iter_must_be_a_positive_integer(eot_iter):
    # 0 returned -inf logits, -1 negated logits, 2.7 ran 2 passes: all silently
    with pytest.raises(ValueError, match=r"eot_iter=.*expected an integer >= 1"):
        EOTModule(torch.nn.Linear(3, 2), eot_iter)


@pytest.mark.parametrize("eot_iter", [1, 3, np.int64(2)])
def test_positive_integers_average_the_passes(eot_iter):
    net = torch.nn.Linear(3, 2)
    x = torch.ones(4, 3)
    torch.testing.assert_close(EOTModule(net, eot_iter)(x), net(x))
