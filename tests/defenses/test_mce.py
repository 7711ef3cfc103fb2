"""MCELoss: the formula by hand, reductions, argument checks, use as a training criterion."""
import pickle

import numpy as np
import pytest
from sklearn.base import clone
import torch

from robustsk.criteria import MCELoss
from robustsk.defenses import AdversarialTraining, StandardTraining

BOX = {"clip_min": 0.0, "clip_max": 1.0}
# the tiny fits of the API tests stop near chance on purpose
pytestmark = pytest.mark.filterwarnings("ignore::robustsk.base.NearChanceWarning")


def _by_hand(z, y, weight, variant):
    out = []
    for zi, yi in zip(z.tolist(), y.tolist()):
        p = np.exp(zi) / np.sum(np.exp(zi))
        q = np.exp(-np.array(zi)) / np.sum(np.exp(-np.array(zi)))
        terms = [-np.log(q[j]) for j in range(len(zi)) if j != yi]
        m = np.mean(terms) if variant == "mean" else np.max(terms)
        out.append(-np.log(p[yi]) + weight * m)
    return np.array(out)


@pytest.mark.parametrize("variant", ["mean", "max"])
def test_mce_matches_formula_by_hand(variant):
    gen = torch.Generator().manual_seed(0)
    z = 3 * torch.randn(6, 5, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    got = MCELoss(weight=0.7, variant=variant, reduction="none")(z, y)
    np.testing.assert_allclose(got.numpy(), _by_hand(z, y, 0.7, variant), rtol=1e-10)


def test_max_variant_uses_the_runner_up_class():
    z = torch.tensor([[5.0, 2.0, -1.0, 0.0]])
    y = torch.tensor([0])
    m = MCELoss(weight=1.0, variant="max", reduction="none")(z, y) - \
        torch.nn.functional.cross_entropy(z, y, reduction="none")
    assert torch.allclose(m, -torch.log_softmax(-z, 1)[:, 1])


def test_reductions_agree():
    gen = torch.Generator().manual_seed(1)
    z, y = torch.randn(8, 10, generator=gen), torch.randint(0, 10, (8,), generator=gen)
    none = MCELoss(reduction="none")(z, y)
    assert none.shape == (8,)
    assert torch.allclose(none.mean(), MCELoss()(z, y))
    assert torch.allclose(none.sum(), MCELoss(reduction="sum")(z, y))
    assert torch.allclose(MCELoss(weight=0)(z, y), torch.nn.functional.cross_entropy(z, y))


@pytest.mark.parametrize("kwargs, match", [
    ({"weight": -1.0}, "weight=-1.0.*>= 0"), ({"weight": float("nan")}, "weight=nan"),
    ({"variant": "median"}, "variant='median'.*'mean'.*'max'"),
    ({"reduction": "avg"}, "reduction='avg'")])
def test_bad_arguments_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MCELoss(**kwargs)


def test_failed_fit_keeps_weights(digits_small):
    X_tr, _, y_tr, _ = digits_small
    clf = StandardTraining(criterion=MCELoss, max_epochs=3, random_state=0).fit(X_tr[:200],
                                                                                y_tr[:200])
    before = [p.detach().clone() for p in clf.module_.parameters()]
    params = clf.get_params()
    for bad in ({"criterion__variant": "median"}, {"criterion__weight": -2.0}):
        # stored for the next fit (as scikit-learn), which refuses it before any work
        clf.set_params(**bad)
        with pytest.raises(ValueError, match="MCELoss got"):
            clf.fit(X_tr[:200], y_tr[:200])
        assert {k: v for k, v in clf.get_params().items() if k.startswith("criterion__")} == \
            {**{k: v for k, v in params.items() if k.startswith("criterion__")}, **bad}
        for key in bad:  # back to the defaults
            delattr(clf, key)
        # an unfitted clone: the same refusal
        fresh = clone(clf).set_params(**bad)
        with pytest.raises(ValueError, match="MCELoss got"):
            fresh.fit(X_tr[:200], y_tr[:200])
    assert all(torch.equal(a, b) for a, b in zip(before, clf.module_.parameters()))
    assert clf.score(X_tr[:200], y_tr[:200]) > 0.1


def test_adversarial_training_with_mce(digits_small):
    X_tr, X_te, y_tr, _ = digits_small
    clf = AdversarialTraining(criterion=MCELoss, criterion__variant="max",
                              criterion__weight=0.5, eps=0.1, n_iter=2, max_epochs=2,
                              random_state=0, **BOX).fit(X_tr[:200], y_tr[:200])
    assert clf.criterion_.variant == "max" and clf.criterion_.weight == 0.5
    # the training attack climbs the same loss, one value per example
    loss = clf.attack_loss()
    z, y = torch.randn(7, 10), torch.randint(0, 10, (7,))
    expected = MCELoss(weight=0.5, variant="max", reduction="none")(z, y)
    assert torch.allclose(loss(z, y), expected)
    assert clf.criterion_.reduction == "mean"  # the copy did not change the criterion
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict(X_te[:20]), clf.predict(X_te[:20]))
    fresh = clone(clf)
    assert fresh.get_params()["criterion__variant"] == "max" and not hasattr(fresh, "module_")


