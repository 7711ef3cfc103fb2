"""Internal-Wasserstein-distance (IWD) attack (Wang et al., arXiv 2103.07598).

The threat model is not an Lp ball: the adversary may change an image as long
as the distribution of its patches stays close, in Wasserstein distance, to
the distribution of the original image's patches. Moving, swapping or
re-using texture keeps that distance small while the Lp norm of the change can
be large.

Optimal-transport library: GeomLoss, not POT. Both are maintained and both
solve a batch of entropic problems in torch with cheap (envelope) gradients
(POT >= 0.9.6 through ``ot.solve_sample_batch``). We chose GeomLoss's
``SamplesLoss("sinkhorn")`` because it gives the *debiased* Sinkhorn
divergence directly (zero for identical patch sets and positive otherwise, so
it is a distance-like budget, where POT's entropic cost needs three solves to
debias it) and its epsilon-scaling needs a handful of iterations: on
digits-sized batches (64 images, 36 patches of 9 pixels) value and gradient
took 0.15 s against 1.2 s for POT's batch Sinkhorn at 50 iterations, on one
CPU thread. Sliced Wasserstein was the other option; Sinkhorn keeps the
transport between the full patch vectors (sliced distances only see 1-D
projections and vary with the random directions drawn).
"""
import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F

from ..params import Interval, validate_params
from ._checks import check_labels, check_positive_int
from ._primitives import as_box, attack_context, clip_box, input_gradient
from ._target import as_target, output_like
from .base import Attack, Threat
from .losses import objective
from .runner import run_batches
from .tracking import BestIterate

__all__ = ["IWD", "iwd", "internal_wasserstein", "image_patches", "check_image_patches"]

#: a final iterate aims below this fraction of the budget, so that recomputing
#: the distance (other batch, other rounding) never finds it outside the budget
_MARGIN = 1e-3
#: shrinks of the retraction towards x before the fallback to x (each evaluated)
_RETRACTIONS = 3


def check_image_patches(input_shape, patch_size, stride):
    """Raise ``ValueError`` unless examples of ``input_shape`` are images that fit the patches.

    Parameters
    ----------
    input_shape : tuple of int
        The shape of one example: ``(C, H, W)`` or ``(H, W)``.
    patch_size, stride : int

    Examples
    --------
    >>> check_image_patches((1, 8, 8), 3, 1)
    >>> check_image_patches((64,), 3, 1)
    Traceback (most recent call last):
    ...
    ValueError: inputs of shape (64,) per example: the internal Wasserstein distance ...
    """
    for name, v in (("patch_size", patch_size), ("stride", stride)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"{name}={v!r}: expected an integer >= 1.")
    shape = tuple(int(s) for s in input_shape)
    if len(shape) not in (2, 3):
        raise ValueError(
            f"inputs of shape {shape} per example: the internal Wasserstein distance compares "
            "the patches of images, so it needs images of shape (C, H, W) or (H, W) per "
            "example. Reshape flat inputs to images first (e.g. "
            "robustsk.datasets.load_digits_images gives (n, 1, 8, 8)).")
    h, w = shape[-2:]
    if patch_size > min(h, w):
        raise ValueError(
            f"patch_size={patch_size} is larger than the images ({h}x{w}): expected a "
            f"patch_size <= {min(h, w)}.")


def _check_images(x, patch_size, stride):
    check_image_patches(tuple(x.shape[1:]), patch_size, stride)


def image_patches(x, patch_size=3, stride=1):
    """All ``patch_size`` x ``patch_size`` patches of each image, as vectors.

    Parameters
    ----------
    x : Tensor of shape (n, C, H, W) or (n, H, W)
    patch_size : int, default=3
    stride : int, default=1

    Returns
    -------
    patches : Tensor of shape (n, n_patches, C * patch_size ** 2)

    Examples
    --------
    >>> import torch
    >>> image_patches(torch.rand(2, 1, 8, 8), patch_size=3, stride=1).shape
    torch.Size([2, 36, 9])
    """
    _check_images(x, patch_size, stride)
    xi = x.unsqueeze(1) if x.ndim == 3 else x
    return F.unfold(xi, kernel_size=patch_size, stride=stride).transpose(1, 2)


def _loss(blur, scaling, diameter):
    try:
        from geomloss import SamplesLoss
    except ImportError as err:  # an optional dependency
        raise ImportError("The internal Wasserstein distance needs GeomLoss: "
                          "pip install 'robustsk[ot]' (or pip install geomloss).") from err
    return SamplesLoss("sinkhorn", p=2, blur=blur, scaling=scaling, diameter=diameter,
                       debias=True, backend="tensorized")


