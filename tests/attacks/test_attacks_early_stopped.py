"""FAT's early-stopping rule on hand-built models whose iterates are known exactly."""
import numpy as np
import pytest
import torch

from robustsk.attacks import EarlyStoppedPGD, Randomness, early_stopped_pgd


class Bump(torch.nn.Module):
    """logits = [0, h(x)], h(x) = 0.02 - (x - 1)^2: class 1 only near x = 1.

    For y = 0 the CE loss grows with h, so a sign step of 0.25 climbs towards
    1 and overshoots it: from 9/16 the iterates are 0.5625, 0.8125, 1.0625,
    0.8125, 1.0625, ... (all exact in binary), correct, correct, wrong,
    correct, wrong, ...
    """

    def forward(self, x):
        h = 0.02 - (x[:, 0] - 1.0) ** 2
        return torch.stack([torch.zeros_like(h), h], dim=1)


def run(x0, tau, n_iter=10):
    x = torch.tensor(x0, dtype=torch.float32).view(-1, 1)
    return early_stopped_pgd(Bump(), x, torch.zeros(len(x), dtype=torch.long), eps=10.0,
                             step_size=0.25, n_iter=n_iter, tau=tau, random_start=None,
                             omega=0.0, return_steps=True)


# x0: 1.0625 wrong at the start; 0.8125 wrong after 1 step; 0.5625 after 2 (then it
# alternates correct/wrong); -3.0 never wrong within 10 steps (ends at -0.5).
X0 = [-3.0, 0.5625, 1.0625, 0.8125]


@pytest.mark.parametrize("tau,x_end,steps", [
    # tau = 0: freeze at the first wrong iterate; 1.0625 takes no step at all.
    (0, [-0.5, 1.0625, 1.0625, 1.0625], [10, 2, 0, 1]),
    # tau = 1: the second wrong iterate. 0.5625: wrong after 2 steps (budget 1 -> 0),
    # correct after 3 (budget not reset), wrong again after 4 -> frozen.
    (1, [-0.5, 1.0625, 1.0625, 1.0625], [10, 4, 2, 3]),
    (2, [-0.5, 1.0625, 1.0625, 1.0625], [10, 6, 4, 5]),
])
def test_freezes_at_the_tau_plus_one_th_wrong_iterate(tau, x_end, steps):
    x_adv, n_steps = run(X0, tau)
    assert n_steps.tolist() == steps
    assert x_adv.flatten().tolist() == x_end


def test_budget_is_never_reset_and_at_most_n_iter_steps():
    # With 3 steps, 0.5625 under tau=1 ends on a correct iterate (0.8125) after
    # using its budget: the last iterate is returned.
    x_adv, n_steps = run([0.5625, -3.0], tau=1, n_iter=3)
    assert n_steps.tolist() == [3, 3]
    assert x_adv.flatten().tolist() == [0.8125, -2.25]


def test_output_aligned_with_the_input_order():
    # Freeze order is 1.0625 (0 steps), 0.8125, 0.5625, -3.0 (never): the reference
    # implementation would return them in that order; we keep the input order.
    order = [3, 0, 2, 1]
    x_adv, n_steps = run([X0[i] for i in order], tau=0)
    assert n_steps.tolist() == [[10, 2, 0, 1][i] for i in order]
    assert x_adv.flatten().tolist() == [[-0.5, 1.0625, 1.0625, 1.0625][i] for i in order]


def test_return_steps_false_returns_a_tensor():
    x = torch.tensor([[0.8125]])
    out = early_stopped_pgd(Bump(), x, torch.zeros(1, dtype=torch.long), eps=10.0,
                            step_size=0.25, random_start=None, omega=0.0)
    assert torch.is_tensor(out) and out.item() == 1.0625


@pytest.mark.parametrize("start,loss", [("uniform", "ce"), ("normal", "kl"), ("uniform", "kl")])
@pytest.mark.parametrize("norm,eps", [("inf", 0.1), (2, 0.5)])
def test_trained_model_ball_box_and_streams(start, loss, norm, eps, image_clf, image_data,
                                            per_example):
    _, _, X, y = image_data
    # per_example: the network rounds alike alone or in a batch (see tests/conftest.py),
    # so the comparison below is exact on any CPU
    model = per_example(image_clf.module_)
    x, y = torch.as_tensor(X[:30]), torch.as_tensor(y[:30])
    kw = dict(eps=eps, norm=norm, n_iter=10, tau=1, loss=loss, random_start=start,
              clip_min=0.0, clip_max=1.0, return_steps=True)
    x_adv, steps = early_stopped_pgd(model, x, y, random_state=Randomness.for_examples(1, 30),
                                     **kw)
    delta = (x_adv - x).flatten(1)
    size = delta.abs().amax(1) if norm == "inf" else delta.norm(dim=1)
    assert float(size.max()) <= eps + 1e-5
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    assert int(steps.max()) <= 10 and int(steps.min()) >= 0
    assert (steps < 10).any()  # some examples stopped early
    for i in (0, 7, 29):  # an example alone gets exactly its result in the batch
        alone, s = early_stopped_pgd(model, x[i:i + 1], y[i:i + 1],
                                     random_state=Randomness.for_examples(1, 30).subset([i]),
                                     **kw)
        assert torch.equal(alone[0], x_adv[i])
        assert int(s[0]) == int(steps[i])


def test_stopped_examples_are_misclassified(image_clf, image_data):
    _, _, X, y = image_data
    model, x, y = image_clf.module_, torch.as_tensor(X), torch.as_tensor(y)
    x_adv, steps = early_stopped_pgd(model, x, y, eps=0.1, n_iter=10, tau=0, clip_min=0,
                                     clip_max=1, random_state=0, return_steps=True)
    with torch.no_grad():
        wrong = model(x_adv).argmax(1) != y
    assert bool(wrong[steps < 10].all())  # only a wrong iterate stops an example early


def test_omega_default_depends_on_the_start(image_clf, image_data):
    _, _, X, y = image_data
    model, x, y = image_clf.module_, torch.as_tensor(X[:20]), torch.as_tensor(y[:20])
    kw = dict(eps=0.1, n_iter=5, clip_min=0, clip_max=1, random_state=0)
    for start, omega in (("uniform", 0.001), ("normal", 0.0)):
        torch.testing.assert_close(
            early_stopped_pgd(model, x, y, random_start=start, **kw),
            early_stopped_pgd(model, x, y, random_start=start, omega=omega, **kw),
            rtol=0, atol=0)
    assert not torch.equal(early_stopped_pgd(model, x, y, omega=0.0, **kw),
                           early_stopped_pgd(model, x, y, omega=0.001, **kw))


def test_errors():
    x, y = torch.zeros(2, 1), torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="tau"):
        early_stopped_pgd(Bump(), x, y, eps=0.1, tau=-1)
    with pytest.raises(ValueError, match="omega"):
        early_stopped_pgd(Bump(), x, y, eps=0.1, omega=-1.0)
    with pytest.raises(ValueError, match="random_start"):
        early_stopped_pgd(Bump(), x, y, eps=0.1, random_start="gaussian")


def test_class_generate(image_clf, image_data):
    _, _, X, y = image_data
    X_adv = EarlyStoppedPGD(tau=0, random_state=0).generate(image_clf, X, y)
    assert np.mean(image_clf.predict(X_adv) == y) < np.mean(image_clf.predict(X) == y)
