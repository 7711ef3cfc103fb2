"""The one batch runner: per-example streams, subsets and batch sizes change nothing."""
import numpy as np
import pytest
import torch

from robustsk.attacks import (
    APGD,
    PGD,
    Attack,
    Randomness,
    Square,
    Threat,
    derive_seed,
    input_gradient,
    run_batches,
)
from robustsk.attacks._primitives import _splitmix64
from robustsk.attacks.losses import cross_entropy


@pytest.fixture
def linear64(per_example):
    """A float64 linear model run example by example, so its outputs do not depend on the
    batch it is in (a batched matrix product may sum in another order: tests/conftest.py)."""
    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Linear(6, 4).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(4, 6, generator=gen, dtype=torch.float64))
        model.bias.copy_(torch.randn(4, generator=gen, dtype=torch.float64))
    x = torch.rand(23, 6, generator=gen, dtype=torch.float64)
    y = model(x).argmax(1)
    return per_example(model), x, y


THREAT = Threat(eps=0.1, norm="inf", clip_min=0.0, clip_max=1.0)


class _Draws(Attack):
    """Returns its random draws: what the runner gives each example, exactly."""

    def __init__(self, random_state=None, batch_size=None):
        self.random_state, self.batch_size = random_state, batch_size

    def perturb(self, model, x, y, *, threat, rng, y_target=None):
        return rng.uniform(x)


@pytest.mark.parametrize("attack", [_Draws(), PGD(n_iter=5), APGD(n_iter=5),
                                    Square(n_iter=10, p_init=0.5)],
                         ids=["draws", "pgd", "apgd", "square"])
def test_subset_and_batch_size_give_bit_identical_results(attack, linear64):
    model, x, y = linear64
    full = run_batches(attack, model, x, y, threat=THREAT, seed=7)
    for batch_size in (1, 7, None):
        again = run_batches(attack, model, x, y, threat=THREAT, seed=7, batch_size=batch_size)
        assert torch.equal(again, full)
    rows = [19, 3, 3, 0, 11]
    for batch_size in (1, 2, None):
        part = run_batches(attack, model, x, y, threat=THREAT, seed=7, rows=rows,
                           batch_size=batch_size)
        assert torch.equal(part, full[rows])


def test_streams_are_seeded_by_the_row_in_x():
    x = torch.zeros(9, 3)
    full = Randomness.for_examples(5, 9).uniform(x)
    for offset in (0, 4):
        assert torch.equal(Randomness.for_examples(5, 3, offset=offset).uniform(x[:3]),
                           full[offset:offset + 3])
    assert torch.equal(Randomness.for_examples(5, 0, index=[8, 2]).uniform(x[:2]), full[[8, 2]])
    draws = run_batches(_Draws(), None, x, torch.zeros(9, dtype=torch.long), threat=THREAT,
                        seed=5, rows=torch.tensor([6, 1]), batch_size=1)
    assert torch.equal(draws, full[[6, 1]])


def test_return_info_concatenates_over_batches(linear64):
    model, x, y = linear64
    square = Square(n_iter=10, p_init=0.5)
    out, info = run_batches(square, model.float(), x.float(), y, threat=THREAT, seed=1,
                            batch_size=4, return_info=True)
    assert out.shape == x.shape and info["queries"].shape == (len(x),)
    assert run_batches(_Draws(), model, x, y, threat=THREAT, seed=1, rows=[],
                       return_info=True)[0].shape == (0, 6)


def test_derive_seed_keeps_the_formula():
    for seed, key in [(0, 0), (1, 60), ((1 << 63) - 1, 101), (12345, 40)]:
        assert derive_seed(seed, key) == _splitmix64(seed + key) & ((1 << 63) - 1)


def test_input_gradient_default_is_detached(linear64):
    model, x, y = linear64
    loss, logits, grad = input_gradient(model, x, y, cross_entropy)
    assert not (loss.requires_grad or logits.requires_grad or grad.requires_grad)


def test_input_gradient_create_graph_is_double_backprop(linear64):
    model, x, y = linear64
    mlp = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(),
                              torch.nn.Linear(8, 4)).double()
    loss, logits, grad = input_gradient(mlp, x, y, cross_entropy, create_graph=True)
    assert loss.requires_grad and logits.requires_grad and grad.requires_grad
    grad.pow(2).sum().backward()
    ours = [p.grad.clone() for p in mlp.parameters()]
    assert all(g.abs().sum() > 0 for g in ours)

    # manual double backprop with torch.autograd.grad
    params = list(mlp.parameters())
    xr = x.detach().requires_grad_(True)
    g, = torch.autograd.grad(cross_entropy(mlp(xr), y).sum(), xr, create_graph=True)
    manual = torch.autograd.grad(g.pow(2).sum(), params)
    for a, b in zip(ours, manual):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)

    # and torch.autograd.functional: d/dtheta of ||d loss / dx||^2 as a function of theta
    names = [n for n, _ in mlp.named_parameters()]

    def penalty(*theta):
        def loss_of_x(xi):
            out = torch.func.functional_call(mlp, dict(zip(names, theta)), (xi,))
            return cross_entropy(out, y).sum()
        return torch.autograd.functional.jacobian(loss_of_x, x, create_graph=True).pow(2).sum()

    functional = torch.autograd.functional.jacobian(penalty, tuple(p.detach() for p in params))
    for a, b in zip(ours, functional):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_input_gradient_create_graph_inside_attack_context_leaves_weights_alone(linear64):
    """What the docstring warns about: attack_context turns requires_grad off."""
    from robustsk.attacks import attack_context
    model, x, y = linear64
    with attack_context(model):
        _, _, grad = input_gradient(model, x, y, cross_entropy, create_graph=True)
    assert np.isfinite(grad.detach().numpy()).all()
    assert model.net.weight.grad is None