def _check_scaling(scaling):
    if isinstance(scaling, bool) or not isinstance(scaling, numbers.Real) \
            or not 0 < scaling < 1:
        raise ValueError(f"scaling={scaling!r}: expected a number in (0, 1), the ratio of "
                         "successive blurs of the epsilon-scaling; 0.99 (the default) gives "
                         "the converged divergence.")


def _diameter(box, x, dim):
    """Largest distance between two patches: from the box, else from ``x``'s range."""
    lo, hi = box
    lo = x.min() if lo is None else torch.as_tensor(lo).min()
    hi = x.max() if hi is None else torch.as_tensor(hi).max()
    return max(float(hi - lo), 1e-6) * math.sqrt(dim)


def _coverage(x, patch_size, stride):
    """How many patches each pixel lies in, divided by the number of patches."""
    xi = x[:1].unsqueeze(1) if x.ndim == 3 else x[:1]
    ones = torch.ones_like(xi)
    cols = F.unfold(ones, kernel_size=patch_size, stride=stride)
    cov = F.fold(cols, xi.shape[-2:], kernel_size=patch_size, stride=stride) / cols.shape[-1]
    return cov[0, 0] if x.ndim == 3 else cov[0]


def _metric_step(grad, cov, step_size):
    """Steepest ascent in the local metric of the distance: ``grad / coverage``, normalised.

    Near ``x`` the squared distance is about ``sum_i cov_i d_i ** 2`` (each
    pixel counted in every patch that contains it), so the step that gains
    most loss per unit of distance is ``d_i ~ grad_i / cov_i``, scaled to
    distance ``step_size``; pixels in no patch are left alone.
    """
    safe = cov.clamp_min(1e-12)
    direction = torch.where(cov > 0, grad / safe, torch.zeros_like(grad))
    size = (cov * direction ** 2).flatten(1).sum(1).clamp_min(1e-20).sqrt()
    return step_size * direction / size.view(-1, *[1] * (grad.ndim - 1))


def _divergence(loss, p, q):
    """Debiased Sinkhorn divergence as a squared distance, ~ W2(p, q) ** 2."""
    return 2.0 * loss(p, q)


def internal_wasserstein(x, x_adv, *, patch_size=3, stride=1, blur=0.05, scaling=0.99,
                         clip_min=None, clip_max=None):
    """Internal Wasserstein distance between images and their perturbed versions.

    The distance between the uniform distributions over the patches of each
    image: ``sqrt(2 S(P_x, P_x'))`` with ``S`` GeomLoss's debiased Sinkhorn
    divergence for the squared Euclidean cost, so it is in the units of the
    input, like the L2 norm of a patch. It is zero when ``x'`` only
    rearranges ``x``'s patches.

    GeomLoss computes ``S`` by epsilon-scaling: one Sinkhorn iteration per
    blur value from the diameter down to ``blur``, each ``scaling`` times the
    last. The value is the converged divergence only when that schedule is
    slow enough: at ``scaling=0.99`` (the default) it agrees with a converged
    debiased Sinkhorn (POT) to about 1e-4 and with the exact Wasserstein
    distance (POT's ``emd2``) to within the blur's own bias (2% at most on
    digits shifted by one pixel, 3x3 patches). A faster schedule
    *underestimates* the distance and lowering ``blur`` does not help: at
    ``scaling=0.5`` the value was up to 45% below the exact distance on those
    shifted digits (13% at 0.95, 4% at 0.98), so an attack projected with it
    leaves its budget. The cost grows like ``1 / log(1 / scaling)``: value and
    gradient of 64 digits took 0.03 s at 0.5, 0.23 s at 0.95 and 1.4 s at 0.99
    on one CPU thread.

    Parameters
    ----------
    x, x_adv : Tensor of shape (n, C, H, W) or (n, H, W)
    patch_size : int, default=3
    stride : int, default=1
    blur : float, default=0.05
        Entropic blur (a length in input units): below it, differences are smoothed out.
    scaling : float in (0, 1), default=0.99
        GeomLoss's epsilon-scaling ratio (closer to 1: more iterations, more
        accurate; below about 0.98 the distance is underestimated, see above).
    clip_min, clip_max : float, default=None
        The input box; it sets the diameter of the epsilon-scaling schedule
        (None: the range of ``x`` and ``x_adv``), so a value does not depend on
        which other images share the batch.

    Returns
    -------
    distance : Tensor of shape (n,)

    References
    ----------
    .. [1] Wang, Q., Zhang, S., Cao, J., Li, J., Tan, M. and Xiang, Y. "Internal
       Wasserstein Distance for Adversarial Attack and Defense." arXiv:2103.07598, 2021.
    .. [2] Feydy, J. et al. "Interpolating between Optimal Transport and MMD using
       Sinkhorn Divergences." AISTATS, 2019.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(2, 1, 8, 8)
    >>> swapped = torch.cat([x[..., 4:], x[..., :4]], dim=-1)  # every pixel moves
    >>> internal_wasserstein(x, swapped, patch_size=4, stride=4).max() < 1e-3  # same patches
    tensor(True)
    """
    _check_scaling(scaling)
    p, q = image_patches(x, patch_size, stride), image_patches(x_adv, patch_size, stride)
    both = torch.cat([x.detach().flatten(), x_adv.detach().flatten()])
    loss = _loss(blur, scaling, _diameter((clip_min, clip_max), both, p.shape[-1]))
    return _divergence(loss, p, q).clamp_min(0).sqrt()


