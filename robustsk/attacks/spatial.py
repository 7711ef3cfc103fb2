"""Spatial attack: the worst rotation and translation on a grid (Engstrom et al., 2019).

Not an Lp attack: the adversarial image is a rotated and translated copy of
the input, arbitrarily far from it in any Lp norm. :class:`Spatial` therefore
has its own threat model (``Threat.norm == "spatial"``: the rotations and
translations within its bounds): it inherits only the box
(``clip_min``/``clip_max``) from the attacked estimator, never projects onto
an eps ball, and :meth:`Spatial.perturbation_size` re-checks a result by
finding the grid transformation that produced it.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

from ..params import Interval, validate_params
from ._checks import check_labels, check_positive_int
from ._primitives import as_box, attack_context, clip_box
from ._target import as_target, output_like
from .base import Attack, Threat
from .losses import objective
from .runner import run_batches
from .tracking import BestIterate

__all__ = ["spatial", "spatial_transform", "Spatial"]

#: a transformed image matches the re-computed one when no value differs by
#: more than this times max(1, the largest absolute input value)
MATCH_RTOL = 1e-5


def spatial_transform(x, angle, shift):
    """Rotate images by ``angle`` degrees, then translate them by ``shift``.

    Parameters
    ----------
    x : Tensor of shape (n, C, H, W) or (n, H, W)
    angle : float or Tensor of shape (n,)
        Degrees, counter-clockwise, about the image centre.
    shift : (float, float) or Tensor of shape (n, 2)
        ``(dx, dy)`` as fractions of the image width and height (positive:
        right and down). Pixels moved in from outside are zero; bilinear
        interpolation.

    Returns
    -------
    x_t : Tensor with the shape of ``x``
    """
    squeeze = x.ndim == 3
    xi = x.unsqueeze(1) if squeeze else x
    n, _, h, w = xi.shape
    angle = torch.as_tensor(angle, dtype=xi.dtype, device=xi.device).expand(n)
    shift = torch.as_tensor(shift, dtype=xi.dtype, device=xi.device).expand(n, 2)
    rad = angle * (math.pi / 180.0)
    cos, sin = torch.cos(rad), torch.sin(rad)
    # affine_grid maps output to input coordinates in [-1, 1]: input = A output + t.
    # Scaling by the aspect ratio keeps the rotation rigid in pixel space for
    # non-square images. Rotate first, then translate along the image's axes (as
    # Engstrom et al.'s code): output = A^-1 input + 2 shift, so t = -A (2 shift).
    a00, a01, a10, a11 = cos, -sin * h / w, sin * w / h, cos
    tx, ty = 2.0 * shift[:, 0], 2.0 * shift[:, 1]
    theta = torch.stack([
        torch.stack([a00, a01, -(a00 * tx + a01 * ty)], dim=1),
        torch.stack([a10, a11, -(a10 * tx + a11 * ty)], dim=1)], dim=1)
    grid = F.affine_grid(theta, list(xi.shape), align_corners=False)
    out = F.grid_sample(xi, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.squeeze(1) if squeeze else out


def _grid(max_rotation, max_translation, n_rotations, n_translations):
    """All (angle, dx, dy), ordered by size so the first success is the mildest."""
    angles = np.linspace(-max_rotation, max_rotation, n_rotations)
    shifts = np.linspace(-max_translation, max_translation, n_translations)
    cells = [(a, dx, dy) for a in angles for dx in shifts for dy in shifts]
    scale_a = max(max_rotation, 1e-12)
    scale_t = max(max_translation, 1e-12)
    cells.sort(key=lambda c: (abs(c[0]) / scale_a + max(abs(c[1]), abs(c[2])) / scale_t,
                              abs(c[0]), abs(c[1]) + abs(c[2])))
    return cells


def _cell_size(angle, dx, dy, max_rotation, max_translation):
    """The size of a grid cell in the threat model: 1 at the bounds' edge."""
    rot = abs(angle) / max_rotation if max_rotation > 0 else 0.0
    trans = max(abs(dx), abs(dy)) / max_translation if max_translation > 0 else 0.0
    return max(rot, trans)


