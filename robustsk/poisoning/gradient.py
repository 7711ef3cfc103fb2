"""Gradient poisoning of a linear SVM or logistic regression (Biggio et al., 2012).

The attacker adds points ``(x_c, y_c)`` to the training set and moves ``x_c``
by gradient ascent on the victim's loss on validation data, retraining at every
step. The gradient of the validation loss ``V`` with respect to ``x_c`` goes
through the retrained parameters ``theta = (w, b)``; the implicit function
theorem on the optimality condition ``grad_theta L(theta; D u {x_c}) = 0`` gives

    dtheta/dx_c = -H^{-1} M,   dV/dx_c = -M^T H^{-1} grad_theta V

with ``H`` the Hessian of the training objective and ``M = d grad_theta
l(x_c, y_c) / dx_c`` the mixed derivative of the poison's loss. Both are closed
form here:

* ``LogisticRegression`` (L2 penalty; objective ``C sum l_i + ||w||^2 / 2``):
  ``H = C sum p_i (1 - p_i) x~_i x~_i^T + R`` and
  ``M = C [p_c (1 - p_c) x~_c w^T + (p_c - t_c) [I; 0]]`` with ``x~ = [x; 1]``;
  validation loss: mean log loss.
* ``LinearSVC`` (its default squared hinge ``max(0, 1 - s z)^2``, whose
  gradient is continuous, so the implicit gradient exists on the set of margin
  violators): ``H = 2 C sum_{a_i > 0} x~_i x~_i^T + R``,
  ``M = C [a_c > 0] (2 x~_c w^T) - 2 C s_c a_c [I; 0]``; validation loss: mean
  hinge loss, as in the paper. This is the linear, squared-hinge counterpart of
  the paper's KKT-based gradient for kernel SVMs (not a re-implementation of it).

``R`` is the identity on ``w`` and ``1 / intercept_scaling^2`` on ``b`` for
liblinear (which penalises the intercept), 0 on ``b`` otherwise. With
``fit_intercept=False`` there is no ``b``: ``theta = w``, ``x~ = x``, ``[I; 0]``
is ``I`` and ``R`` the identity. Points are
added one at a time, each optimised with the previous ones in the training
set (the paper's sequential scheme), by normalised gradient steps projected
onto the box, keeping the iterate of highest validation loss.
"""
from dataclasses import dataclass
import numbers

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from sklearn.utils import check_random_state

from ..attacks import check_positive_int
from ..validation import check_box
from ._checks import check_number, check_training_set

__all__ = ["GradientPoisoningResult", "gradient_poisoning"]


@dataclass(frozen=True)
class GradientPoisoningResult:
    """A training set with optimised poisoning points appended.

    Attributes
    ----------
    X : ndarray of shape (n_samples + n_points, n_features)
    y : ndarray of shape (n_samples + n_points,)
    poison_indices : ndarray of int
        The rows of the poisoning points (the last ``n_points``).
    validation_loss : ndarray of shape (n_points + 1,)
        The victim's validation loss before any poison, then after each point.
    """

    X: np.ndarray
    y: np.ndarray
    poison_indices: np.ndarray
    validation_loss: np.ndarray

    def clean_set(self):
        """The clean training set ``(X, y)``."""
        keep = np.ones(len(self.y), bool)
        keep[self.poison_indices] = False
        return self.X[keep], self.y[keep]


def _kind(estimator):
    if getattr(estimator, "class_weight", None) is not None:
        raise ValueError("gradient_poisoning does not model class_weight (the Hessian would "
                         "need the per-class weights): use class_weight=None.")
    if isinstance(estimator, LogisticRegression):
        l1 = getattr(estimator, "l1_ratio", 0.0)
        penalty = getattr(estimator, "penalty", "l2")
        if (l1 not in (None, 0, 0.0)) or penalty not in ("l2", "deprecated"):
            raise ValueError("gradient_poisoning needs the L2 penalty (l1_ratio=0): the "
                             "implicit gradient needs a twice-differentiable objective.")
        C = estimator.C
        if isinstance(C, numbers.Real) and not isinstance(C, bool) and not np.isfinite(C):
            # C=inf is scikit-learn's spelling of "no penalty": the Hessian of an
            # unpenalised objective is C * (...) with C infinite, and on separable data
            # the optimum does not exist.
            raise ValueError(
                f"gradient_poisoning got LogisticRegression(C={C!r}), i.e. no penalty; "
                "expected an L2 penalty with a finite C (the implicit gradient solves a "
                "linear system in the Hessian of C * sum(loss) + ||w||^2 / 2). Use a finite "
                "C, e.g. C=1.0, or a large one such as C=1e4 for a weak penalty.")
        return "logistic"
    if isinstance(estimator, LinearSVC):
        if estimator.loss != "squared_hinge" or estimator.penalty != "l2":
            raise ValueError("gradient_poisoning needs LinearSVC(loss='squared_hinge', "
                             "penalty='l2') (the defaults).")
        return "svm"
    raise TypeError(
        f"gradient_poisoning attacks LogisticRegression or LinearSVC; got "
        f"{type(estimator).__name__}. For other models use label_flip.")


