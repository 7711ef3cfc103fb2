"""FAB: the box-constrained projection, the minimum norm on linear models, the contract.

The comparison with the official FAB of AutoAttack (same model, same start)
is ``benchmarks/fab_vs_official.py``: the minimum norms agree to 3e-7 on a
digits CNN and MLP, Linf and L2 (benchmarks/results/fab_vs_official.txt).
"""
import numpy as np
import pytest
from scipy.optimize import linprog
import torch

from robustsk.attacks import APGD, FAB, fab, project_onto_hyperplane
from robustsk.evaluation._models import CountingModule


def _problems(n, d, seed):
    gen = torch.Generator().manual_seed(seed)
    t = torch.rand(n, d, generator=gen, dtype=torch.float64)
    w = torch.randn(n, d, generator=gen, dtype=torch.float64)
    w[:, 0] = 0.0  # a coordinate the hyperplane ignores
    target = torch.rand(n, d, generator=gen, dtype=torch.float64)  # a point in the box
    b = (w * target).sum(1)  # so the box reaches the hyperplane
    return t, w, b


def _linf_lp(t, w, b, lo, hi):
    """min s s.t. |d_i| <= s, w.d = b - w.t, lo <= t + d <= hi (scipy's LP solver)."""
    d = len(t)
    cost = np.r_[np.zeros(d), 1.0]
    upper = np.block([[np.eye(d), -np.ones((d, 1))], [-np.eye(d), -np.ones((d, 1))]])
    res = linprog(cost, A_ub=upper, b_ub=np.zeros(2 * d), A_eq=np.r_[w, 0.0][None],
                  b_eq=[b - w @ t], bounds=[(lo - ti, hi - ti) for ti in t] + [(0, None)])
    return res.fun


def _l2_bisection(t, w, b, lo, hi):
    """KKT: d = clip(mu w, lo - t, hi - t); mu by bisection on the progress."""
    sign = np.sign(b - w @ t)
    lo_mu, hi_mu = 0.0, 1e6
    for _ in range(200):
        mu = (lo_mu + hi_mu) / 2
        d = np.clip(sign * mu * w, lo - t, hi - t)
        lo_mu, hi_mu = (mu, hi_mu) if sign * (w @ (t + d) - b) < 0 else (lo_mu, mu)
    return np.linalg.norm(np.clip(sign * hi_mu * w, lo - t, hi - t))


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_projection_is_the_minimal_norm_step_in_the_box(norm):
    t, w, b = _problems(40, 7, seed=0)
    lo, hi = torch.zeros(7, dtype=torch.float64), torch.ones(7, dtype=torch.float64)
    d = project_onto_hyperplane(t, w, b, norm, lo, hi)
    assert torch.allclose((w * (t + d)).sum(1), b, atol=1e-9)
    assert bool(((t + d) >= -1e-12).all() and ((t + d) <= 1 + 1e-12).all())
    assert bool((d[:, 0] == 0).all())
    size = d.abs().amax(1) if norm == "inf" else d.norm(dim=1)
    for i in range(len(t)):
        args = (t[i].numpy(), w[i].numpy(), b[i].item(), 0.0, 1.0)
        best = _linf_lp(*args) if norm == "inf" else _l2_bisection(*args)
        assert size[i].item() == pytest.approx(best, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_projection_without_a_box_and_out_of_reach(norm):
    t, w, b = _problems(10, 5, seed=1)
    d = project_onto_hyperplane(t, w, b, norm)
    gap = (b - (w * t).sum(1)).abs()
    closed = gap / (w.abs().sum(1) if norm == "inf" else w.norm(dim=1))  # dual-norm formula
    size = d.abs().amax(1) if norm == "inf" else d.norm(dim=1)
    torch.testing.assert_close(size, closed)
    far = project_onto_hyperplane(t, w, b + 1e3 * w.abs().sum(1), norm,
                                  torch.zeros(5, dtype=torch.float64),
                                  torch.ones(5, dtype=torch.float64))
    corner = torch.where(w > 0, 1.0, 0.0).to(t.dtype)  # out of reach: the closest corner
    torch.testing.assert_close((t + far)[w != 0], corner[w != 0])
    assert bool((far[w == 0] == 0).all())  # no NaN from an unused coordinate
    flat = project_onto_hyperplane(t, torch.zeros_like(w), b, norm)  # a zero gradient
    assert bool((flat == 0).all())


@pytest.mark.parametrize("norm", ["inf", "2"])
@pytest.mark.parametrize("targeted", [True, False])
def test_minimum_norm_on_a_linear_model(norm, targeted):
    """Affine logits, no box: the closest boundary is known in closed form; FAB
    must find a point at least that far (it is the minimum) and barely farther."""
    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Linear(8, 4).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(4, 8, generator=gen, dtype=torch.float64))
        model.bias.zero_()
    x = torch.randn(30, 8, generator=gen, dtype=torch.float64)
    y = model(x).argmax(1)
    x_adv, norms = fab(model, x, y, eps=100.0, norm=norm, n_iter=20, targeted=targeted,
                       n_target_classes=3, return_norms=True)
    logits, weight = model(x).detach(), model.weight.detach()
    dual = (lambda v: v.abs().sum(-1)) if norm == "inf" else (lambda v: v.norm(dim=-1))
    rows = torch.arange(len(x))
    dist = (logits[rows, y][:, None] - logits).abs() / dual(weight[None] - weight[y][:, None])
    dist[rows, y] = float("inf")
    closest = dist.min(1).values
    # targeted: the boundary with the first target (2nd largest logit), reached first
    aimed = dist[rows, logits.argsort(1, descending=True)[:, 1]] if targeted else closest
    assert bool(norms.isfinite().all())
    assert bool((model(x_adv).argmax(1) != y).all())
    assert bool((norms >= closest * (1 - 1e-9)).all())
    assert float((norms / aimed).median()) < 1.02
    assert float((norms / aimed).max()) < 1.15


