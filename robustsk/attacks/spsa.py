"""SPSA (Uesato et al., 2018): a gradient-free attack that needs only scores.

Each iteration estimates the gradient of the margin loss from finite
differences along random Rademacher directions, takes an Adam step, and
projects back onto the ball and the box. All the points of one iteration (the
current iterates and their ``2 * n_samples`` perturbed copies, for every
example of the batch) are scored in **one** model call.
"""
from numbers import Real

import torch

from ..params import Interval, Options
from ._checks import check_labels, check_positive_int, check_threat
from ._primitives import (
    Randomness,
    as_box,
    attack_context,
    clip_box,
    project,
    random_start,
)
from ._scores import ScoreAttack, subset_kwargs
from .losses import objective
from .tracking import BestIterate

__all__ = ["spsa", "SPSA"]


def _check_positive_float(value, name):
    if isinstance(value, bool) or not isinstance(value, Real) or not value > 0:
        raise ValueError(f"{name}={value!r}: expected a number > 0.")
    return float(value)


def spsa(model, x, y, *, eps, norm="inf", n_iter=100, n_samples=128, delta=0.01, lr=0.01,
         y_target=None, clip_min=None, clip_max=None, early_stop=True, random_state=None,
         return_queries=False, mode="eval"):
    """SPSA attack: Adam on finite-difference gradient estimates of the margin.

    The loss is the logit margin ``max_{j != y} z_j - z_y`` (maximised; positive
    once misclassified), or ``z_t - max_{j != t} z_j`` towards ``y_target``.
    Iteration k scores, in one call, the current iterate ``x_k`` of every
    active example and ``x_k +- delta * v_i`` for ``n_samples`` Rademacher
    vectors ``v_i``; the gradient estimate is
    ``g = mean_i [L(x_k + delta v_i) - L(x_k - delta v_i)] / (2 delta) * v_i``.
    (The perturbed points are not clipped to the box: clipping would bias the
    estimate at the boundary; only iterates are kept inside the box.)

    Parameters
    ----------
    model : callable
        ``x -> logits`` of shape ``(n, n_classes)``: a torch module (called
        without gradients) or a score function from
        :func:`robustsk.attacks._scores.score_function`.
    x : Tensor of shape (n_samples, ...)
        Clean inputs; never modified.
    y : LongTensor of shape (n_samples,)
        True labels (column indices of the logits).
    eps : float
        Radius of the ball.
    norm : {"inf", 2}, default="inf"
    n_iter : int, default=100
        Adam steps. The model is called at most ``n_iter + 1`` times: once per
        iteration, and once to score the last iterate.
    n_samples : int, default=128
        Rademacher directions per example and iteration (each costs 2 points).
    delta : float, default=0.01
        Finite-difference step ``s`` (cleverhans's ``delta``).
    lr : float, default=0.01
        Adam learning rate (betas 0.9, 0.999; epsilon 1e-9 as in cleverhans).
    y_target : LongTensor of shape (n_samples,), default=None
    clip_min, clip_max : float or Tensor, default=None
    early_stop : bool, default=True
        Stop attacking an example once an iterate fools the model. The result
        is the same either way (the first successful iterate is returned);
        only the number of queries changes.
    random_state : int, Randomness or None
        Start and directions; an int gives one stream per example.
    mode : {"eval", "train", None}, default="eval"
        Mode of a torch module during the attack (dropout off and batch-norm
        statistics frozen in "eval"); restored afterwards, as are its
        parameters' ``requires_grad`` flags. None keeps the module's mode; a
        score function is called as it is.
    return_queries : bool, default=False
        Also return a LongTensor of shape (n_samples,) counting, per example,
        the points the model scored for it.

    Returns
    -------
    x_adv : Tensor with the shape of ``x``
        Per example, the first iterate that fooled the model, else the
        iterate with the largest margin loss; the clean input is the first
        candidate (so an example misclassified without attack keeps ``x``).
    queries : LongTensor, only with ``return_queries=True``

    References
    ----------
    .. [1] Uesato, J., O'Donoghue, B., van den Oord, A. and Kohli, P.
       "Adversarial Risk and the Dangers of Evaluating Against Weak Attacks."
       ICML, 2018.
    .. [2] Spall, J. C. "Multivariate Stochastic Approximation Using a
       Simultaneous Perturbation Gradient Approximation." IEEE Transactions on
       Automatic Control, 1992.

    Examples
    --------
    >>> import torch
    >>> from robustsk.attacks.spsa import spsa
    >>> model = torch.nn.Linear(4, 3)
    >>> x, y = torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1])
    >>> x_adv = spsa(model, x, y, eps=0.1, n_iter=5, n_samples=8, random_state=0)
    >>> bool(((x_adv - x).abs() <= 0.1 + 1e-6).all())
    True
    """
    eps, norm, _ = check_threat(eps, norm)
    n_iter = check_positive_int(n_iter, "n_iter", 0)
    n_samples = check_positive_int(n_samples, "n_samples", 1)
    delta = _check_positive_float(delta, "delta")
    lr = _check_positive_float(lr, "lr")
    y = check_labels(y, x)
    y_target = check_labels(y_target, x, "y_target")
    x = x.detach()
    queries = torch.zeros(len(x), dtype=torch.long, device=x.device)
    if eps == 0 or len(x) == 0:
        return (x.clone(), queries) if return_queries else x.clone()
    box = as_box(clip_min, clip_max, x)
    rng = Randomness.coerce(random_state, len(x))
    fn = objective("margin", y_target is not None)
    kw = {"y_target": y_target}
    beta1, beta2, adam_eps = 0.9, 0.999, 1e-9

    x_adv = clip_box(random_start(x, eps, norm, rng), *box)
    m, v = torch.zeros_like(x), torch.zeros_like(x)
    act = torch.arange(len(x), device=x.device)
    xs, ys, kws, tracker = x, y, kw, None
    with torch.no_grad(), attack_context(model, mode):
        for it in range(1, n_iter + 2):
            last = it == n_iter + 1
            k = len(act)
            if last:
                points = x_adv.unsqueeze(1)
            else:
                v_dir = 2.0 * (rng.uniform(x_adv.unsqueeze(1).expand(k, n_samples, *x.shape[1:]),
                                           0.0, 1.0) >= 0.5).to(x.dtype) - 1.0
                points = torch.cat([x_adv.unsqueeze(1), x_adv.unsqueeze(1) + delta * v_dir,
                                    x_adv.unsqueeze(1) - delta * v_dir], dim=1)
            if tracker is None:  # the clean input is scored in the first call too
                points = torch.cat([xs.unsqueeze(1), points], dim=1)
            per = points.shape[1]
            logits = torch.as_tensor(model(points.reshape(k * per, *x.shape[1:])))
            logits = logits.to(x.device).reshape(k, per, -1)
            queries[act] += per
            if tracker is None:
                clean = logits[:, 0]
                tracker = BestIterate(x, clean, fn(clean, y, **kw), y, y_target)
                logits = logits[:, 1:]
            cur = logits[:, 0]
            tracker.update(x_adv, cur, fn(cur, ys, **kws), act)
            if last:
                break
            keep = ~tracker.found[act] if early_stop else torch.ones_like(act, dtype=torch.bool)
            if not keep.all():
                act, xs, ys, x_adv, m, v = act[keep], xs[keep], ys[keep], x_adv[keep], m[keep], \
                    v[keep]
                v_dir, logits, kws, rng = v_dir[keep], logits[keep], subset_kwargs(kws, keep), \
                    rng.subset(keep)
                if len(act) == 0:
                    break
            k = len(act)
            rep = {name: (t.repeat_interleave(n_samples) if torch.is_tensor(t) else t)
                   for name, t in kws.items()}
            y_rep = ys.repeat_interleave(n_samples)
            plus = fn(logits[:, 1:1 + n_samples].reshape(k * n_samples, -1), y_rep, **rep)
            minus = fn(logits[:, 1 + n_samples:].reshape(k * n_samples, -1), y_rep, **rep)
            coef = ((plus - minus) / (2 * delta)).reshape(k, n_samples, *[1] * (x.ndim - 1))
            grad = (coef.to(x.dtype) * v_dir).mean(dim=1)
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * grad * grad
            step = lr * (m / (1 - beta1 ** it)) / ((v / (1 - beta2 ** it)).sqrt() + adam_eps)
            x_adv = clip_box(project(x_adv + step, xs, eps, norm), *box)
    return (tracker.x, queries) if return_queries else tracker.x