def _aug(X):
    return np.hstack([X, np.ones((len(X), 1))])


def _val_grad(kind, model, X_tr, t_tr, x_c, t_c, X_val, t_val):
    """Validation loss and its gradient wrt the poison ``x_c`` (implicit function).

    With ``fit_intercept=True`` the parameters are ``theta = (w, b)`` and the
    inputs are augmented with a column of ones; with ``fit_intercept=False``
    they are ``theta = w`` alone (``b = 0`` is fixed, not a free parameter of
    the optimality condition).
    """
    w = model.coef_.ravel()
    C = float(model.C)
    d = len(w)
    if getattr(model, "fit_intercept", True):
        b = float(np.ravel(model.intercept_)[0])
        liblinear = kind == "svm" or getattr(model, "solver", "") == "liblinear"
        r_b = 1.0 / float(model.intercept_scaling) ** 2 if liblinear else 0.0
        aug = _aug
        R = np.eye(d + 1)
        R[d, d] = r_b
        E = np.vstack([np.eye(d), np.zeros((1, d))])
    else:
        b = 0.0
        aug = np.asarray
        R = np.eye(d)
        E = np.eye(d)
    A = aug(np.vstack([X_tr, x_c[None]]))
    t = np.append(t_tr, t_c)
    z = A[:, :d] @ w + b
    Av = aug(X_val)
    zv = X_val @ w + b
    xc = A[-1]
    if kind == "logistic":
        p = 1.0 / (1.0 + np.exp(-z))
        H = C * (A * (p * (1 - p))[:, None]).T @ A + R
        pc = p[-1]
        M = C * (pc * (1 - pc) * np.outer(xc, w) + (pc - t_c) * E)
        pv = 1.0 / (1.0 + np.exp(-zv))
        loss = float(np.mean(np.logaddexp(0.0, zv) - t_val * zv))
        gV = Av.T @ (pv - t_val) / len(zv)
    else:
        s = 2.0 * t - 1.0
        a = np.maximum(0.0, 1.0 - s * z)
        act = a > 0
        H = 2.0 * C * (A[act].T @ A[act]) + R
        M = C * (2.0 * act[-1] * np.outer(xc, w) - 2.0 * s[-1] * a[-1] * E)
        sv = 2.0 * t_val - 1.0
        av = 1.0 - sv * zv
        loss = float(np.mean(np.maximum(0.0, av)))
        gV = Av.T @ (-(sv * (av > 0))) / len(zv)
    H += 1e-10 * np.eye(len(H))
    v = np.linalg.solve(H, gV)
    return loss, -M.T @ v


