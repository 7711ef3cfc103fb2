"""The review's R experiment (robustsk.review) and its R twin (r_compat/R/review.R).

Agreement stated and tested here:

- given the same ``w``, the R and Python attacks give bit-identical
  adversarial examples and identical per-example outcomes (so identical
  robust accuracies): pixels are multiples of 1/16 and the steps are +-1, so
  the arithmetic is exact, and only signs of the gradient are used;
- the coordinate-descent fit in R equals the numpy one to 1e-8 (same steps,
  only summation order may differ);
- both equal scikit-learn's LIBLINEAR run to ``tol=1e-6`` within 2e-3 in
  every weight (max |w| is about 0.05), with the same support, objective
  within 1e-4 (relative) and identical test predictions. At the review's
  ``tol=0.01`` LIBLINEAR stops far from the optimum (objective 0.44 against
  0.18): that fit is *not* reproduced by the R solver, and is less robust.
"""
import numpy as np
import pandas as pd
import pytest

from robustsk.review import (
    DIGITS01_CSV,
    ReviewResult,
    _liblinear,
    check_sign,
    digits01_frame,
    fit_l1_logistic,
    l1_logistic_objective,
    load_digits01,
    logistic_gradient,
    pgd_logistic,
    review_experiment,
)

W_TOL = 2e-3


@pytest.fixture(scope="module")
def data():
    return load_digits01()


@pytest.fixture(scope="module")
def w_liblinear(data):
    """scikit-learn's LIBLINEAR at the review's settings (tol=0.01)."""
    return review_experiment(data).w


@pytest.fixture(scope="module")
def w_cd(data):
    return fit_l1_logistic(data[0], data[1], 0.5)


def test_committed_csv_is_what_the_script_writes():
    committed = pd.read_csv(DIGITS01_CSV)
    fresh = digits01_frame()
    assert committed.shape == (360, 66)
    assert (committed["split"] == "test").sum() == 144
    pd.testing.assert_frame_equal(committed, fresh, check_dtype=False, check_exact=True)
    pixels = committed.filter(regex=r"^x").to_numpy()
    assert pixels.min() == 0 and pixels.max() == 255
    np.testing.assert_array_equal(pixels * 16 / 255, np.round(pixels * 16 / 255))


def test_sign_of_w_against_decision_values(data):
    X_tr, y_tr, X_te, _ = data
    clf = _liblinear(0.5, 0.01).fit(X_tr, y_tr)
    assert clf.classes_.tolist() == [-1, 1]
    w = clf.coef_.ravel()
    assert check_sign(w, X_te, clf.decision_function(X_te))
    with pytest.raises(ValueError, match="Use -w"):
        check_sign(-w, X_te, clf.decision_function(X_te))
    # LiblineaR's pitfall: predictions come from the model (right), the attack
    # from a W that points to class -1: PGD walks towards the right class.
    X, y = data[2], data[3]
    right = np.where(X @ w > 0, 1, -1) == y
    honest = np.where(pgd_logistic(w, X, y, eps=48) @ w > 0, 1, -1) == y
    flipped = np.where(pgd_logistic(-w, X, y, eps=48) @ w > 0, 1, -1) == y
    assert (right & honest).mean() < 0.9
    assert (right & flipped).mean() == right.mean()  # "perfectly robust"


def test_pgd_is_the_closed_form_corner(w_cd, data):
    w, _ = w_cd
    X, y = data[2], data[3]
    x_adv = pgd_logistic(w, X, y, eps=8, step_size=1, n_iter=40)
    # Signed steps of 1 towards -y sign(w), projected on the eps-box: after
    # 40 steps every moved pixel sits at the corner x - 8 y sign(w).
    np.testing.assert_array_equal(x_adv, X - 8 * y[:, None] * np.sign(w)[None, :])
    assert not np.shares_memory(x_adv, X)
    assert (x_adv < 0).any()  # no clipping to [0, 255], as in the review
    # The logistic loss went up for every point (the attack ascends).
    before = np.logaddexp(0, -y * (X @ w))
    after = np.logaddexp(0, -y * (x_adv @ w))
    assert np.all(after > before)


def test_gradient_is_exactly_zero_when_exp_overflows():
    w = np.array([1.0, -2.0])
    g = logistic_gradient(w, np.array([[800.0, 0.0], [1.0, 0.0]]), np.array([1.0, 1.0]))
    assert np.all(g[0] == 0) and np.all(g[1] != 0)


def test_cd_solver_matches_liblinear_run_to_convergence(w_cd, data):
    w, info = w_cd
    X_tr, y_tr, X_te, _ = data
    assert info["converged"] and info["violation"] < 1e-4
    tight = _liblinear(0.5, 1e-6).fit(X_tr, y_tr).coef_.ravel()
    assert np.max(np.abs(w - tight)) < W_TOL
    np.testing.assert_array_equal(w != 0, tight != 0)
    assert abs(info["objective"] - l1_logistic_objective(tight, X_tr, y_tr)) < 1e-4 * info["objective"]
    np.testing.assert_array_equal(X_te @ w > 0, X_te @ tight > 0)


