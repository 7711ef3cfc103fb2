"""Exact minimal perturbations of linear classifiers, and the attack that uses them.

For an affine classifier the smallest perturbation that changes its decision
has a closed form (Szegedy et al., 2014; Goodfellow et al., 2015; the linear
case of DeepFool, Moosavi-Dezfooli et al., 2016). With scores
``s_k(x) = w_k . x + b_k`` and true class ``y``, the region where ``y`` wins is
the polytope ``{s_y >= s_j for all j}``; leaving it means crossing one of its
faces, so the smallest perturbation in a norm is, over ``j != y``,

    min_j (s_y(x) - s_j(x)) / ||w_y - w_j||_*

where ``||.||_*`` is the dual norm (L1 for an Linf ball, L2 for an L2 ball),
attained by ``delta = -m_j / ||v||_1 * sign(v)`` (Linf) or
``delta = -m_j v / ||v||_2^2`` (L2), ``v = w_y - w_j``. For a binary model
(one decision value ``d``) this is ``|d(x)| / ||w||_*``. The result is exact
for multiclass one-vs-rest and multinomial models alike (their decision is the
argmax of affine scores); the input box is not part of it.
"""
import numpy as np
import torch

from ._primitives import check_norm
from ._target import as_target, output_like
from .base import Attack, project_out

__all__ = ["minimal_perturbation", "LinearMinimalAttack"]


def _scores(target_linear, X):
    W, b = target_linear
    return X @ W.T + b, W