def _reduce(x_adv, x, div_fn, eps, n_steps, box):
    """Bring every iterate back inside ``IWD <= eps`` (within the margin).

    First ``n_steps`` Polyak steps on the divergence (to the level eps**2):
    they move a patch towards the original patches it is transported to, not
    necessarily towards its own. Then a retraction along the segment
    to ``x`` (the divergence is about quadratic in the step there), and a
    fallback to ``x`` for what is still outside.
    """
    target = (eps * (1 - _MARGIN)) ** 2
    for _ in range(n_steps):
        xa = x_adv.detach().requires_grad_(True)
        div = div_fn(xa)
        over = div.detach() > target
        if not over.any():
            return x_adv.detach()
        grad, = torch.autograd.grad(div.sum(), xa)
        g2 = grad.flatten(1).pow(2).sum(1).clamp_min(1e-20)
        step = ((div.detach() - target) / g2).clamp_min(0) * over
        x_adv = clip_box(x_adv - step.view(-1, *[1] * (x.ndim - 1)) * grad, *box).detach()
    delta = x_adv - x
    t = torch.ones(len(x), dtype=x.dtype, device=x.device)
    for evaluation in range(_RETRACTIONS + 1):  # the last evaluation decides the fallback
        with torch.no_grad():
            div = div_fn(x + t.view(-1, *[1] * (x.ndim - 1)) * delta)
        over = div > target
        if not over.any():
            break
        if evaluation == _RETRACTIONS:
            t = torch.where(over, torch.zeros_like(t), t)
        else:
            t = torch.where(over, t * torch.sqrt(target / div.clamp_min(1e-20)) * 0.99, t)
    return (x + t.view(-1, *[1] * (x.ndim - 1)) * delta).detach()