def test_review_tolerance_stops_short_of_the_optimum(w_cd, w_liblinear, data):
    w, info = w_cd
    loose = l1_logistic_objective(w_liblinear, data[0], data[1])
    assert loose > info["objective"]  # tol=0.01 is LIBLINEAR's relative stopping rule
    assert np.count_nonzero(w_liblinear) > np.count_nonzero(w)


def test_review_experiment_result(data):
    r = review_experiment(data)
    assert isinstance(r, ReviewResult)
    assert r.solver == "liblinear" and r.eps == 8 and r.n_iter == 40
    assert r.clean_accuracy > 0.98
    assert r.robust.n == 144 and r.robust_conditional.n == int(r.clean_correct.sum())
    assert r.robust.estimate <= r.clean_accuracy
    assert not (r.adv_correct & ~r.clean_correct).any()
    with pytest.raises(ValueError, match="solver"):
        review_experiment(data, solver="lbfgs")


# ---------------------------------------------------------------- R twin
def _r_data(data):
    import rpy2.robjects as ro

    from robustsk.stats._rbackend import _to_r
    names = ("x_train", "y_train", "x_test", "y_test")
    return ro.r["list"](**{n: _to_r(np.asarray(v, dtype=float)) for n, v in zip(names, data)})


def _r(name, *args, **kwargs):
    import rpy2.robjects as ro

    from robustsk.stats._rbackend import _from_r, _load, _to_r
    fun = ro.r["get"](name, envir=_load())
    conv = lambda v: v if hasattr(v, "rclass") else _to_r(v)  # noqa: E731
    return _from_r(fun(*[conv(a) for a in args], **{k: conv(v) for k, v in kwargs.items()}))


@pytest.mark.parametrize("eps", [8.0, 48.0])
def test_r_attack_and_robust_accuracy_agree_exactly(r_backend, data, w_liblinear, eps):
    X_te, y_te = data[2], data[3]
    x_adv_r = _r("review_pgd", w_liblinear, X_te, y_te, eps=eps, step=1.0, n_iter=40)
    np.testing.assert_array_equal(x_adv_r, pgd_logistic(w_liblinear, X_te, y_te, eps=eps))

    py = review_experiment(data, w=w_liblinear, eps=eps)
    r = _r("review_experiment", _r_data(data), w=w_liblinear, eps=eps)
    np.testing.assert_array_equal(np.asarray(r["clean_correct"], bool), py.clean_correct)
    np.testing.assert_array_equal(np.asarray(r["adv_correct"], bool), py.adv_correct)
    for field in ("robust", "robust_conditional"):
        assert r[field]["successes"] == getattr(py, field).successes
        assert r[field]["n"] == getattr(py, field).n
        assert r[field]["estimate"] == getattr(py, field).estimate
    assert r["n_zero_gradient"] == py.n_zero_gradient
    if eps == 48.0:
        assert py.robust.estimate < 0.9  # a case where the attack does bite


def test_r_fit_matches_python_and_liblinear(r_backend, data, w_cd):
    w, info = w_cd
    fit = _r("review_fit_l1_logistic", data[0], data[1], cost=0.5)
    np.testing.assert_allclose(fit["w"], w, rtol=0, atol=1e-8)
    assert fit["n_iter"] == info["n_iter"]
    assert abs(fit["objective"] - info["objective"]) < 1e-10
    tight = _liblinear(0.5, 1e-6).fit(data[0], data[1]).coef_.ravel()
    assert np.max(np.abs(np.asarray(fit["w"]) - tight)) < W_TOL
    r = _r("review_experiment", _r_data(data))
    py = review_experiment(data, solver="cd")
    assert r["solver"] == "cd"
    assert r["robust"]["successes"] == py.robust.successes
    assert r["clean_accuracy"] == py.clean_accuracy


def test_r_sign_check(r_backend, data, w_liblinear):
    X_te = data[2]
    assert _r("review_check_sign", w_liblinear, X_te, X_te @ w_liblinear) is True \
        or _r("review_check_sign", w_liblinear, X_te, X_te @ w_liblinear) == 1
    with pytest.raises(Exception, match="Use -w"):
        _r("review_check_sign", -w_liblinear, X_te, X_te @ w_liblinear)


def test_packaged_digits01_is_the_r_copy():
    """The CSV shipped in the package is byte-identical to r_compat's (which R reads)."""
    from importlib import resources

    from robustsk.review import DIGITS01_RESOURCE
    package, name = DIGITS01_RESOURCE
    packaged = resources.files(package).joinpath(name).read_bytes()
    assert packaged == DIGITS01_CSV.read_bytes()
    X_tr, y_tr, X_te, y_te = load_digits01()
    committed = pd.read_csv(DIGITS01_CSV)
    assert len(X_tr) + len(X_te) == len(committed)
