"""certify(): soundness against PGD on digits, the result, the registry, and bad input."""
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
import torch
from torch import nn

from robustsk.attacks import APGD, PGD
from robustsk.certify import METHODS, CertificationResult, certify, default_method, register_method
from robustsk.defenses import AdversarialTraining, RandomizedSmoothingClassifier, StandardTraining
from robustsk.stats import AccuracyInterval


@pytest.fixture(scope="module")
def flat_digits(digits_small):
    X_tr, X_te, y_tr, y_te = digits_small
    return X_tr.reshape(len(X_tr), -1), X_te[:100].reshape(100, -1), y_tr, y_te[:100]


@pytest.fixture(scope="module", params=[0, 1])
def fitted(request, flat_digits):
    """Small MLPs on flat digits: standard and PGD-trained, two seeds."""
    X_tr, X_te, y_tr, y_te = flat_digits
    seed = request.param
    models = [cls(max_epochs=8, lr=0.01, random_state=seed, clip_min=0, clip_max=1, eps=0.05,
                  n_iter=3, module__hidden_units=(32,)).fit(X_tr, y_tr)
              for cls in (StandardTraining, AdversarialTraining)]
    return seed, models, X_te, y_te


@pytest.mark.parametrize("norm, radii", [("inf", (0.01, 0.03)), (2, (0.1, 0.3))])
def test_certified_examples_resist_pgd(fitted, norm, radii):
    # Soundness: certified => neither PGD with restarts nor APGD (CE and DLR) finds an
    # adversarial example, so the certified accuracy never exceeds the empirical one.
    seed, models, X, y = fitted
    n_certified = 0
    for clf in models:
        for eps in radii:
            res = certify(clf, X, y, eps, norm=norm)
            attack = PGD(eps=eps, norm=norm, n_iter=20, n_restarts=3, random_state=seed)
            robust = clf.predict(attack.generate(clf, X, y)) == y
            for loss in ("ce", "dlr"):
                apgd = APGD(eps=eps, norm=norm, n_iter=20, loss=loss, random_state=seed)
                robust &= clf.predict(apgd.generate(clf, X, y)) == y
            assert not (res.certified & ~robust).any(), (type(clf).__name__, eps)
            assert res.certified_accuracy <= robust.mean() <= clf.score(X, y)
            n_certified += res.certified.sum()
    assert n_certified > 20  # the check is not vacuous


def test_result_fields_and_interval(fitted):
    _, (clf, _), X, y = fitted
    small, large = certify(clf, X, y, 0.01), certify(clf, X, y, 0.05)
    assert isinstance(small, CertificationResult) and isinstance(small.interval, AccuracyInterval)
    assert small.method == "ibp" and small.norm == "inf" and small.eps == 0.01
    assert small.radius is None and small.certified.dtype == bool and small.seconds >= 0
    assert small.certified_accuracy == small.certified.mean() == small.interval.estimate
    assert small.interval.low <= small.certified_accuracy <= small.interval.high
    assert not (large.certified & ~small.certified).any()  # nested balls
    with pytest.raises(AttributeError):
        small.method = "x"
    with pytest.raises(TypeError):
        small.params["batch_size"] = 3
    zero = certify(clf, X, y, 0.0)  # eps = 0 certifies exactly the correct predictions
    np.testing.assert_array_equal(zero.certified, clf.predict(X) == y)


def test_batch_size_does_not_change_certificates(fitted):
    _, (clf, _), X, y = fitted
    np.testing.assert_array_equal(certify(clf, X, y, 0.02, batch_size=7).certified,
                                  certify(clf, X, y, 0.02).certified)


@pytest.mark.filterwarnings("ignore::robustsk.base.NearChanceWarning")
def test_images_and_linear_models(digits_small):
    X_tr, X_te, y_tr, y_te = digits_small
    cnn = StandardTraining(max_epochs=2, random_state=0, clip_min=0, clip_max=1,
                           module__channels=(4, 4), module__hidden_units=16).fit(X_tr, y_tr)
    res = certify(cnn, X_te[:30], y_te[:30], 0.0)
    np.testing.assert_array_equal(res.certified, cnn.predict(X_te[:30]) == y_te[:30])
    flat = X_tr.reshape(len(X_tr), -1)
    logreg = LogisticRegression(max_iter=200).fit(flat, y_tr)
    res = certify(logreg, X_te[:50].reshape(50, -1), y_te[:50], 0.05, norm=2)
    assert res.method == "ibp" and res.certified_accuracy <= logreg.score(
        X_te[:50].reshape(50, -1), y_te[:50])