def spatial(model, x, y, *, max_rotation=30.0, max_translation=0.1, n_rotations=31,
            n_translations=5, loss="ce", y_target=None, clip_min=None, clip_max=None,
            mode="eval", return_params=False):
    """Grid search over rotations and translations for the worst transformation.

    Every combination of ``n_rotations`` angles in ``[-max_rotation,
    max_rotation]`` degrees and ``n_translations`` shifts in
    ``[-max_translation, max_translation]`` (fraction of the image size) along
    each axis is tried (Engstrom et al.: 31 angles in [-30, 30] and 5 shifts per
    axis, 775 forward passes). Per example the result is the first transformation
    (grid ordered from mild to strong) that misclassifies it, else the one with
    the highest loss; the untransformed image is the first candidate.

    Parameters
    ----------
    model : torch.nn.Module
        Maps images of shape (n, C, H, W) or (n, H, W) to logits.
    x : Tensor of shape (n, C, H, W) or (n, H, W)
    y : LongTensor of shape (n,)
    max_rotation : float, default=30.0
        Degrees.
    max_translation : float, default=0.1
        Fraction of the image width (horizontal) and height (vertical).
    n_rotations, n_translations : int, default=31, 5
        Grid points per range; odd counts include the identity.
    loss : str or callable, default="ce"
    y_target : LongTensor of shape (n,), default=None
        Targets of a targeted attack.
    clip_min, clip_max : float or Tensor, default=None
        Box applied after the transformation (zero padding may leave it).
    mode : {"eval", "train", None}, default="eval"
    return_params : bool, default=False
        Also return the chosen angle (n,) and shift (n, 2) per example.

    Returns
    -------
    x_adv : Tensor with the shape of ``x``
    angle, shift : Tensor, only when ``return_params``

    References
    ----------
    .. [1] Engstrom, L., Tran, B., Tsipras, D., Schmidt, L. and Madry, A.
       "Exploring the Landscape of Spatial Robustness." ICML, 2019.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    >>> x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 0])
    >>> spatial(model, x, y, n_rotations=5, n_translations=3).shape
    torch.Size([4, 1, 8, 8])
    """
    if x.ndim not in (3, 4):
        raise ValueError(
            f"x has shape {tuple(x.shape)}: the spatial attack needs images of shape "
            "(n, C, H, W) or (n, H, W). Reshape flat inputs to images first.")
    n_rotations = check_positive_int(n_rotations, "n_rotations")
    n_translations = check_positive_int(n_translations, "n_translations")
    for name, v in (("max_rotation", max_rotation), ("max_translation", max_translation)):
        if not np.isfinite(v) or v < 0:
            raise ValueError(f"{name}={v!r}: expected a finite number >= 0.")
    y = check_labels(y, x)
    y_target = check_labels(y_target, x, "y_target")
    x = x.detach()
    box = as_box(clip_min, clip_max, x)
    fn = objective(loss, y_target is not None)
    n = len(x)
    angle = torch.zeros(n, dtype=x.dtype, device=x.device)
    shift = torch.zeros(n, 2, dtype=x.dtype, device=x.device)
    with attack_context(model, mode), torch.no_grad():
        kw = {"y_target": y_target, "clean_logits": None}
        logits = model(x)
        tracker = BestIterate(x, logits, fn(logits, y, **kw), y, y_target)
        for a, dx, dy in _grid(max_rotation, max_translation, n_rotations, n_translations):
            todo = (~tracker.found).nonzero().flatten()
            if len(todo) == 0:
                break
            xt = clip_box(spatial_transform(x[todo], a, (dx, dy)), *box)
            logits = model(xt)
            sub = {k: (None if v is None else v[todo]) for k, v in kw.items()}
            cur = fn(logits, y[todo], **sub)
            before = tracker.x[todo].clone()
            tracker.update(xt, logits, cur, todo)
            changed = (tracker.x[todo] != before).flatten(1).any(1)
            idx = todo[changed]
            angle[idx] = float(a)
            shift[idx] = torch.tensor([dx, dy], dtype=x.dtype, device=x.device)
    if return_params:
        return tracker.x, angle, shift
    return tracker.x


