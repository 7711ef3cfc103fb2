"""Preemptive robustification of images before they are sent (Moon, An & Song, AAAI 2022).

The threat model is a man in the middle: a user sends an image to a fixed
classifier and an adversary intercepts it and adds a perturbation of size
``eps``. The user may first move the image by up to ``delta`` to a point the
model keeps classifying the same under any ``eps`` attack. With ``y_hat`` the
model's own prediction on the clean image (no labels needed)::

    x* = argmin_{x' in B_delta(x) and the box}  max_{x'' in B_eps(x')}  CE(f(x''), y_hat)

The inner maximum is PGD; the outer minimum follows the paper's bi-level
algorithm as its official code (``snu-mllab/preemptive-robustification``)
runs it: the gradient of the attacked loss reaches the outer variable through
the inner PGD's random start, projections and clips, each step's direction
(the gradient's sign, or its direction in L2) being a constant; the outer
variable is updated by RMSprop on a tanh parametrisation (Linf) or by plain
projected gradient steps (L2). One difference: the point returned is the
visited one with the lowest attacked loss, where the official code returns
the last iterate.

Around a ``RandomizedSmoothingClassifier`` (the paper's smoothed variant) the
model differentiated is its soft smoothed classifier
(:class:`robustsk.defenses.smoothing.SoftSmoothedModule`): both the inner PGD
and the outer loss are ``-log mean_s softmax(f(x + sigma z_s))_y`` over
``attack_samples`` Gaussian draws (the paper: 5), and the norm defaults to L2.
"""
from dataclasses import dataclass
import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.frozen import FrozenEstimator
from sklearn.utils.validation import check_is_fitted
import torch

from .attacks import (
    PGD,
    Randomness,
    ThreatDefaults,
    as_box,
    as_target,
    ascent_step,
    attack_context,
    check_positive_int,
    check_threat,
    clip_box,
    cross_entropy,
    input_gradient,
    output_like,
    project,
    random_start,
    seed_from_random_state,
)
from .defenses.smoothing import SoftSmoothedModule

__all__ = ["PreemptiveRobustifier", "preemptive_robustify", "mitm_evaluation", "MITMResult"]


def _check_budget(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name}={value!r}: expected a finite number >= 0 (input units).")
    if value < 0:
        raise ValueError(f"{name}={value!r} is negative: a budget cannot be negative. "
                         f"Pass {name} >= 0, e.g. {name}=0.1 for images in [0, 1].")
    return float(value)


OPTIMIZERS = ("rmsprop", "sgd")


def _check_optimizer(optimizer, norm):
    if optimizer is None:
        return "rmsprop" if norm == "inf" else "sgd"
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r}: expected None or one of {OPTIMIZERS} "
                         "(None: the official code's, RMSprop for Linf and plain gradient "
                         "steps for L2).")
    return optimizer


def _outer_bounds(x, delta, box):
    lo, hi = x - delta, x + delta
    if box[0] is not None:
        lo = torch.maximum(lo, box[0].expand_as(x))
    if box[1] is not None:
        hi = torch.minimum(hi, box[1].expand_as(x))
    return lo, hi


def _inner_pgd(model, xp, y_hat, eps, norm, step, n_iter, box, rng):
    """The adversary's PGD from ``xp``, differentiable in ``xp`` as in the official dynamics.

    Each step's direction (the sign or the normalised gradient of the loss) is
    a constant; the random start, every projection onto the ``eps`` ball
    around ``xp`` and every clip to the box keep their graph, so a coordinate
    that a clip held at the box's edge passes no gradient back to ``xp``.
    """
    start = random_start(xp.detach(), eps, norm, rng) - xp.detach()
    x_adv = clip_box(xp + start, *box)
    for _ in range(n_iter):
        _, _, grad = input_gradient(model, x_adv, y_hat, cross_entropy)
        x_adv = clip_box(project(ascent_step(x_adv, grad, step, norm), xp, eps, norm), *box)
    return x_adv


