"""No attack keeps the autograd graph of one step alive into the next.

A probe network multiplies its logits by a fresh leaf tensor that requires
grad: the only references to that leaf are the autograd graph of that forward
pass (its saved tensors and its AccumulateGrad node). At every forward pass the
probe counts how many earlier leaves are still alive, i.e. how many earlier
graphs some variable still holds; CPython frees a graph as soon as its last
reference goes, so the count is exact, not a timing.
"""
import weakref

import pytest
import torch
from torch import nn

from robustsk import attacks

N, D, C = 512, 64, 10  # a large batch for this network: a leaked graph would cost memory


class Probe(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(D, 32), nn.ReLU(), nn.Linear(32, C))
        self.leaves, self.alive = [], []

    def forward(self, x):
        self.alive.append(sum(ref() is not None for ref in self.leaves))
        logits = self.net(x)
        if torch.is_grad_enabled():
            leaf = torch.ones((), requires_grad=True)
            self.leaves.append(weakref.ref(leaf))
            logits = logits * leaf
        return logits


ATTACKS = {
    "pgd": lambda m, x, y: attacks.pgd(m, x, y, eps=0.1, n_iter=15, random_state=0),
    "pgd_train": lambda m, x, y: attacks.pgd(m, x, y, eps=0.1, n_iter=15, return_best=False,
                                             random_state=0),
    "pgd_kl": lambda m, x, y: attacks.pgd(m, x, y, eps=0.1, n_iter=15, loss="kl",
                                          random_start="normal", return_best=False,
                                          random_state=0),
    "apgd": lambda m, x, y: attacks.apgd(m, x, y, eps=0.1, n_iter=15, random_state=0),
    "early_stopped_pgd": lambda m, x, y: attacks.early_stopped_pgd(m, x, y, eps=0.1, n_iter=15,
                                                                   tau=3, random_state=0),
    "fgsm": lambda m, x, y: attacks.fgsm(m, x, y, eps=0.1),
    "rfgsm": lambda m, x, y: attacks.rfgsm(m, x, y, eps=0.1, random_state=0),
    "fab": lambda m, x, y: attacks.fab(m, x, y, eps=0.1, n_iter=10, random_state=0),
    "cw": lambda m, x, y: attacks.carlini_wagner_l2(m, x, y, n_iter=6, n_binary_steps=2),
    "fosc_pgd": lambda m, x, y: attacks.fosc_pgd(m, x, y, eps=0.1, n_iter=15, random_state=0),
}


def leaky_pgd(model, x, y, *, n_iter=3):
    """A PGD that keeps every step's logits (with their graph) in a list."""
    kept, x_adv = [], x.clone()
    for _ in range(n_iter):
        x_adv.requires_grad_(True)
        logits = model(x_adv)
        kept.append(logits)
        grad, = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, y), x_adv)
        x_adv = (x_adv.detach() + 0.01 * grad.sign()).clamp(0, 1)
    return x_adv


def test_the_probe_sees_a_leaked_graph():
    model = Probe()
    leaky_pgd(model, torch.rand(8, D), torch.zeros(8, dtype=torch.long))
    assert model.alive == [0, 1, 2]


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_no_graph_survives_into_the_next_step(name):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(N, D, generator=gen)
    y = torch.randint(0, C, (N,), generator=gen)
    model = Probe()
    try:
        x_adv = ATTACKS[name](model, x, y)
    except TypeError as err:  # a signature this test does not know: say so, loudly
        pytest.fail(f"{name}: {err}")
    assert x_adv.shape == x.shape and x_adv.grad_fn is None
    assert len(model.leaves) >= 1  # gradients were taken through the probe
    assert max(model.alive) == 0, (
        f"{name}: up to {max(model.alive)} earlier graphs alive at a forward pass "
        f"({model.alive})")
    assert all(ref() is None for ref in model.leaves)  # and none after the attack