def gradient_poisoning(estimator, X_train, y_train, X_val, y_val, *, n_points=1, n_iter=20,
                       step_size=0.5, clip_min=None, clip_max=None, random_state=None):
    """Poisoning points that maximise a linear model's validation loss (Biggio et al.).

    Parameters
    ----------
    estimator : LogisticRegression (L2) or LinearSVC (squared hinge), binary
        Its parameters (``C``, ``solver``, ``fit_intercept``, ...) define the
        victim; it is cloned and refitted at every step. ``C`` must be finite
        (``C=np.inf``, i.e. no penalty, is refused).
    X_train : array-like of shape (n_samples, n_features)
    y_train : array-like of shape (n_samples,)
        Two classes.
    X_val, y_val : array-like
        The attacker's validation data (the loss it maximises); ``y_val`` uses
        ``y_train``'s labels.
    n_points : int, default=1
        Poisoning points (>= 0), added one at a time.
    n_iter : int, default=20
        Gradient steps per point; 0 gives the starting points, i.e. random
        training points with flipped labels (a random-poisoning baseline).
    step_size : float, default=0.5
        L2 length of each (normalised) step, in input units.
    clip_min, clip_max : float or array-like, default=None
        Feasible domain of a poisoning point (e.g. 0 and 1 for images); the
        starting point is clipped into it too.
    random_state : int, RandomState or None, default=None
        Picks the starting points: a random training point, its label flipped.

    Returns
    -------
    result : GradientPoisoningResult

    References
    ----------
    .. [1] Biggio, B., Nelson, B. and Laskov, P. "Poisoning Attacks against Support
       Vector Machines." ICML, 2012.
    .. [2] Koh, P. W. and Liang, P. "Understanding Black-box Predictions via
       Influence Functions." ICML, 2017 (the implicit-function gradient).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = load_digits(n_class=2, return_X_y=True)
    >>> X = X / 16.0
    >>> res = gradient_poisoning(LogisticRegression(), X[:100], y[:100], X[100:200],
    ...                          y[100:200], n_points=2, n_iter=3, clip_min=0, clip_max=1,
    ...                          random_state=0)
    >>> res.X.shape, res.poison_indices.tolist()
    ((102, 64), [100, 101])
    """
    kind = _kind(estimator)
    n_points = check_positive_int(n_points, "n_points", minimum=0)
    n_iter = check_positive_int(n_iter, "n_iter", minimum=0)
    check_number(step_size, "step_size", positive=True, what="the L2 length of each "
                 "gradient-ascent step in input units (e.g. 0.5)")
    X_train, y_train = check_training_set(X_train, y_train)
    X_val, y_val = check_training_set(X_val, y_val)
    dtype = np.result_type(X_train.dtype, np.float32)  # poisons are real-valued
    X_train, X_val = X_train.astype(np.float64), X_val.astype(np.float64)
    if X_train.ndim != 2 or X_val.shape[1:] != X_train.shape[1:]:
        raise ValueError("gradient_poisoning needs 2-d X_train and X_val with the same "
                         f"features; got shapes {X_train.shape} and {X_val.shape}.")
    classes = np.unique(y_train)
    if len(classes) != 2:
        raise ValueError(f"gradient_poisoning attacks binary models; y_train has "
                         f"{len(classes)} classes. Select two classes first.")
    # compared value by value: np.setdiff1d would promote [0, 1] and ['0', '1'] to
    # strings and call them equal, while ``y_val == classes[1]`` below would not
    unknown = [v for v in np.unique(y_val) if not any(v == c for c in classes)]
    if unknown:
        raise ValueError(
            f"y_val has labels {[v.item() for v in unknown[:5]]} that are not among y_train's classes "
            f"{classes.tolist()}: expected y_val to use y_train's two labels (the validation "
            "loss needs each validation point's class). Encode y_val as y_train is encoded, "
            "or drop those validation points.")
    t_tr = (y_train == classes[1]).astype(float)
    t_val = (np.asarray(y_val) == classes[1]).astype(float)
    rng = check_random_state(random_state)
    lo, hi = check_box(clip_min, clip_max, X_train.shape[1:])
    lo = -np.inf if lo is None else lo
    hi = np.inf if hi is None else hi

    def fit(X, t, model=None):
        # warm starts (where supported) make the refits after a small move cheap
        model = clone(estimator) if model is None else model
        return model.fit(X, classes[t.astype(int)])

    def fresh():
        model = clone(estimator)
        if "warm_start" in model.get_params():
            model.set_params(warm_start=True)
        return model

    X_cur, t_cur = X_train, t_tr
    losses = [_val_grad(kind, fit(X_cur, t_cur), X_cur[:-1], t_cur[:-1], X_cur[-1],
                        t_cur[-1], X_val, t_val)[0]]
    for _ in range(n_points):
        i = rng.randint(len(X_train))
        # the start is a training point moved into the feasible domain
        x_c, t_c = np.clip(X_train[i], lo, hi), 1.0 - t_tr[i]
        best_x, best_loss = x_c.copy(), -np.inf
        model = fresh()
        for it in range(n_iter + 1):
            model = fit(np.vstack([X_cur, x_c[None]]), np.append(t_cur, t_c), model)
            loss, grad = _val_grad(kind, model, X_cur, t_cur, x_c, t_c, X_val, t_val)
            if loss > best_loss:
                best_x, best_loss = x_c.copy(), loss
            if it == n_iter:
                break
            norm = np.linalg.norm(grad)
            if norm == 0:
                break
            x_c = np.clip(x_c + step_size * grad / norm, lo, hi)
        X_cur, t_cur = np.vstack([X_cur, best_x[None]]), np.append(t_cur, t_c)
        losses.append(best_loss)
    n = len(X_train)
    return GradientPoisoningResult(
        X=X_cur.astype(dtype), y=np.concatenate([y_train, classes[t_cur[n:].astype(int)]]),
        poison_indices=np.arange(n, len(X_cur)), validation_loss=np.asarray(losses))