def preemptive_robustify(model, x, y_hat, *, delta, eps, norm="inf", n_iter=100, lr=None,
                         attack_iter=20, attack_step=None, clip_min=None, clip_max=None,
                         optimizer=None, random_state=None):
    """Move each image within ``delta`` to a point robust to ``eps`` attacks (bi-level).

    Linf (the paper's main algorithm): ``x' = lo + (hi - lo) (tanh(w) + 1) / 2``
    over ``[max(x - delta, clip_min), min(x + delta, clip_max)]``, ``w`` from
    ``clip(x + U(-delta, delta))``, ``n_iter`` RMSprop steps (lr 0.1) on
    ``CE(f(x''), y_hat)``, where ``x''`` is PGD-``attack_iter`` from ``x'``
    (uniform random start in the ``eps`` ball, step ``attack_step``). L2:
    plain gradient steps on ``x'`` itself (lr 0.001), from
    ``x + U(-1/2, 1/2)`` shrunk into the ``delta`` ball and clipped, each step
    projected onto the ``delta`` ball and the box. As in the official code,
    the gradient reaches ``x'`` through the inner PGD's start, projections and
    clips (each step's direction is a constant), so a coordinate a clip holds
    at the box's edge passes none. The returned point is the visited one with
    the lowest attacked loss (the official code returns the last iterate).

    Parameters
    ----------
    model : torch.nn.Module
        Maps inputs to logits.
    x : Tensor of shape (n, ...)
        Clean inputs; never modified.
    y_hat : LongTensor of shape (n,)
        The labels to keep (the model's own clean predictions).
    delta : float
        The user's budget (>= 0).
    eps : float
        The adversary's budget the point is made robust to.
    norm : {"inf", 2}, default="inf"
        Norm of both balls.
    n_iter : int, default=100
    lr : float, default=None
        Learning rate of the outer steps; None: the official code's, 0.1
        (Linf, RMSprop on the tanh variable) or 0.001 (L2, gradient steps on
        the input; its smoothed variant used 0.005).
    attack_iter : int, default=20
    attack_step : float, default=None
        ``eps / 4`` when None (the paper: 2/255 for eps 8/255).
    clip_min, clip_max : float or Tensor, default=None
    optimizer : {"rmsprop", "sgd"}, default=None
        The outer update; None: the official code's, "rmsprop" (Linf) or
        "sgd" (L2, plain gradient steps). ``optimizer="rmsprop"`` in L2 is
        insensitive to the scale of the loss's gradient (``lr=delta / 10``
        then moved digits as far in 10 steps as the default in 100).
    random_state : int, torch.Generator, Randomness or None

    Returns
    -------
    x_star : Tensor with the shape of ``x``
        Within ``delta`` of ``x`` and inside the box.

    References
    ----------
    .. [1] Moon, S., An, G. and Song, H. O. "Preemptive Image Robustification for
       Protecting Users against Man-in-the-Middle Adversarial Attacks." AAAI, 2022.
    """
    delta = _check_budget(delta, "delta")
    eps, norm, attack_step = check_threat(eps, norm, attack_step)
    n_iter = check_positive_int(n_iter, "n_iter", 0)
    optimizer = _check_optimizer(optimizer, norm)
    x = x.detach()
    if delta == 0 or n_iter == 0 or len(x) == 0:
        return x.clone()
    box = as_box(clip_min, clip_max, x)
    rng = Randomness.coerce(random_state, len(x))
    with attack_context(model, "eval"):
        if norm == "inf":
            lo, hi = _outer_bounds(x, delta, box)
            width = (hi - lo).clamp_min(1e-12)
            start = clip_box(x + delta * rng.uniform(x, -1.0, 1.0), lo, hi)
            u = ((start - lo) / width * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6)
            var = torch.atanh(u).requires_grad_(True)

            def point():
                return lo + (hi - lo) * (torch.tanh(var) + 1) / 2
        else:
            noise = rng.uniform(x, -0.5, 0.5)
            var = clip_box(project(x + noise, x, delta, norm), *box).requires_grad_(True)

            def point():
                return var
        if lr is None:
            lr = 0.1 if norm == "inf" else 0.001
        opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.RMSprop)([var], lr=lr)
        best, best_loss = x.clone(), torch.full((len(x),), float("inf"), device=x.device)
        for _ in range(n_iter + 1):
            xp = point()
            x_in = _inner_pgd(model, xp, y_hat, eps, norm, attack_step, attack_iter, box, rng)
            losses = torch.nn.functional.cross_entropy(model(x_in), y_hat, reduction="none")
            with torch.no_grad():
                better = losses < best_loss
                best[better], best_loss = xp[better].detach(), torch.where(better, losses,
                                                                           best_loss)
            opt.zero_grad()
            losses.sum().backward()
            opt.step()
            if norm != "inf":
                with torch.no_grad():
                    var.copy_(clip_box(project(var, x, delta, norm), *box))
    return best.detach()


