"""J-SIGR: the Jacobian norm falls, the projection estimator is unbiased, bad input refused."""
import pickle

import numpy as np
import pytest
from sklearn.base import clone
import torch

from robustsk.attacks._primitives import input_gradient
from robustsk.attacks.losses import cross_entropy
from robustsk.defenses import JacobianSaliencyRegularization, StandardTraining
from robustsk.defenses.jsigr import jacobian_frobenius_estimate, low_saliency_mask

BOX = {"clip_min": 0.0, "clip_max": 1.0}
# the tiny fits of the API tests stop near chance on purpose
pytestmark = pytest.mark.filterwarnings("ignore::robustsk.base.NearChanceWarning")


def _jacobian_norms(clf, X):
    """Exact squared Frobenius norm of d logits / d x per example."""
    module = clf.module_.eval()
    out = []
    for x in torch.as_tensor(X):
        jac = torch.autograd.functional.jacobian(lambda t: module(t[None])[0], x)
        out.append(float(jac.pow(2).sum()))
    return np.array(out)


def test_jacobian_norm_lower_than_standard_training(digits_small):
    X_tr, X_te, y_tr, y_te = digits_small
    common = {"max_epochs": 10, "random_state": 0, **BOX}
    std = StandardTraining(**common).fit(X_tr, y_tr)
    jsigr = JacobianSaliencyRegularization(**common).fit(X_tr, y_tr)
    j_std, j_jsigr = _jacobian_norms(std, X_te[:60]), _jacobian_norms(jsigr, X_te[:60])
    print(f"mean ||J||_F^2: standard {j_std.mean():.1f}, J-SIGR {j_jsigr.mean():.1f}; "
          f"accuracy {std.score(X_te, y_te):.3f} / {jsigr.score(X_te, y_te):.3f}")
    assert j_jsigr.mean() < 0.3 * j_std.mean()
    assert jsigr.score(X_te, y_te) > 0.8
    hist = jsigr.history[-1]
    for name in ("train_clean_loss", "train_jacobian_penalty", "train_saliency_penalty"):
        assert np.isfinite(hist[name]) and hist[name] >= 0


def test_projection_estimator_is_unbiased():
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    model = torch.nn.Linear(6, 4, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(weight)
    x = torch.zeros(20000, 6, dtype=torch.float64)  # J = W at every x
    est = jacobian_frobenius_estimate(model, x, random_state=torch.Generator().manual_seed(1))
    truth = float(weight.pow(2).sum())
    se = float(est.std()) / np.sqrt(len(est))
    assert abs(float(est.mean()) - truth) < 6 * se
    assert se < 0.05 * truth  # the check has teeth: 6 SE is under a third of the value
    more = jacobian_frobenius_estimate(model, x[:5000], n_projections=4,
                                       random_state=torch.Generator().manual_seed(2))
    assert abs(float(more.mean()) - truth) < 6 * float(more.std()) / np.sqrt(len(more))


def test_input_gradient_create_graph_keeps_the_graph():
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    x, y = torch.rand(4, 3), torch.tensor([0, 1, 1, 0])
    loss, logits, grad = input_gradient(model, x, y, cross_entropy, create_graph=True)
    assert loss.requires_grad and logits.requires_grad and grad.requires_grad
    grad.pow(2).sum().backward()
    assert model[0].weight.grad is not None
    plain = input_gradient(model, x, y, cross_entropy)
    assert not any(t.requires_grad for t in plain)
    assert torch.allclose(plain[2], grad.detach())


def test_low_saliency_mask():
    grad = torch.tensor([[0.1, -3.0, 0.2, 2.0], [5.0, 0.0, -1.0, 0.5]])
    assert low_saliency_mask(grad, 1.0).all()
    assert low_saliency_mask(grad, 0.0).sum(1).tolist() == [1, 1]
    assert low_saliency_mask(grad, 0.5).tolist() == [[True, False, True, False],
                                                   [False, True, False, True]]


@pytest.mark.parametrize("param, value, match", [
    ("lambda_jacobian", -0.1, "lambda_jacobian=-0.1"),
    ("lambda_saliency", -1.0, "lambda_saliency=-1.0"),
    ("n_projections", 0, "n_projections=0"),
    ("saliency_quantile", 1.5, "saliency_quantile=1.5"),
    ("saliency_quantile", -0.5, "saliency_quantile=-0.5")])
def test_bad_parameters_refused_before_any_work(digits_small, param, value, match):
    X_tr, _, y_tr, _ = digits_small
    clf = JacobianSaliencyRegularization(max_epochs=1, random_state=0).fit(X_tr[:100],
                                                                           y_tr[:100])
    before = [p.detach().clone() for p in clf.module_.parameters()]
    n_epochs = len(clf.history)
    clf.set_params(**{param: value})
    with pytest.raises(ValueError, match=match) as err:
        clf.fit(X_tr[:100], y_tr[:100])
    assert "Pass" in str(err.value)
    assert all(torch.equal(a, b) for a, b in zip(before, clf.module_.parameters()))
    assert len(clf.history) == n_epochs


def test_clone_and_pickle(digits_small):
    X_tr, X_te, y_tr, _ = digits_small
    clf = JacobianSaliencyRegularization(lambda_jacobian=0.05, n_projections=2,
                                         saliency_quantile=0.3, max_epochs=1,
                                         random_state=0).fit(X_tr[:100], y_tr[:100])
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict(X_te[:10]), clf.predict(X_te[:10]))
    params = clone(clf).get_params()
    assert (params["lambda_jacobian"], params["n_projections"],
            params["saliency_quantile"]) == (0.05, 2, 0.3)