def test_default_methods():
    assert default_method(StandardTraining()) == "ibp"
    assert default_method(RandomizedSmoothingClassifier()) == "smoothing"
    assert {"ibp", "smoothing"} <= set(METHODS)


def test_register_method(fitted):
    _, (clf, _), X, y = fitted

    def everything(estimator, X, y, eps, *, norm, scale=1.0):
        return np.ones(len(y), bool), np.full(len(y), scale)

    register_method("test-everything", everything, norms=("2",))
    try:
        res = certify(clf, X, y, 0.1, method="test-everything", scale=2.0)
        assert res.norm == "2" and res.certified_accuracy == 1.0 and res.radius[0] == 2.0
        assert dict(res.params) == {"scale": 2.0}
        with pytest.raises(ValueError, match="not supported by method='test-everything'"):
            certify(clf, X, y, 0.1, method="test-everything", norm="inf")
    finally:
        METHODS.pop("test-everything")


class _Tanh(nn.Module):
    def __init__(self, input_shape=None, n_classes=10):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.Tanh(), nn.Linear(8, n_classes))

    def forward(self, x):
        return self.net(x)


@pytest.mark.filterwarnings("ignore::robustsk.base.NearChanceWarning")
def test_bad_input(fitted, flat_digits):
    _, (clf, _), X, y = fitted
    with pytest.raises(ValueError, match="Did you mean 'ibp'"):
        certify(clf, X, y, 0.1, method="ibpp")
    with pytest.raises(ValueError, match="eps=-0.1 is negative"):
        certify(clf, X, y, -0.1)
    with pytest.raises(ValueError, match="norm=1 is not supported"):
        certify(clf, X, y, 0.1, norm=1)
    with pytest.raises(ValueError, match="not supported by method='smoothing'"):
        certify(clf, X, y, 0.1, method="smoothing", norm="inf")
    with pytest.raises(TypeError, match="RandomizedSmoothingClassifier"):
        certify(clf, X, y, 0.1, method="smoothing")
    with pytest.raises(NotFittedError):
        certify(StandardTraining(), X, y, 0.1)
    with pytest.raises(ValueError, match="batch_size"):
        certify(clf, X, y, 0.1, batch_size=0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        certify(clf, X, y, 0.1, n_samples=3)
    with pytest.raises(ValueError, match="labels"):
        certify(clf, X, np.full(len(y), 42), 0.1)
    with pytest.raises(ValueError, match="outside the box"):
        certify(clf, X + 0.5, y, 0.1)
    X_tr, _, y_tr, _ = flat_digits
    tanh = StandardTraining(_Tanh, max_epochs=1, random_state=0).fit(X_tr[:100], y_tr[:100])
    with pytest.raises(TypeError, match="of type _Tanh"):
        certify(tanh, X, y, 0.1)


@pytest.mark.filterwarnings("ignore::robustsk.base.NearChanceWarning")
def test_certifying_defenses_default_to_their_own_method():
    # the SDP and RUB defenses name their method; certify() dispatches to it and
    # agrees with calling the method directly
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    from robustsk.defenses import RobustUpperBoundTraining, SDPCertifiedNetwork

    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    for cls, method in ((SDPCertifiedNetwork, "sdp_dual"), (RobustUpperBoundTraining, "rub")):
        clf = cls(eps=0.05, max_epochs=3, random_state=0).fit(X, y)
        result = certify(clf, X, y, 0.05)
        assert result.method == method
        direct, _ = METHODS[method](clf, X, y, 0.05, norm="inf")
        np.testing.assert_array_equal(result.certified, direct)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_ibp_and_smoothing_on_cuda(flat_digits):
    X_tr, X_te, y_tr, y_te = flat_digits
    clf = StandardTraining(max_epochs=3, lr=0.01, random_state=0, clip_min=0, clip_max=1,
                           device="cuda", module__hidden_units=(32,)).fit(X_tr, y_tr)
    res = certify(clf, X_te, y_te, 0.01)
    assert not (res.certified & (clf.predict(X_te) != y_te)).any()
    smooth = RandomizedSmoothingClassifier(clf, sigma=0.25, n=50, n0=10, random_state=0)
    res = certify(smooth.fit(X_tr, y_tr), X_te[:10], y_te[:10], 0.1)
    assert res.radius.shape == (10,)


@pytest.mark.parametrize("norm, eps", [("inf", 0.01), (2, 0.05)])
def test_ibp_through_affine_preprocessing_is_sound(norm, eps):
    """A Pipeline of scikit-learn affine steps (scaler, PCA) and a robustsk network: bounds
    pass through the steps as a linear layer; no certified example is broken."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler
    X, y = load_breast_cancer(return_X_y=True)
    X = MinMaxScaler().fit_transform(X).astype(np.float32)
    for pre in (StandardScaler(), PCA(10, random_state=0)):
        pipe = make_pipeline(pre, AdversarialTraining(eps=0.02, max_epochs=10, random_state=0,
                                                      module__hidden_units=(16,)))
        pipe.fit(X[:400], y[:400])
        res = certify(pipe, X[400:], y[400:], eps=eps, norm=norm)
        X_adv = APGD(eps=eps, norm=norm, n_iter=30, random_state=0).generate(pipe, X[400:],
                                                                              y[400:])
        broken = pipe.predict(X_adv) != y[400:]
        assert res.method == "ibp" and res.certified.any()
        assert not (res.certified & broken).any(), type(pre).__name__
    clipping = make_pipeline(MinMaxScaler(clip=True), StandardTraining(max_epochs=1)).fit(X, y)
    with pytest.raises(TypeError, match="clip"):
        certify(clipping, X[:5], y[:5], eps=eps, norm=norm)


def test_a_scikit_learn_model_is_bounded_in_its_own_float64():
    """Features near 1e6 lose 0.06 in float32: IBP on that copy certified a label the
    model does not predict (the certificate must hold for the model as it computes)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    rng = np.random.default_rng(0)
    X = 1e6 + rng.normal(size=(400, 2))
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    X_near = 1e6 + rng.normal(size=(2000, 2))
    X_near[:, 1] = X_near[:, 0] + rng.uniform(-0.2, 0.2, size=2000)  # near the boundary
    for clf in (LogisticRegression(C=1e4), make_pipeline(StandardScaler(),
                                                         LogisticRegression(C=1e4))):
        clf.fit(X, y)
        pred = clf.predict(X_near)
        wrong = certify(clf, X_near, 1 - pred, eps=0.0, norm="inf").certified
        assert not wrong.any()
        res = certify(clf, X_near, pred, eps=1e-3, norm="inf")
        assert res.certified.mean() > 0.5
        for corner in ([-1, -1], [-1, 1], [1, -1], [1, 1]):
            moved = clf.predict(X_near + 1e-3 * np.array(corner))
            assert (moved[res.certified] == pred[res.certified]).all()


def test_ibp_takes_a_box_for_a_model_without_one(flat_digits):
    """The report certified a scikit-learn --model over the whole ball, while its attacks
    search the ball inside the [0, 1] image box: the certificate was needlessly loose."""
    X_tr, X_te, y_tr, y_te = flat_digits
    lr = LogisticRegression(max_iter=500).fit(X_tr, y_tr)
    X, y, eps = X_te[:60], y_te[:60], 0.1
    W = lr.coef_
    lo, hi = np.maximum(X - eps, 0.0), np.minimum(X + eps, 1.0)

    def exact(lo, hi):  # a linear model's worst case over a box: per class pair, a vertex
        worst = np.full(len(X), np.inf)
        for j in range(W.shape[0]):
            d = W[y] - W[j]  # (n, d): margin of the true class over j
            low = np.where(d > 0, lo, hi)
            margin = (d * low).sum(1) + lr.intercept_[y] - lr.intercept_[j]
            worst = np.where(y != j, np.minimum(worst, margin), worst)
        return worst > 0
    unboxed = certify(lr, X, y, eps, norm="inf", method="ibp")
    boxed = certify(lr, X, y, eps, norm="inf", method="ibp", clip_min=0.0, clip_max=1.0)
    assert np.array_equal(unboxed.certified, exact(X - eps, X + eps))
    assert np.array_equal(boxed.certified, exact(lo, hi))
    assert boxed.certified_accuracy > unboxed.certified_accuracy
