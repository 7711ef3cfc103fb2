"""SDPCertifiedNetwork and RobustUpperBoundTraining as estimators (certificates: tests/certify)."""
import numpy as np
import pytest
import torch

from robustsk.certify import rub as rub_certify
from robustsk.certify import sdp as sdp_certify
from robustsk.certify.sdp import SDPNet
from robustsk.defenses import RobustUpperBoundTraining, SDPCertifiedNetwork, StandardTraining
from robustsk.defenses.sdp import sdp_regularizer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_certification_method_names_a_certify_function():
    assert callable(getattr(sdp_certify, "certify_" + SDPCertifiedNetwork.certification_method))
    assert callable(getattr(rub_certify, "certify_" + RobustUpperBoundTraining.certification_method))


def test_sdp_weight_zero_is_standard_training_of_the_same_network(tabular):
    X, y = tabular
    kw = {"max_epochs": 2, "random_state": 0, "batch_size": 50}
    a = SDPCertifiedNetwork(hidden_units=8, sdp_weight=0.0, **kw).fit(X, y)
    b = StandardTraining(module=SDPNet, module__input_shape=(6,), module__n_classes=3,
                         module__hidden_units=8, **kw).fit(X, y)
    for p, q in zip(a.module_.parameters(), b.module_.parameters()):
        assert torch.equal(p, q)
    c = SDPCertifiedNetwork(hidden_units=8, sdp_weight=0.05, eps=0.1, **kw).fit(X, y)
    assert not torch.equal(c.module_.net[1].weight, a.module_.net[1].weight)
    assert {"train_clean_loss", "train_sdp_bound"} <= set(c.history[-1])


def test_trained_duals_tighten_the_certificate(tabular):
    X, y = tabular
    clf = SDPCertifiedNetwork(hidden_units=8, eps=0.2, max_epochs=20, lr=1e-2,
                              random_state=0).fit(X, y)
    assert clf.module_.dual_offset.abs().sum() > 0
    trained, _ = sdp_regularizer(clf.module_, 0.2)
    with torch.no_grad():
        clf.module_.dual_offset.zero_()
    gershgorin, _ = sdp_regularizer(clf.module_, 0.2)
    assert float(trained.detach()) < float(gershgorin.detach())


@pytest.mark.parametrize("method", ["arub", "rub"])
def test_robust_bound_at_eps_zero_is_the_cross_entropy(tabular, method):
    X, y = tabular
    clf = RobustUpperBoundTraining(method=method, eps=0.0, hidden_units=8, max_epochs=1,
                                   batch_size=-1, random_state=0).fit(X, y)
    first = clf.history[0]
    # one full batch: the recorded bound is the loss before the step, i.e. the initial CE
    init = RobustUpperBoundTraining(method=method, eps=0.0, hidden_units=8, max_epochs=0,
                                    random_state=0).fit(X, y)
    with torch.no_grad():
        ce = torch.nn.functional.cross_entropy(init.module_(torch.as_tensor(X)),
                                               torch.as_tensor(y))
    assert first["train_robust_bound"] == pytest.approx(float(ce), rel=1e-5)


def test_tabular_unbounded_inputs_and_predictions(tabular):
    X, y = tabular
    X = X * 3.0   # standardised-like data outside [0, 1]: the default box is unbounded
    for clf in (SDPCertifiedNetwork(hidden_units=8, max_epochs=5, random_state=0),
                RobustUpperBoundTraining(method="rub", hidden_units=8, max_epochs=5,
                                         random_state=0)):
        clf.fit(X, y)
        assert clf.predict(X).shape == (len(X),) and clf.score(X, y) > 0.5


def test_bad_parameters(tabular):
    X, y = tabular
    with pytest.raises(ValueError, match="rub_radius"):
        RobustUpperBoundTraining(rub_radius=-1.0, max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="hidden_units"):
        SDPCertifiedNetwork(hidden_units=0, max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="sdp_weight"):
        SDPCertifiedNetwork(sdp_weight=-1.0, max_epochs=1).fit(X, y)
    assert np.isfinite(RobustUpperBoundTraining(method="arub", norm=2, hidden_units=4,
                                                max_epochs=1, random_state=0)
                       .fit(X, y).history[-1]["train_robust_bound"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_and_certify_on_cuda(tabular):
    X, y = tabular
    for clf, certify in ((SDPCertifiedNetwork(hidden_units=8, device="cuda", max_epochs=2,
                                              random_state=0), sdp_certify.certify_sdp_dual),
                         (RobustUpperBoundTraining(method="rub", hidden_units=8, device="cuda",
                                                   max_epochs=2, random_state=0),
                          rub_certify.certify_rub)):
        clf.fit(X, y)
        assert all(p.is_cuda for p in clf.module_.parameters())
        certified, _ = certify(clf, X[:20], y[:20], 0.05)
        assert certified.shape == (20,)