class Spatial(Attack):
    """Worst-of-grid rotation and translation attack (Engstrom et al., 2019).

    Not an Lp attack: a rotated image is far from the original in every Lp
    norm, so the estimator's ``eps`` and ``norm`` are never inherited nor
    enforced. Its threat model (:meth:`resolve_threat`: ``norm="spatial"``,
    ``eps=1``) is the rotations by at most ``max_rotation`` degrees and the
    translations by at most ``max_translation``; :meth:`perturbation_size`
    measures a result in those units (1 at the bounds), so evaluations and
    :class:`~robustsk.attacks.WorstCase` re-check it in this threat model. It
    inherits only the estimator's box, applied after the transformation. In
    :func:`robustsk.evaluation.evaluate_robustness` the radius grid does not
    apply to it (it has no ``eps``).

    Parameters
    ----------
    max_rotation : float, default=30.0
        Degrees.
    max_translation : float, default=0.1
        Fraction of the image size.
    n_rotations : int, default=31
    n_translations : int, default=5
        Per axis.
    loss : {"ce", "margin"} or callable, default="ce"
    clip_min, clip_max : float or array-like, default=None
        None inherits the estimator's box.
    batch_size : int, default=256

    References
    ----------
    .. [1] Engstrom, L., Tran, B., Tsipras, D., Schmidt, L. and Madry, A.
       "Exploring the Landscape of Spatial Robustness." ICML, 2019.

    Examples
    --------
    >>> from robustsk.attacks.spatial import Spatial
    >>> Spatial(n_rotations=11).set_params(max_rotation=15).max_rotation
    15
    """

    _parameter_constraints = {
        "max_rotation": [Interval(float, 0, None)],
        "max_translation": [Interval(float, 0, None)],
        "n_rotations": [Interval(int, 1, None)],
        "n_translations": [Interval(int, 1, None)],
    }

    def __init__(self, max_rotation=30.0, max_translation=0.1, n_rotations=31,
                 n_translations=5, loss="ce", clip_min=None, clip_max=None, batch_size=256):
        self.max_rotation = max_rotation
        self.max_translation = max_translation
        self.n_rotations = n_rotations
        self.n_translations = n_translations
        self.loss = loss
        self.clip_min = clip_min
        self.clip_max = clip_max
        self.batch_size = batch_size

    def generate(self, estimator, X, y, *, y_target=None):
        """Rotated and translated copies of ``X`` that the estimator gets wrong.

        Parameters
        ----------
        estimator : fitted robustsk estimator (image inputs) or Pipeline ending in one
        X : array-like of shape (n_samples, C, H, W) or (n_samples, H, W)
        y : array-like of shape (n_samples,)
        y_target : array-like of shape (n_samples,), default=None

        Returns
        -------
        X_adv : ndarray with the shape and dtype of ``X``
        """
        target = as_target(estimator)
        threat = self.resolve_threat(target)  # the grid is deterministic: no random stream
        x = target.prepare_X(X, box=(threat.clip_min, threat.clip_max))
        y_t = target.encode_y(y, n_samples=len(x))
        t_t = None if y_target is None else target.encode_y(y_target, n_samples=len(x))
        # run_batches' random streams go unused (perturb reads no rng): any seed
        out = run_batches(self, target.module, x, y_t, threat=threat, seed=0, y_target=t_t,
                          batch_size=self.batch_size)
        return output_like(out.detach().cpu().numpy(), X)

    def resolve_threat(self, target):
        """The spatial threat model: ``norm="spatial"``, ``eps=1`` and the inherited box.

        Validates the parameters. ``eps`` is 1 in the units of
        :meth:`perturbation_size`: every grid transformation lies within it.

        Parameters
        ----------
        target : AttackTarget or ThreatDefaults
            Supplies ``clip_min`` and ``clip_max`` when this attack's are None.

        Returns
        -------
        threat : Threat
        """
        validate_params(self)
        return Threat(eps=1.0, norm="spatial", clip_min=self.threat_param("clip_min", target),
                      clip_max=self.threat_param("clip_max", target))

    def perturbation_size(self, X_adv, X, threat):
        """Size of the transformation that turns each example of ``X`` into ``X_adv``.

        The grid is searched (in the attack's order, mildest first) for a
        rotation and translation that, clipped to ``threat``'s box, reproduces
        ``X_adv`` (to a relative tolerance of :data:`MATCH_RTOL`). Its size is
        ``max(|angle| / max_rotation, max(|dx|, |dy|) / max_translation)``
        (a zero bound counts as no movement): at most 1, ``threat.eps``, for
        every grid point, 0 for an unchanged example, and ``inf`` when no grid
        transformation gives ``X_adv`` (outside the threat model).

        Parameters
        ----------
        X_adv, X : array-like of shape (n_samples, C, H, W) or (n_samples, H, W)
        threat : Threat
            From :meth:`resolve_threat` (its box is used).

        Returns
        -------
        size : ndarray of shape (n_samples,), float64
        """
        validate_params(self)
        x = torch.as_tensor(np.asarray(X, dtype=np.float32))
        x_adv = torch.as_tensor(np.asarray(X_adv, dtype=np.float32)).reshape(x.shape)
        if x.ndim not in (3, 4):
            raise ValueError(f"X has shape {tuple(x.shape)}: Spatial measures images of shape "
                             "(n_samples, C, H, W) or (n_samples, H, W).")
        size = torch.full((len(x),), math.inf, dtype=torch.float64)
        if len(x) == 0:
            return size.numpy()
        tol = MATCH_RTOL * max(1.0, float(x.abs().max()))

        def matches(candidate, rows):
            return (candidate - x_adv[rows]).abs().flatten(1).amax(1) <= tol

        size[matches(x, torch.arange(len(x)))] = 0.0  # the untransformed image
        box = as_box(threat.clip_min, threat.clip_max, x)
        for a, dx, dy in _grid(self.max_rotation, self.max_translation, self.n_rotations,
                               self.n_translations):
            rows = torch.isinf(size).nonzero().flatten()
            if len(rows) == 0:
                break
            xt = clip_box(spatial_transform(x[rows], a, (dx, dy)), *box)
            size[rows[matches(xt, rows)]] = _cell_size(a, dx, dy, self.max_rotation,
                                                       self.max_translation)
        return size.numpy()

    def perturb(self, model, x, y, *, threat, rng=None, y_target=None):
        """The worst grid point of one batch of image tensors (see :meth:`Attack.perturb`).

        Only ``threat.clip_min`` and ``threat.clip_max`` are read (the box the
        transformed image is clipped to; the :class:`Threat` of
        :meth:`resolve_threat` or any object with these attributes); ``rng``
        is unused (the grid is deterministic).
        """
        return spatial(model, x, y, max_rotation=self.max_rotation,
                       max_translation=self.max_translation, n_rotations=self.n_rotations,
                       n_translations=self.n_translations, loss=self.loss, y_target=y_target,
                       clip_min=threat.clip_min, clip_max=threat.clip_max)