def iwd(model, x, y, *, eps, patch_size=3, stride=1, step_size=None, n_iter=20,
        n_proj_steps=1, blur=0.05, scaling=0.99, loss="ce", y_target=None, clip_min=None,
        clip_max=None, return_best=True, mode="eval"):
    """Maximise a loss subject to an internal-Wasserstein budget.

    Each step is a steepest-ascent step on the loss in the distance's local
    metric (near ``x`` the squared distance weighs each pixel by the share
    of patches that contain it, so the step is ``grad / coverage``, scaled
    to distance ``step_size``), clipped to the box, then brought back inside
    ``internal_wasserstein(x, x') <= eps``: Polyak steps on the Sinkhorn
    divergence between the patch sets (they pull each patch towards the
    original patches it is transported to, not necessarily its own), then a
    retraction towards ``x``. Deterministic: no random start. Every iterate,
    the last one included (``return_best=False``), is within ``eps`` of ``x``
    in ``internal_wasserstein(x, x', blur=blur, scaling=scaling,
    clip_min=clip_min, clip_max=clip_max)``.

    Parameters
    ----------
    model : torch.nn.Module
        Maps images to logits.
    x : Tensor of shape (n, C, H, W) or (n, H, W)
        Clean images; never modified.
    y : LongTensor of shape (n,)
    eps : float
        Budget on :func:`internal_wasserstein` (input units).
    patch_size, stride : int, default=3, 1
    step_size : float, default=None
        Length of an ascent step in the local metric (distance units);
        None: ``eps / 4``.
    n_iter : int, default=20
    n_proj_steps : int, default=1
        Polyak steps per iteration that reduce the distance.
    blur : float, default=0.05
        Entropic blur of the Sinkhorn divergence (input units).
    scaling : float in (0, 1), default=0.99
        Epsilon-scaling ratio of the Sinkhorn divergence: the budget is
        enforced on :func:`internal_wasserstein` at this ``scaling`` (lower
        is faster but underestimates the distance; see there).
    loss : str or callable, default="ce"
    y_target : LongTensor of shape (n,), default=None
    clip_min, clip_max : float or Tensor, default=None
    return_best : bool, default=True
        True: per example the first successful iterate, else the highest-loss
        one (the clean input first). False (training): the last iterate.
    mode : {"eval", "train", None}, default="eval"

    Returns
    -------
    x_adv : Tensor with the shape of ``x``

    References
    ----------
    .. [1] Wang, Q., Zhang, S., Cao, J., Li, J., Tan, M. and Xiang, Y. "Internal
       Wasserstein Distance for Adversarial Attack and Defense." arXiv:2103.07598, 2021.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    >>> x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 0])
    >>> x_adv = iwd(model, x, y, eps=0.2, n_iter=3, clip_min=0, clip_max=1)
    >>> bool((internal_wasserstein(x, x_adv, clip_min=0, clip_max=1) <= 0.2).all())
    True
    """
    _check_images(x, patch_size, stride)
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not np.isfinite(eps) \
            or eps < 0:
        raise ValueError(f"eps={eps!r}: expected a finite internal-Wasserstein budget >= 0.")
    n_iter = check_positive_int(n_iter, "n_iter", 0)
    n_proj_steps = check_positive_int(n_proj_steps, "n_proj_steps", 0)
    _check_scaling(scaling)
    y = check_labels(y, x)
    y_target = check_labels(y_target, x, "y_target")
    x = x.detach()
    if eps == 0 or len(x) == 0:
        return x.clone()
    dim = (1 if x.ndim == 3 else x.shape[1]) * patch_size ** 2
    if step_size is None:
        step_size = eps / 4
    box = as_box(clip_min, clip_max, x)
    ot_loss = _loss(blur, scaling, _diameter((clip_min, clip_max), x, dim))
    p_clean = image_patches(x, patch_size, stride)
    cov = _coverage(x, patch_size, stride)

    def div_fn(xa):
        return _divergence(ot_loss, p_clean, image_patches(xa, patch_size, stride))

    fn = objective(loss, y_target is not None)
    kw = {"y_target": y_target, "clean_logits": None}
    with attack_context(model, mode):
        x_adv, tracker = x.clone(), None
        for _ in range(n_iter):
            value, logits, grad = input_gradient(model, x_adv, y, fn, **kw)
            if return_best:  # x_adv is inside the budget: offer it (the clean input first)
                if tracker is None:
                    tracker = BestIterate(x, logits, value, y, y_target)
                else:
                    tracker.update(x_adv, logits, value)
            x_adv = clip_box(x_adv + _metric_step(grad, cov, step_size), *box)
            x_adv = _reduce(x_adv, x, div_fn, eps, n_proj_steps, box)
        if not return_best:
            return x_adv
        with torch.no_grad():
            logits = model(x_adv)
            if tracker is None:  # n_iter == 0
                return x_adv
            tracker.update(x_adv, logits, fn(logits, y, **kw))
        return tracker.x