def test_estimator_contract_and_strength(image_clf, image_data):
    """Adversarial whenever it says so, inside eps when counted, near APGD-T."""
    _, _, X, y = image_data
    attack = FAB(n_iter=30, n_target_classes=3)
    X_adv = attack.generate(image_clf, X, y)
    moved = np.abs(X_adv - X).reshape(len(X), -1).max(1)
    clean_ok = image_clf.predict(X) == y
    assert moved.max() <= 0.1 + 1e-6
    assert bool((image_clf.predict(X_adv)[moved > 0] != y[moved > 0]).all())
    assert bool((moved[~clean_ok] == 0).all())
    fab_acc = np.mean(image_clf.predict(X_adv) == y)
    apgd_acc = image_clf.score_adversarial(X, y, APGD(n_iter=30, loss="dlr-targeted",
                                                      n_target_classes=3))
    assert fab_acc < image_clf.score(X, y) - 0.3
    assert abs(fab_acc - apgd_acc) <= 0.1


def test_errors(image_clf, image_data):
    _, _, X, y = image_data
    with pytest.raises(ValueError, match="FAB got alpha_max=2.0: expected"):
        FAB(alpha_max=2.0).generate(image_clf, X[:5], y[:5])
    with pytest.raises(ValueError, match="eta"):
        fab(image_clf.module_, torch.as_tensor(X[:5]), torch.as_tensor(y[:5]), eps=0.1, eta=0.5)
    with pytest.raises(ValueError, match="without y_target"):
        FAB().generate(image_clf, X[:5], y[:5], y_target=y[:5])


def test_stopping_at_eps_keeps_the_successes_and_saves_steps(image_clf, image_data):
    """minimize=False: an example leaves a run at its first success within eps."""
    _, _, X, y = image_data
    x, t = torch.as_tensor(X[:60]), torch.as_tensor(y[:60])
    runs = {}
    for minimize in (True, False):
        model = CountingModule(image_clf.module_)
        x_adv, norms = fab(model, x, t, eps=0.1, n_iter=20, n_target_classes=2, minimize=minimize,
                           clip_min=0.0, clip_max=1.0, return_norms=True)
        runs[minimize] = norms, model.n_forward
    (full, seen_full), (stopped, seen_stopped) = runs[True], runs[False]
    # the same successes (one may flip: a shrinking batch can take other float kernels)
    assert (full.isfinite() != stopped.isfinite()).sum() <= 1
    assert full.isfinite().sum() >= 10
    assert bool((stopped[stopped.isfinite()] <= 0.1).all())
    both = full.isfinite() & stopped.isfinite()
    assert bool((full[both] <= stopped[both] + 1e-6).all())  # the full search gets as close
    assert seen_stopped < 0.8 * seen_full
