"""Gradient poisoning (Biggio et al., 2012) of logistic regression and linear SVMs."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.svm import LinearSVC

from robustsk.poisoning import gradient_poisoning, poisoning_report
from robustsk.poisoning.gradient import _val_grad


@pytest.fixture(scope="module")
def ones_sevens():
    X, y = load_digits(return_X_y=True)
    mask = np.isin(y, [1, 7])
    X, y = X[mask] / 16.0, y[mask]
    order = np.random.RandomState(0).permutation(len(y))
    X, y = X[order], y[order]
    return X[:60], y[:60], X[60:160], y[60:160], X[160:], y[160:]


@pytest.mark.parametrize("model", [
    LogisticRegression(tol=1e-10, max_iter=5000),
    # newton-cholesky: lbfgs stops too early here for a 1e-4 finite difference
    LogisticRegression(tol=1e-12, max_iter=5000, fit_intercept=False,
                       solver="newton-cholesky"),
    LogisticRegression(tol=1e-10, max_iter=5000, solver="liblinear"),
    LinearSVC(tol=1e-10, max_iter=100000),
    LinearSVC(tol=1e-10, max_iter=100000, fit_intercept=False)],
    ids=["logreg", "logreg-nointercept", "logreg-liblinear", "linearsvc",
         "linearsvc-nointercept"])
def test_implicit_gradient_matches_finite_differences(model, ones_sevens):
    X, y, X_val, y_val, _, _ = ones_sevens
    kind = "logistic" if isinstance(model, LogisticRegression) else "svm"
    t, t_val = (y == 7).astype(float), (y_val == 7).astype(float)
    x_c, t_c = X[0].copy(), 1.0 - t[0]

    def loss_grad(x):
        fitted = clone(model).fit(np.vstack([X, x[None]]), np.append(y, 7 if t_c else 1))
        return _val_grad(kind, fitted, X, t, x, t_c, X_val, t_val)

    _, grad = loss_grad(x_c)
    for j in (20, 35):
        e = np.zeros_like(x_c)
        e[j] = 1e-4
        fd = (loss_grad(x_c + e)[0] - loss_grad(x_c - e)[0]) / 2e-4
        assert grad[j] == pytest.approx(fd, rel=1e-3, abs=1e-7)


def test_gradient_poisoning_beats_random_poisoning(ones_sevens):
    X, y, X_val, y_val, X_te, y_te = ones_sevens
    victim = LogisticRegression(C=10.0)
    kw = dict(n_points=4, clip_min=0.0, clip_max=1.0, random_state=0)
    rand = gradient_poisoning(victim, X, y, X_val, y_val, n_iter=0, **kw)
    grad = gradient_poisoning(victim, X, y, X_val, y_val, n_iter=10, **kw)
    assert grad.X.shape == (64, 64) and list(grad.poison_indices) == [60, 61, 62, 63]
    assert grad.X.min() >= 0.0 and grad.X.max() <= 1.0
    assert np.all(np.diff(grad.validation_loss) > 0)
    rep_r = poisoning_report(victim, rand.X, rand.y, X_te, y_te, result=rand)
    rep_g = poisoning_report(victim, grad.X, grad.y, X_te, y_te, result=grad)
    assert rep_g.kind == "gradient"
    assert 1 - rep_g.clean_accuracy > (1 - rep_r.clean_accuracy) + 0.05
    assert rep_g.accuracy_drop > rep_r.accuracy_drop


def test_refuses_other_models_and_multiclass(ones_sevens):
    X, y, X_val, y_val, _, _ = ones_sevens
    with pytest.raises(TypeError, match="LogisticRegression or LinearSVC"):
        gradient_poisoning(RidgeClassifier(), X, y, X_val, y_val)
    y3 = y.copy()
    y3[:5] = 3
    with pytest.raises(ValueError, match="binary"):
        gradient_poisoning(LogisticRegression(), X, y3, X_val, y_val)


@pytest.mark.parametrize("model", [LogisticRegression(fit_intercept=False),
                                   LinearSVC(fit_intercept=False)],
                         ids=["logreg", "linearsvc"])
def test_runs_without_an_intercept(model, ones_sevens):
    # LinearSVC(fit_intercept=False) has a float intercept_ (0.0), which crashed
    X, y, X_val, y_val, _, _ = ones_sevens
    res = gradient_poisoning(model, X, y, X_val, y_val, n_points=2, n_iter=3,
                             clip_min=0.0, clip_max=1.0, random_state=0)
    assert res.X.shape == (62, 64) and np.all(np.isfinite(res.validation_loss))
    assert res.validation_loss[-1] > res.validation_loss[0]


def test_refuses_infinite_C_up_front(ones_sevens):
    # C=inf is "no penalty": the Hessian was NaN and the refit failed on NaN input
    X, y, X_val, y_val, _, _ = ones_sevens
    with pytest.raises(ValueError, match=r"C=inf.*finite C"):
        gradient_poisoning(LogisticRegression(C=np.inf), X, y, X_val, y_val, n_iter=1)


@pytest.mark.parametrize("y_val_kind", ["other-ints", "strings-vs-ints"])
def test_refuses_validation_labels_outside_the_training_classes(y_val_kind, ones_sevens):
    X, y, X_val, y_val, _, _ = ones_sevens
    if y_val_kind == "other-ints":
        y_val = np.where(y_val == 7, 3, y_val)     # 3 is not a training class
    else:
        y_val = y_val.astype(str)                  # '1'/'7' vs 1/7
    with pytest.raises(ValueError, match="not among y_train's classes"):
        gradient_poisoning(LogisticRegression(), X, y, X_val, y_val, n_iter=1)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_iter": -2}, "n_iter=-2: expected an integer >= 0"),
    ({"n_points": -1}, "n_points=-1: expected an integer >= 0"),
    ({"step_size": -0.5}, "step_size=-0.5: expected a finite number > 0"),
    ({"clip_min": 1, "clip_max": 0}, "clip_min exceeds clip_max"),
])
def test_settings_are_checked_before_any_fit(ones_sevens, kwargs, match):
    X, y, X_val, y_val, _, _ = ones_sevens
    with pytest.raises(ValueError, match=match):
        gradient_poisoning(LogisticRegression(), X, y, X_val, y_val, **kwargs)


def test_poisons_lie_in_the_box_and_keep_a_float_dtype(ones_sevens):
    """The start (a training point) is clipped into the box too; float32 stays float32."""
    X, y, X_val, y_val, _, _ = ones_sevens
    res = gradient_poisoning(LogisticRegression(), X.astype(np.float32), y, X_val, y_val,
                             n_points=3, n_iter=0, clip_min=0.0, clip_max=0.5, random_state=0)
    assert res.X.dtype == np.float32 and res.X[res.poison_indices].max() <= 0.5