class SPSA(ScoreAttack):
    """SPSA attack on any fitted classifier (only scores are needed).

    Works on robustsk estimators (their logits), and on any scikit-learn
    classifier or Pipeline with ``decision_function`` or ``predict_proba``
    (log-probabilities serve as logits), see
    :func:`robustsk.attacks.as_score_target`. ``eps`` is in the raw
    input space (before any Pipeline preprocessing).

    Parameters
    ----------
    eps : float, default=None
        None inherits the estimator's ``eps`` (robustsk estimators).
    norm : {"inf", 2}, default=None
        None inherits the estimator's ``norm`` ("inf" if it has none).
    n_iter : int, default=100
        Adam steps; the model is called ``n_iter + 1`` times per batch at most.
    n_samples : int, default=128
        Rademacher directions per example and iteration.
    delta : float, default=0.01
        Finite-difference step.
    lr : float, default=0.01
        Adam learning rate.
    early_stop : bool, default=True
    clip_min, clip_max : float or array-like, default=None
        None inherits the estimator's box (none for plain scikit-learn models).
    batch_size : int, default=32
        Examples per model call (each brings ``2 * n_samples + 1`` points).
    random_state : int or None, default=None
        None inherits a robustsk estimator's ``random_state``.

    Notes
    -----
    ``generate(estimator, X, y, return_info=True)`` also returns the number of
    points scored per example (``"queries"``) and whether the attack succeeded.

    References
    ----------
    .. [1] Uesato, J., O'Donoghue, B., van den Oord, A. and Kohli, P.
       "Adversarial Risk and the Dangers of Evaluating Against Weak Attacks."
       ICML, 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from robustsk.attacks.spsa import SPSA
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16.0
    >>> clf = LogisticRegression(max_iter=500).fit(X[:300], y[:300])
    >>> attack = SPSA(eps=0.2, n_iter=10, n_samples=16, clip_min=0, clip_max=1,
    ...               random_state=0)
    >>> X_adv, info = attack.generate(clf, X[-20:], y[-20:], return_info=True)
    >>> X_adv.shape, info["queries"].shape
    ((20, 64), (20,))
    """

    _parameter_constraints = {
        "n_samples": [Interval(int, 1, None)],
        "delta": [Interval(float, 0, None, closed="neither")],
        "lr": [Interval(float, 0, None, closed="neither")],
        "early_stop": [Options(True, False)],
    }

    def __init__(self, eps=None, norm=None, n_iter=100, n_samples=128, delta=0.01, lr=0.01,
                 early_stop=True, clip_min=None, clip_max=None, batch_size=32,
                 random_state=None):
        self.eps = eps
        self.norm = norm
        self.n_iter = n_iter
        self.n_samples = n_samples
        self.delta = delta
        self.lr = lr
        self.early_stop = early_stop
        self.clip_min = clip_min
        self.clip_max = clip_max
        self.batch_size = batch_size
        self.random_state = random_state

    def _run(self, model, x, y, *, threat, rng, y_target=None):
        return spsa(model, x, y, eps=threat.eps, norm=threat.norm, n_iter=self.n_iter,
                    n_samples=self.n_samples, delta=self.delta, lr=self.lr,
                    y_target=y_target, clip_min=threat.clip_min, clip_max=threat.clip_max,
                    early_stop=self.early_stop, random_state=rng, return_queries=True)