class PreemptiveRobustifier(TransformerMixin, BaseEstimator):
    """Preemptive robustification as a scikit-learn transformer around a fitted model.

    ``transform(X)`` moves each image by at most ``delta`` (in ``norm``) inside
    the input box to a point the model keeps classifying as it classifies the
    clean image, even after an ``eps`` attack (:func:`preemptive_robustify`).
    No labels are needed. ``fit`` only checks the parameters and the model
    (``model`` must already be fitted and differentiable), so the transformer
    composes: ``Pipeline([("robustify", PreemptiveRobustifier(clf, delta=0.1)),
    ("clf", FrozenEstimator(clf))])``. Around a ``RandomizedSmoothingClassifier``
    (the paper's smoothed variant) the losses are those of its soft smoothed
    classifier (noise samples averaged, expectation over transformation), the
    norm defaults to L2 and ``y_hat`` is the soft smoothed prediction; give
    ``eps``, which a smoothed classifier does not define.

    Parameters
    ----------
    model : fitted robustsk estimator, RandomizedSmoothingClassifier, or Pipeline ending in one
        Or a ``FrozenEstimator`` of one, which ``clone`` (grid searches) keeps fitted.
    delta : float, default=None
        The user's budget; None: the adversary's ``eps`` (the paper uses delta = eps).
    eps : float, default=None
        The adversary's budget; None inherits the model's ``eps``.
    norm : {"inf", 2}, default=None
        None inherits the model's ``norm``.
    n_iter : int, default=100
    lr : float, default=None
        None: the official code's, 0.1 (Linf), 0.001 (L2) or, around a
        ``RandomizedSmoothingClassifier``, 0.005 (:func:`preemptive_robustify`).
    attack_iter : int, default=20
    attack_step : float, default=None
    clip_min, clip_max : float or array-like, default=None
        None inherits the model's box.
    optimizer : {"rmsprop", "sgd"}, default=None
        The outer update; None: RMSprop (Linf) or plain gradient steps (L2),
        as the official code.
    batch_size : int, default=256
    random_state : int or None, default=None
        None inherits the model's ``random_state``.

    Attributes
    ----------
    delta_, eps_ : float
    norm_ : str
    optimizer_ : str
    clip_min_, clip_max_ : float, ndarray or None

    References
    ----------
    .. [1] Moon, S., An, G. and Song, H. O. "Preemptive Image Robustification for
       Protecting Users against Man-in-the-Middle Adversarial Attacks." AAAI, 2022.

    Examples
    --------
    >>> import numpy as np
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import StandardTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = StandardTraining(max_epochs=2, clip_min=0, clip_max=1,
    ...                        random_state=0).fit(X[:200], y[:200])
    >>> rob = PreemptiveRobustifier(clf, delta=0.1, eps=0.1, n_iter=3, attack_iter=3)
    >>> X_r = rob.fit_transform(X[:10])
    >>> bool(np.abs(X_r - X[:10]).max() <= 0.1 + 1e-6)
    True
    """

    def __init__(self, model, *, delta=None, eps=None, norm=None, n_iter=100, lr=None,
                 attack_iter=20, attack_step=None, clip_min=None, clip_max=None,
                 optimizer=None, batch_size=256, random_state=None):
        self.model = model
        self.delta = delta
        self.eps = eps
        self.norm = norm
        self.n_iter = n_iter
        self.lr = lr
        self.attack_iter = attack_iter
        self.attack_step = attack_step
        self.clip_min = clip_min
        self.clip_max = clip_max
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.random_state = random_state

    def _target(self):
        model = _unfrozen(self.model)
        try:
            return as_target(model)
        except TypeError as err:
            raise TypeError(
                f"PreemptiveRobustifier needs the gradients of the model, but "
                f"{type(self.model).__name__} cannot be differentiated: {err}") from err

    def fit(self, X=None, y=None):
        """Check the parameters and the model (fitted, differentiable); nothing is learnt.

        Returns
        -------
        self
        """
        target = self._target()
        defaults = ThreatDefaults(target, {"eps": self.eps, "norm": self.norm,
                                           "clip_min": self.clip_min,
                                           "clip_max": self.clip_max})
        norm = defaults.threat_default("norm")
        eps, norm, _ = check_threat(defaults.threat_default("eps"),
                                    "inf" if norm is None else norm, self.attack_step)
        delta = eps if self.delta is None else _check_budget(self.delta, "delta")
        check_positive_int(self.n_iter, "n_iter", 0)
        check_positive_int(self.attack_iter, "attack_iter", 0)
        if self.lr is not None:
            _check_budget(self.lr, "lr")
        self.optimizer_ = _check_optimizer(self.optimizer, norm)
        if self.batch_size is not None:
            check_positive_int(self.batch_size, "batch_size")
        self.delta_, self.eps_, self.norm_ = delta, eps, norm
        self.clip_min_ = defaults.threat_default("clip_min")
        self.clip_max_ = defaults.threat_default("clip_max")
        return self

    def transform(self, X):
        """The robustified images.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            In the model's input space; never modified.

        Returns
        -------
        X_star : ndarray with the shape and dtype of ``X``
        """
        check_is_fitted(self, "delta_")
        target = self._target()
        x = target.prepare_X(X, box=(self.clip_min_, self.clip_max_))
        seed = seed_from_random_state(self.random_state if self.random_state is not None
                                      else target.threat_default("random_state"))
        lr = self.lr
        if lr is None and self.optimizer_ == "sgd" and isinstance(target.module,
                                                              SoftSmoothedModule):
            lr = 0.005  # the official smoothed variant's (configs/cifar10_l2_rand.yaml)
        out = torch.empty_like(x)
        step = self.batch_size or max(len(x), 1)
        for start in range(0, len(x), step):
            sl = slice(start, start + step)
            with torch.no_grad(), attack_context(target.module, "eval"):
                y_hat = target.module(x[sl]).argmax(1)
            out[sl] = preemptive_robustify(
                target.module, x[sl], y_hat, delta=self.delta_, eps=self.eps_, norm=self.norm_,
                n_iter=self.n_iter, lr=lr, attack_iter=self.attack_iter,
                attack_step=self.attack_step, clip_min=self.clip_min_, clip_max=self.clip_max_,
                optimizer=self.optimizer_,
                random_state=Randomness.for_examples(seed, len(x[sl]), offset=start))
        return output_like(_into_budget(X, out, self.delta_, self.norm_, self.clip_min_,
                                        self.clip_max_), X)


