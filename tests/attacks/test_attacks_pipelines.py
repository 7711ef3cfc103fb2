"""Gradient attacks through affine Pipelines: eps in the raw input space."""
import numpy as np
import pytest
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    StandardScaler,
)
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits
import torch

from robustsk.attacks import APGD, FGSM, PGD
from robustsk.attacks._target import as_target
from robustsk.base import RobustClassifier

N_TRAIN, N_TEST = 300, 80


def _mlp(**kw):
    return RobustClassifier(max_epochs=8, lr=1e-2, batch_size=32, random_state=0,
                            module__hidden_units=(32,), **kw)



@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Tiny scikit-learn fits are slowed by BLAS oversubscription on shared cores."""
    with threadpool_limits(limits=1):
        yield

@pytest.fixture(scope="module")
def flat(digits):
    _, X, y = digits
    return X[:N_TRAIN], y[:N_TRAIN], X[-N_TEST:], y[-N_TEST:]


@pytest.fixture(scope="module", params=["scaler", "pca"])
def pipe(request, flat):
    X, y, _, _ = flat
    pre = StandardScaler() if request.param == "scaler" else PCA(20, random_state=0)
    return make_pipeline(pre, _mlp(eps=0.05)).fit(X, y)


@pytest.mark.parametrize("attack", [FGSM(eps=0.1), PGD(eps=0.1, n_iter=10),
                                    APGD(eps=0.1, n_iter=10), PGD(eps=1.0, norm=2, n_iter=10)],
                         ids=["fgsm", "pgd", "apgd", "pgd-l2"])
def test_raw_space_eps_and_lower_accuracy(attack, pipe, flat):
    _, _, X, y = flat
    X_copy = X.copy()
    X_adv = attack.generate(pipe, X, y)
    np.testing.assert_array_equal(X, X_copy)
    assert X_adv.shape == X.shape and X_adv.dtype == X.dtype
    delta = (X_adv - X).astype(np.float64)
    size = np.abs(delta).max(1) if attack.norm is None else np.linalg.norm(delta, axis=1)
    assert size.max() <= attack.eps + 1e-5
    assert (pipe.predict(X_adv) == y).mean() < (pipe.predict(X) == y).mean() - 0.1


def test_module_is_the_pipeline(pipe, flat):
    _, _, X, _ = flat
    target = as_target(pipe)
    with torch.no_grad():
        logits = target.module(target.prepare_X(X)).numpy()
    np.testing.assert_allclose(logits, pipe[-1].forward(pipe[:-1].transform(X)).numpy(),
                               atol=1e-4)


def test_threat_defaults_eps_inherited_box_not(flat):
    X, y, X_te, y_te = flat
    pipe = make_pipeline(StandardScaler(), _mlp(eps=0.05, clip_min=-50.0, clip_max=50.0))
    pipe.fit(X, y)
    target = as_target(pipe)
    assert target.threat_default("eps") == 0.05
    assert target.threat_default("random_state") == 0
    assert target.threat_default("clip_min") is None and target.threat_default("clip_max") is None
    X_adv = PGD(n_iter=5).generate(pipe, X_te, y_te)
    assert np.abs(X_adv - X_te).max() <= 0.05 + 1e-6
    assert X_adv.min() < 0.0  # unbounded raw box: the scaled-space box was not used
    boxed = PGD(n_iter=5, clip_min=0.0, clip_max=1.0).generate(pipe, X_te, y_te)
    assert boxed.min() >= 0.0 and boxed.max() <= 1.0
    with pytest.raises(ValueError, match="box"):
        PGD(clip_min=0.0, clip_max=1.0).generate(pipe, X_te + 2.0, y_te)


def test_identity_steps_keep_the_box(image_clf, image_data):
    _, _, X, y = image_data
    pipe = make_pipeline(FunctionTransformer(), "passthrough", image_clf)
    assert as_target(pipe).threat_default("clip_max") == 1.0
    np.testing.assert_array_equal(PGD(n_iter=3).generate(pipe, X[:10], y[:10]),
                                  PGD(n_iter=3).generate(image_clf, X[:10], y[:10]))


@pytest.mark.parametrize("pre", [MinMaxScaler(), MaxAbsScaler(), PCA(10, whiten=True),
                                 TruncatedSVD(10, random_state=0),
                                 make_pipeline(StandardScaler(), PCA(10))],
                         ids=["minmax", "maxabs", "pca-whiten", "tsvd", "nested"])
def test_every_affine_step_matches_transform(pre, flat):
    X, y, X_te, _ = flat
    pipe = make_pipeline(pre, LogisticRegression(max_iter=300)).fit(X, y)
    target = as_target(pipe)
    with torch.no_grad():
        logits = target.module(target.prepare_X(X_te)).double().numpy()
    np.testing.assert_allclose(logits, pipe.decision_function(X_te), atol=1e-3)


def test_linear_model_in_a_pipeline_is_attacked(flat):
    X, y, X_te, y_te = flat
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(X, y)
    X_adv = PGD(eps=0.1, n_iter=10, random_state=0).generate(pipe, X_te, y_te)
    assert np.abs(X_adv - X_te).max() <= 0.1 + 1e-6
    assert (pipe.predict(X_adv) == y_te).mean() < (pipe.predict(X_te) == y_te).mean() - 0.2


@pytest.mark.parametrize("model", [
    make_pipeline(Normalizer(), LogisticRegression()),
    DecisionTreeClassifier(max_depth=3),
    SVC(kernel="rbf"),
    KNeighborsClassifier(3),
    make_pipeline(StandardScaler(), DecisionTreeClassifier(max_depth=3)),
], ids=["normalizer", "tree", "rbf-svc", "knn", "scaler-tree"])
def test_not_differentiable(model, flat):
    X, y, _, _ = flat
    model.fit(X[:100], y[:100])
    with pytest.raises(TypeError, match="not differentiable") as info:
        PGD(eps=0.1).generate(model, X[:5], y[:5])
    assert "SPSA" in str(info.value) and "Square" in str(info.value)


def test_wrong_number_of_features(pipe, flat):
    _, _, X, y = flat
    with pytest.raises(ValueError, match="64 features"):
        PGD(eps=0.1).generate(pipe, X[:, :10], y)