class IWD(Attack):
    """Internal-Wasserstein-distance attack (Wang et al., 2021).

    Maximises the loss while the patch distribution of the image stays within
    ``eps`` of the original's (:func:`internal_wasserstein`); see :func:`iwd`.
    The threat model is not an Lp ball: its :class:`Threat` has
    ``norm="iwd"``, :meth:`perturbation_size` measures the internal
    Wasserstein distance, and evaluations re-check successes against it. It
    inherits only the box from the attacked estimator, never its Lp ``eps``.
    In :func:`robustsk.evaluation.evaluate_robustness` give ``eps`` in
    internal-Wasserstein units and evaluate IWD apart from Lp attacks (one
    radius grid is shared by all attacks of a call).

    Parameters
    ----------
    eps : float, default=0.3
        Budget on the internal Wasserstein distance (input units).
    patch_size : int, default=3
    stride : int, default=1
    step_size : float, default=None
        Ascent step in distance units; None: ``eps / 4``.
    n_iter : int, default=20
    n_proj_steps : int, default=1
    blur : float, default=0.05
    scaling : float in (0, 1), default=0.99
        Epsilon-scaling ratio of the Sinkhorn divergence, in the attack and in
        :meth:`perturbation_size` (see :func:`internal_wasserstein`).
    loss : {"ce", "margin", "dlr"} or callable, default="ce"
    clip_min, clip_max : float or array-like, default=None
        None inherits the estimator's box.
    batch_size : int, default=256

    References
    ----------
    .. [1] Wang, Q., Zhang, S., Cao, J., Li, J., Tan, M. and Xiang, Y. "Internal
       Wasserstein Distance for Adversarial Attack and Defense." arXiv:2103.07598, 2021.

    Examples
    --------
    >>> from robustsk.attacks import IWD
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import StandardTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = StandardTraining(max_epochs=2, clip_min=0, clip_max=1,
    ...                        random_state=0).fit(X[:200], y[:200])
    >>> attack = IWD(eps=0.3, n_iter=5)
    >>> X_adv = attack.generate(clf, X[:20], y[:20])
    >>> bool((attack.perturbation_size(X_adv, X[:20], attack.resolve_threat(clf)) <= 0.3).all())
    True
    """

    _parameter_constraints = {
        "patch_size": [Interval(int, 1, None)],
        "stride": [Interval(int, 1, None)],
        "n_proj_steps": [Interval(int, 0, None)],
        "blur": [Interval(float, 0, None, closed="neither")],
        "scaling": [Interval(float, 0, 1, closed="neither")],
    }

    def __init__(self, eps=0.3, patch_size=3, stride=1, step_size=None, n_iter=20,
                 n_proj_steps=1, blur=0.05, scaling=0.99, loss="ce", clip_min=None,
                 clip_max=None, batch_size=256):
        self.eps = eps
        self.patch_size = patch_size
        self.stride = stride
        self.step_size = step_size
        self.n_iter = n_iter
        self.n_proj_steps = n_proj_steps
        self.blur = blur
        self.scaling = scaling
        self.loss = loss
        self.clip_min = clip_min
        self.clip_max = clip_max
        self.batch_size = batch_size

    def resolve_threat(self, target):
        """The budget (``norm="iwd"``) and the box inherited from ``target``."""
        validate_params(self)
        if self.eps is None:
            raise ValueError("IWD got eps=None: an internal-Wasserstein budget is not an Lp "
                             "radius and is not inherited. Pass eps=, e.g. IWD(eps=0.3).")
        return Threat(eps=float(self.eps), norm="iwd",
                      clip_min=self.threat_param("clip_min", target),
                      clip_max=self.threat_param("clip_max", target))

    def perturbation_size(self, X_adv, X, threat):
        """Internal Wasserstein distance of each example to its original.

        Returns
        -------
        size : ndarray of shape (n_samples,), float64
        """
        x = torch.as_tensor(np.asarray(X, dtype=np.float32))
        x_adv = torch.as_tensor(np.asarray(X_adv, dtype=np.float32)).reshape(x.shape)
        _check_images(x, self.patch_size, self.stride)
        out = [internal_wasserstein(x[i:i + 256], x_adv[i:i + 256], patch_size=self.patch_size,
                                    stride=self.stride, blur=self.blur,
                                    scaling=self.scaling, clip_min=threat.clip_min, clip_max=threat.clip_max)
               for i in range(0, len(x), 256)]
        return torch.cat(out).double().numpy() if out else np.zeros(0)

    def perturb(self, model, x, y, *, threat, rng=None, y_target=None):
        """Run :func:`iwd` on one batch of tensors (``rng`` is unused: no random start)."""
        return iwd(model, x, y, eps=threat.eps, patch_size=self.patch_size, stride=self.stride,
                   step_size=self.step_size, n_iter=self.n_iter,
                   n_proj_steps=self.n_proj_steps, blur=self.blur, scaling=self.scaling,
                   loss=self.loss,
                   y_target=y_target, clip_min=threat.clip_min, clip_max=threat.clip_max)

    def generate(self, estimator, X, y, *, y_target=None):
        """IWD adversarial examples of ``X`` against a fitted estimator (images only).

        Returns
        -------
        X_adv : ndarray with the shape and dtype of ``X``
            Every example within ``eps`` of its original (re-checked; an
            example found outside after the cast to ``X``'s dtype is returned clean).
        """
        target = as_target(estimator)
        threat = self.resolve_threat(target)
        x = target.prepare_X(X, box=(threat.clip_min, threat.clip_max))
        _check_images(x, self.patch_size, self.stride)
        y_t = target.encode_y(y, n_samples=len(x))
        t_t = None if y_target is None else target.encode_y(y_target, n_samples=len(x))
        out = run_batches(self, target.module, x, y_t, threat=threat, seed=0, y_target=t_t,
                          batch_size=self.batch_size)
        X_adv = output_like(out.cpu().numpy(), X)
        outside = self.perturbation_size(X_adv, X, threat) > threat.eps
        X_adv[outside] = np.asarray(X)[outside]
        return X_adv