def minimal_perturbation(linear_model, X, y, norm="inf", *, overshoot=1e-4):
    """The exact smallest perturbation that changes a linear classifier's decision.

    Parameters
    ----------
    linear_model : fitted scikit-learn linear classifier, or a Pipeline of affine
        steps (scalers, PCA, ...) ending in one
        ``LogisticRegression``, ``LinearSVC``, ``SGDClassifier``,
        ``RidgeClassifier``, ... binary or multiclass.
    X : array-like of shape (n_samples, n_features)
        Raw inputs (the pipeline's input space).
    y : array-like of shape (n_samples,)
        True labels. Examples already misclassified get a zero perturbation.
    norm : {"inf", 2}, default="inf"
    overshoot : float, default=1e-4
        The perturbation is scaled by ``1 + overshoot`` so it strictly crosses
        the boundary; 0 returns the infimum (a point on the boundary).

    Returns
    -------
    delta : ndarray of shape (n_samples, n_features), float64
        ``X + delta`` is misclassified; any perturbation of smaller norm is not.
    distance : ndarray of shape (n_samples,)
        The norm of ``delta`` without overshoot: ``|d(x)| / ||w||_*`` for a
        binary model (0 for misclassified examples).

    References
    ----------
    .. [1] Goodfellow, I., Shlens, J. and Szegedy, C. "Explaining and Harnessing
       Adversarial Examples." ICLR, 2015.
    .. [2] Moosavi-Dezfooli, S.-M., Fawzi, A. and Frossard, P. "DeepFool: a
       simple and accurate method to fool deep neural networks." CVPR, 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.array([[0.0, 0.0], [1.0, 1.0], [0.1, 0.0], [0.9, 1.0]])
    >>> clf = LogisticRegression().fit(X, [0, 1, 0, 1])
    >>> delta, dist = minimal_perturbation(clf, X, [0, 1, 0, 1], norm=2)
    >>> bool((clf.predict(X + delta) != [0, 1, 0, 1]).all())
    True
    """
    norm = check_norm(norm)
    target = as_target(linear_model)
    if target.linear is None:
        raise TypeError(
            f"{type(linear_model).__name__} is not an affine classifier: minimal_perturbation "
            "needs a scikit-learn linear classifier (or a Pipeline of affine steps ending in "
            "one). Use robustsk.attacks.PGD for other differentiable models.")
    x = target.prepare_X(X).cpu().numpy().astype(np.float64)
    yi = target.encode_y(y, n_samples=len(x)).cpu().numpy()
    S, W = _scores(target.linear, x)
    rows = np.arange(len(x))
    margins = S[rows, yi][:, None] - S                      # (n, K): s_y - s_j
    V = W[yi][:, None, :] - W[None, :, :]                     # (n, K, d): w_y - w_j
    dual = np.abs(V).sum(-1) if norm == "inf" else np.sqrt((V ** 2).sum(-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.where(dual > 0, margins / dual, np.inf)
    dist[rows, yi] = np.inf
    j = dist.argmin(axis=1)
    m, v, dn = margins[rows, j], V[rows, j], dual[rows, j]
    wrong = S.argmax(axis=1) != yi
    m = np.where(wrong, 0.0, np.maximum(m, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        if norm == "inf":
            delta = -(m / dn)[:, None] * np.sign(v)
        else:
            delta = -(m / dn ** 2)[:, None] * v
    delta = np.nan_to_num(delta) * (1.0 + overshoot)
    return delta, np.where(wrong, 0.0, m / dn)


class LinearMinimalAttack(Attack):
    """The exact minimal-perturbation attack on a linear classifier.

    Returns ``x + delta`` (the closed-form smallest perturbation, times
    ``1 + overshoot`` to cross the boundary) where ``||delta|| <= eps``, else
    ``x``: a linear classifier is fooled inside the ball exactly when this
    attack fools it (when no box is given). Binary and multiclass models
    (one-vs-rest or multinomial) are both exact, through the per-pair
    boundaries; see :func:`minimal_perturbation`. With a box, a perturbation
    that leaves it is clipped and kept only if it still fools the model (the
    box-constrained minimum is a linear program this attack does not solve).
    It has no tensor-level ``perturb``: the closed form needs the model's
    coefficients (``AttackTarget.linear``), not only a module to differentiate.

    Parameters
    ----------
    eps : float, default=None
        Radius; None inherits the pipeline's robustsk threat model (a plain
        scikit-learn model has none: give it).
    norm : {"inf", 2}, default=None
        None: the inherited norm, else "inf".
    overshoot : float, default=1e-4
    clip_min, clip_max : float or array-like, default=None
    batch_size : int, default=None
        Unused (the closed form is vectorised); kept for the common interface.
    random_state : None
        Unused: the attack is deterministic.

    References
    ----------
    .. [1] Goodfellow, I., Shlens, J. and Szegedy, C. "Explaining and Harnessing
       Adversarial Examples." ICLR, 2015.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = load_digits(n_class=2, return_X_y=True)
    >>> X = X / 16.0
    >>> clf = LogisticRegression().fit(X, y)
    >>> X_adv = LinearMinimalAttack(eps=0.2).generate(clf, X[:20], y[:20])
    >>> float(abs(X_adv - X[:20]).max()) <= 0.2
    True
    """

    def __init__(self, eps=None, norm=None, overshoot=1e-4, clip_min=None, clip_max=None,
                 batch_size=None, random_state=None):
        self.eps = eps
        self.norm = norm
        self.overshoot = overshoot
        self.clip_min = clip_min
        self.clip_max = clip_max
        self.batch_size = batch_size
        self.random_state = random_state

    def generate(self, estimator, X, y, *, y_target=None):
        """Adversarial examples: ``x + delta`` where the minimal ``delta`` fits in eps.

        Parameters
        ----------
        estimator : fitted linear classifier or Pipeline of affine steps ending in one
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        y_target : None
            Targeted attacks are not supported.

        Returns
        -------
        X_adv : ndarray with the shape and dtype of ``X``
        """
        if y_target is not None:
            raise ValueError("LinearMinimalAttack is untargeted: y_target must be None.")
        target = as_target(estimator)
        threat = self.resolve_threat(target)
        x = target.prepare_X(X, box=(threat.clip_min, threat.clip_max)).cpu().double().numpy()
        delta, dist = minimal_perturbation(estimator, x, y, threat.norm,
                                           overshoot=self.overshoot)
        size = np.abs(delta).max(axis=1) if threat.norm == "inf" else \
            np.linalg.norm(delta, axis=1)
        ok = size <= threat.eps
        x_adv = np.where(ok[:, None], x + delta, x)
        if threat.clip_min is not None or threat.clip_max is not None:
            x_adv = np.clip(x_adv, threat.clip_min, threat.clip_max)
            yi = target.encode_y(y, n_samples=len(x)).cpu().numpy()
            W, b = target.linear
            fooled = (x_adv @ W.T + b).argmax(axis=1) != yi
            x_adv = np.where(fooled[:, None], x_adv, x)
        return output_like(project_out(X, torch.as_tensor(x_adv), threat), X)