def _unfrozen(model):
    """The fitted model inside a ``FrozenEstimator`` (which survives ``clone``), else ``model``."""
    return model.estimator if isinstance(model, FrozenEstimator) else model


def _into_budget(X, out, delta, norm, lo, hi):
    """Project once more in float64 at the numpy boundary (float32 rounding of x + d)."""
    x0 = torch.as_tensor(np.asarray(X, dtype=np.float64).reshape(out.shape))
    res = project(out.detach().cpu().double(), x0, delta, norm)
    box = as_box(lo, hi, x0)
    return clip_box(res, *box).numpy()


@dataclass(frozen=True)
class MITMResult:
    """Accuracies under the man-in-the-middle threat model.

    Attributes
    ----------
    clean_accuracy, robustified_accuracy : float
        Accuracy on the originals and on the robustified images, no attack.
    robust_accuracy_original, robust_accuracy_robustified : float
        Accuracy after the adversary's ``eps`` attack on the originals and on
        the robustified images.
    max_change : float
        Largest ``norm`` distance between a robustified image and its original.
    in_box : bool
        Whether every robustified image lies inside the input box.
    """

    clean_accuracy: float
    robustified_accuracy: float
    robust_accuracy_original: float
    robust_accuracy_robustified: float
    max_change: float
    in_box: bool


def mitm_evaluation(robustifier, X, y, attack=None):
    """Robust accuracy of original and robustified images when a man in the middle attacks.

    Parameters
    ----------
    robustifier : PreemptiveRobustifier
        Fitted (or it is fitted here; ``fit`` learns nothing).
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
        True labels (only to score; robustification does not use them).
    attack : Attack, default=None
        The adversary; None: PGD-20 with 3 restarts at the robustifier's
        ``eps``, ``norm`` and box (parameters left None inherit the model's).

    Returns
    -------
    result : MITMResult
    """
    if not hasattr(robustifier, "delta_"):
        robustifier.fit()
    model = _unfrozen(robustifier.model)
    if attack is None:
        attack = PGD(eps=robustifier.eps_, norm=robustifier.norm_, n_iter=20, n_restarts=3,
                     clip_min=robustifier.clip_min_, clip_max=robustifier.clip_max_,
                     random_state=0)
    X, y = np.asarray(X), np.asarray(y)
    X_r = robustifier.transform(X)
    delta = (X_r.astype(np.float64) - X.astype(np.float64)).reshape(len(X), -1)
    change = np.abs(delta).max(1) if robustifier.norm_ == "inf" else np.linalg.norm(delta, axis=1)
    flat = X_r.reshape(len(X), -1).astype(np.float64)
    in_box = True
    for bound, sign in ((robustifier.clip_min_, 1.0), (robustifier.clip_max_, -1.0)):
        if bound is not None:
            b = np.broadcast_to(np.asarray(bound, np.float64), X.shape[1:]).reshape(-1)
            in_box &= bool((sign * (flat - b) >= 0).all())

    def acc(Z):
        return float(np.mean(model.predict(Z) == y))
    return MITMResult(clean_accuracy=acc(X), robustified_accuracy=acc(X_r),
                      robust_accuracy_original=acc(attack.generate(model, X, y)),
                      robust_accuracy_robustified=acc(attack.generate(model, X_r, y)),
                      max_change=float(change.max()) if len(change) else 0.0, in_box=in_box)