def _logit_stats(clf, X, y):
    z = torch.as_tensor(clf.decision_function(X))
    yy = torch.as_tensor(np.searchsorted(clf.classes_, y))
    z_y = z.gather(1, yy[:, None])[:, 0]
    wrong = torch.ones_like(z, dtype=torch.bool).scatter_(1, yy[:, None], False)
    z_wrong = z[wrong].view(len(z), -1)
    margin = z_y - z_wrong.amax(1)
    return float(margin.median()), float(z_wrong.std(1).median())


def _input_space_margin(clf, X, y):
    """Mean first-order distance to the decision boundary, in input L2 units.

    ``(z_y - z_j*) / ||grad_x (z_y - z_j*)||_2`` with ``j*`` the runner-up
    class (Elsayed et al., NeurIPS 2018, eq. 7), over the correctly
    classified points: the margin a classifier's robustness depends on, and
    unlike the raw logit margin it does not change when the logits are scaled.
    """
    module = clf.module_.eval()
    x = torch.as_tensor(X, dtype=torch.float32).requires_grad_(True)
    z = module(x)
    yy = torch.as_tensor(np.searchsorted(clf.classes_, y))
    gap = z.gather(1, yy[:, None])[:, 0] - z.scatter(1, yy[:, None], -np.inf).amax(1)
    grad, = torch.autograd.grad(gap.sum(), x)
    dist = (gap / grad.flatten(1).norm(dim=1)).detach()
    return float(dist[gap > 0].mean())


@pytest.mark.parametrize("seed", [0, 1])
def test_mce_widens_the_input_space_margin(digits_small, seed):
    # The paper's claim (a larger margin than CE at equal epochs), measured
    # where it is scale-free: the first-order input-space distance to the
    # boundary. Its term also squeezes the spread of the wrong-class logits
    # several-fold (it pushes each towards the smallest logit); the RAW logit
    # margin z_y - max_{j != y} z_j does not grow (smaller than under CE here),
    # since MCE's logits are on a smaller scale. Digits, 8 epochs, 600 images:
    # the input-space margin was larger under MCE for seeds 0, 1, 2 by 12, 23
    # and 12 % on these 150 test images, by 11-19 % on 450 other test images,
    # and by 8-10 % there under adversarial training at eps 0.1 (n_iter=3); we
    # assert 5 %.
    X_tr, X_te, y_tr, y_te = digits_small
    common = {"max_epochs": 8, "random_state": seed, **BOX}
    ce = StandardTraining(**common).fit(X_tr, y_tr)
    mce = StandardTraining(criterion=MCELoss, **common).fit(X_tr, y_tr)
    (m_ce, s_ce), (m_mce, s_mce) = _logit_stats(ce, X_te, y_te), _logit_stats(mce, X_te, y_te)
    d_ce, d_mce = _input_space_margin(ce, X_te, y_te), _input_space_margin(mce, X_te, y_te)
    print(f"seed {seed}: input-space margin CE {d_ce:.3f} MCE {d_mce:.3f}; median logit "
          f"margin CE {m_ce:.2f} MCE {m_mce:.2f}; median wrong-logit std CE {s_ce:.2f} "
          f"MCE {s_mce:.2f}")
    assert d_mce > 1.05 * d_ce
    assert s_mce < 0.6 * s_ce
    assert mce.score(X_te, y_te) > 0.85
