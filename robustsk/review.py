"""The R experiment of Li, Cheng, Hsieh and Lee (2022), and its R twin.

The review attacks an L1-regularised logistic regression on MNIST 0 vs 1
(labels -1/+1, pixels 0-255; LIBLINEAR type 6, cost 0.5, no intercept) with
PGD on the closed-form gradient of ``log(1 + exp(-y w'x))``: eps 8, step 1,
40 signed steps, no random start, no clipping to the pixel range. Only test
points classified correctly without attack are attacked; the review divides
the survivors by the number of all test points.

Offline stand-in: scikit-learn's digits 0 vs 1, pixels ``x * 255 / 16``
(``r_compat/inst/extdata/digits01.csv``, written by ``make_digits01.py``).
The R twin is ``r_compat/R/review.R``; given the same ``w`` the attack and
the robust accuracy agree exactly (same arithmetic on multiples of 1/16).

Two solvers fit ``w``: ``"liblinear"`` (scikit-learn's LIBLINEAR, as the
review) and ``"cd"``, the coordinate descent of :func:`fit_l1_logistic`
that the R twin implements too (LIBLINEAR has no offline R package here).
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .stats import RobustAccuracy, robust_accuracy_from_correct

__all__ = ["ReviewResult", "digits01_frame", "load_digits01", "fit_l1_logistic",
           "l1_logistic_objective", "logistic_gradient", "pgd_logistic", "review_experiment",
           "check_sign", "DIGITS01_CSV", "DIGITS01_RESOURCE"]

#: the R package's copy of the data (exists in a source checkout only; the R twin reads it)
DIGITS01_CSV = Path(__file__).resolve().parents[1] / "r_compat" / "inst" / "extdata" / "digits01.csv"
#: the copy shipped inside robustsk (package data), byte-identical to :data:`DIGITS01_CSV`
DIGITS01_RESOURCE = ("robustsk.data", "digits01.csv")


def _read_packaged_digits01():
    import pandas as pd

    package, name = DIGITS01_RESOURCE
    with resources.files(package).joinpath(name).open("rb") as handle:
        return pd.read_csv(handle)


def digits01_frame(test_size=0.4, random_state=0):
    """Digits 0 vs 1 of :func:`sklearn.datasets.load_digits` as one table.

    Columns ``split`` ("train"/"test"), ``label`` (-1 for digit 0, +1 for
    digit 1) and ``x1 .. x64`` (grey level * 255 / 16, multiples of 1/16 in
    [0, 255]: exact in binary and in the CSV). Stratified split.
    """
    import pandas as pd
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits(n_class=2)
    X = d.data * (255.0 / 16.0)
    y = np.where(d.target == 0, -1, 1)
    idx = np.arange(len(y))
    train, test = train_test_split(idx, test_size=test_size, random_state=random_state, stratify=y)
    split = np.empty(len(y), dtype=object)
    split[train], split[test] = "train", "test"
    frame = pd.DataFrame(X, columns=[f"x{j + 1}" for j in range(X.shape[1])])
    frame.insert(0, "label", y)
    frame.insert(0, "split", split)
    return frame


def load_digits01(path=None):
    """``(X_train, y_train, X_test, y_test)`` from the committed CSV (or made afresh).

    Parameters
    ----------
    path : str or Path, default=None
        None reads the copy shipped in the package (``robustsk/data/digits01.csv``,
        the same bytes as :data:`DIGITS01_CSV`); a path that does not exist
        builds the same table with :func:`digits01_frame`.
    """
    import pandas as pd

    if path is None:
        frame = _read_packaged_digits01()
    else:
        path = Path(path)
        frame = pd.read_csv(path) if path.exists() else digits01_frame()
    X = frame.filter(regex=r"^x\d+$").to_numpy(dtype=np.float64)
    y = frame["label"].to_numpy(dtype=np.float64)
    tr = (frame["split"] == "train").to_numpy()
    return X[tr], y[tr], X[~tr], y[~tr]


def l1_logistic_objective(w, X, y, C=0.5):
    """``||w||_1 + C * sum(log(1 + exp(-y * X w)))`` (LIBLINEAR's primal, type 6)."""
    return float(np.abs(w).sum() + C * np.logaddexp(0.0, -y * (X @ w)).sum())


def fit_l1_logistic(X, y, C=0.5, *, tol=1e-4, max_iter=1000):
    """L1-regularised logistic regression without intercept, by coordinate descent.

    Minimises :func:`l1_logistic_objective` with one proximal Newton step per
    coordinate and an Armijo backtracking line search on the exact objective
    (the CDN method of Yuan et al. 2010, LIBLINEAR's former L1-LR solver),
    cycling over the coordinates in order until the largest violation of the
    optimality conditions (minimum-norm subgradient) is below ``tol``. The R
    twin ``review_fit_l1_logistic`` runs the same steps.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,), values -1 and +1
    C : float, default=0.5
    tol : float, default=1e-4
    max_iter : int, default=1000
        Passes over the coordinates.

    Returns
    -------
    w : ndarray of shape (n_features,)
    info : dict with ``objective``, ``n_iter``, ``converged``, ``violation``

    References
    ----------
    .. [1] Yuan, G.-X., Chang, K.-W., Hsieh, C.-J. and Lin, C.-J. "A Comparison of
       Optimization Methods and Software for Large-scale L1-regularized Linear
       Classification." JMLR 11, 2010.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if not np.all(np.isin(y, (-1.0, 1.0))):
        raise ValueError("y must hold -1 and +1 only (the review's coding).")
    n, p = X.shape
    w = np.zeros(p)
    z = np.zeros(n)  # X w
    sigma, violation, it = 0.01, np.inf, 0
    for it in range(1, max_iter + 1):
        violation = 0.0
        for j in range(p):
            xj = X[:, j]
            if not np.any(xj):
                continue
            s = 1.0 / (1.0 + np.exp(y * z))  # P(wrong label) = sigmoid(-y z)
            g = -C * np.sum(y * xj * s)
            h = max(C * np.sum(xj * xj * s * (1.0 - s)), 1e-12)
            wj = w[j]
            v = abs(g + 1) if wj > 0 else abs(g - 1) if wj < 0 else max(abs(g) - 1, 0.0)
            violation = max(violation, v)
            if g + 1 <= h * wj:
                d = -(g + 1) / h
            elif g - 1 >= h * wj:
                d = -(g - 1) / h
            else:
                d = -wj
            if abs(d) < 1e-14:
                continue
            decrease = g * d + abs(wj + d) - abs(wj)
            f0 = C * np.sum(np.logaddexp(0.0, -y * z)) + abs(wj)
            t = 1.0
            for _ in range(50):
                zn = z + t * d * xj
                f1 = C * np.sum(np.logaddexp(0.0, -y * zn)) + abs(wj + t * d)
                if f1 - f0 <= sigma * t * decrease:
                    break
                t *= 0.5
            w[j] = wj + t * d
            z = zn
        if violation < tol:
            break
    return w, {"objective": l1_logistic_objective(w, X, y, C), "n_iter": it,
               "converged": bool(violation < tol), "violation": float(violation)}


def check_sign(w, X, decision):
    """Raise unless ``X @ w`` has the sign of the model's decision values.

    LIBLINEAR orders the classes by first appearance in the training labels,
    so its ``W`` can point to class -1 (R's ``LiblineaR`` when the first
    training label is -1); PGD on ``log(1 + exp(-y w'x))`` with such a ``w``
    pushes examples *towards* their class and reports a robustness that is
    not there.
    """
    ours = np.sign(np.asarray(X, dtype=np.float64) @ np.asarray(w, dtype=np.float64))
    theirs = np.sign(np.asarray(decision, dtype=np.float64))
    nonzero = (ours != 0) & (theirs != 0)
    agree = float(np.mean(ours[nonzero] == theirs[nonzero])) if nonzero.any() else 1.0
    if agree < 1.0:
        raise ValueError(f"sign(X @ w) agrees with the decision values on {agree:.1%} of the "
                         "examples: w points to the other class. Use -w (LIBLINEAR orders "
                         "classes by first appearance).")
    return True


def logistic_gradient(w, X, y):
    """Gradient of ``log(1 + exp(-y w'x))`` in x, row by row, as the review writes it.

    ``-y / (1 + exp(y w'x)) * w``. For margins ``y w'x`` above ~709.78 the
    exponential overflows and the gradient is exactly 0: the signed step is
    then 0 and the point does not move (the review's formula, kept as is;
    :class:`ReviewResult` counts such points in ``n_zero_gradient``).
    """
    with np.errstate(over="ignore"):
        scale = -y / (1.0 + np.exp(y * (X @ w)))
    return scale[:, None] * w[None, :]


def pgd_logistic(w, X, y, *, eps=8.0, step_size=1.0, n_iter=40):
    """Linf PGD on the logistic loss: signed steps, projection, no start, no clip.

    Returns the adversarial ``X`` (a new array).
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    x_adv = X.copy()
    for _ in range(int(n_iter)):
        x_adv = x_adv + step_size * np.sign(logistic_gradient(w, x_adv, y))
        x_adv = np.minimum(np.maximum(x_adv, X - eps), X + eps)
    return x_adv


def _liblinear(C, tol):
    """``LogisticRegression(penalty="l1", solver="liblinear", fit_intercept=False)``.

    scikit-learn 1.8 deprecated ``penalty``: there ``l1_ratio=1`` asks for the
    L1 penalty (and ``penalty="l1"`` alone would be overridden by the default
    ``l1_ratio=0``, an L2 fit, with a warning).
    """
    import sklearn
    from sklearn.linear_model import LogisticRegression

    major, minor = (int(v) for v in sklearn.__version__.split(".")[:2])
    penalty = {"l1_ratio": 1.0} if (major, minor) >= (1, 8) else {"penalty": "l1"}
    return LogisticRegression(**penalty, solver="liblinear", C=C, fit_intercept=False, tol=tol,
                              random_state=0)  # LIBLINEAR permutes coordinates at random


def _predict(w, X):
    return np.where(X @ w > 0, 1.0, -1.0)


@dataclass(frozen=True)
class ReviewResult:
    """The review's experiment: a fitted ``w``, its clean and robust accuracy.

    Attributes
    ----------
    w : ndarray of shape (n_features,)
    solver : str
        ``"liblinear"``, ``"cd"`` or ``"given"``.
    objective : float
        :func:`l1_logistic_objective` of ``w`` on the training data.
    eps, step_size : float
    n_iter : int
    clean_correct, adv_correct : ndarray of bool, shape (n_test,)
        Per test point; a point misclassified without attack is not attacked
        and counts as incorrect under attack.
    clean_accuracy : float
    robust : RobustAccuracy
        Over all test points (the review's ``corr / n``).
    robust_conditional : RobustAccuracy
        Over the clean-correct test points.
    n_zero_gradient : int
        Attacked points whose first gradient was exactly 0 (they never move).
    """

    w: np.ndarray
    solver: str
    objective: float
    eps: float
    step_size: float
    n_iter: int
    clean_correct: np.ndarray
    adv_correct: np.ndarray
    clean_accuracy: float
    robust: RobustAccuracy
    robust_conditional: RobustAccuracy
    n_zero_gradient: int


def review_experiment(data=None, *, C=0.5, solver="liblinear", w=None, eps=8.0, step_size=1.0,
                      n_iter=40, tol=0.01):
    """Fit (or take) ``w``, attack the correctly classified test points, count survivors.

    Parameters
    ----------
    data : tuple (X_train, y_train, X_test, y_test), default=None
        None uses :func:`load_digits01`.
    C : float, default=0.5
    solver : {"liblinear", "cd"}, default="liblinear"
        "liblinear": ``LogisticRegression(penalty="l1", solver="liblinear",
        C=C, fit_intercept=False, tol=tol)`` (``l1_ratio=1`` from scikit-learn
        1.8 on); "cd": :func:`fit_l1_logistic`
        (the R twin's solver, run to ``tol=1e-4`` whatever ``tol`` says).
    w : array-like of shape (n_features,), default=None
        Use these weights instead of fitting (as given to the R twin).
    eps, step_size, n_iter : PGD's radius, step and steps (review: 8, 1, 40).
    tol : float, default=0.01
        LIBLINEAR's tolerance (scikit-learn's twin of the review's call).

    Returns
    -------
    ReviewResult

    References
    ----------
    .. [1] Li, Y., Cheng, M., Hsieh, C.-J. and Lee, T. C. M. "A Review of
       Adversarial Attack and Defense for Classification Methods." The
       American Statistician 76(4), 2022.

    Examples
    --------
    >>> r = review_experiment(solver="cd")
    >>> r.clean_accuracy > 0.95, 0 <= r.robust.estimate <= r.clean_accuracy
    (True, True)
    """
    X_tr, y_tr, X_te, y_te = load_digits01() if data is None else data
    X_tr, X_te = np.asarray(X_tr, dtype=np.float64), np.asarray(X_te, dtype=np.float64)
    y_tr, y_te = np.asarray(y_tr, dtype=np.float64), np.asarray(y_te, dtype=np.float64)
    if w is not None:
        w, solver = np.asarray(w, dtype=np.float64).ravel(), "given"
    elif solver == "liblinear":
        clf = _liblinear(C, tol).fit(X_tr, y_tr)
        if list(clf.classes_) != [-1.0, 1.0]:
            raise ValueError(f"expected classes -1 and +1; got {clf.classes_.tolist()}.")
        w = clf.coef_.ravel().copy()
        check_sign(w, X_te, clf.decision_function(X_te))
    elif solver == "cd":
        w, _ = fit_l1_logistic(X_tr, y_tr, C)
    else:
        raise ValueError(f"solver={solver!r}: expected 'liblinear' or 'cd', or pass w.")
    clean_correct = _predict(w, X_te) == y_te
    attacked = np.flatnonzero(clean_correct)
    x_adv = pgd_logistic(w, X_te[attacked], y_te[attacked], eps=eps, step_size=step_size,
                         n_iter=n_iter)
    adv_correct = np.zeros_like(clean_correct)
    adv_correct[attacked] = _predict(w, x_adv) == y_te[attacked]
    grad0 = logistic_gradient(w, X_te[attacked], y_te[attacked])
    return ReviewResult(
        w=w, solver=solver, objective=l1_logistic_objective(w, X_tr, y_tr, C), eps=float(eps),
        step_size=float(step_size), n_iter=int(n_iter), clean_correct=clean_correct,
        adv_correct=adv_correct, clean_accuracy=float(clean_correct.mean()),
        robust=robust_accuracy_from_correct(clean_correct, adv_correct, over="all"),
        robust_conditional=robust_accuracy_from_correct(clean_correct, adv_correct,
                                                        over="clean_correct"),
        n_zero_gradient=int(np.sum(~grad0.any(axis=1))))
