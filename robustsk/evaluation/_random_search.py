"""A small Square-style random search: the gradient-free fallback of the evaluation.

Used by :func:`~robustsk.evaluation.evaluate_robustness` and the gradient-masking
checks only when ``robustsk.attacks.Square`` is not available. It follows the
Linf Square Attack (Andriushchenko et al., 2020): vertical-stripe start at the
vertices of the ball, then per query one random square window re-drawn at
``+-eps`` per channel, kept if it lowers the margin ``z_y - max_{j != y} z_j``.
The L2 version re-draws the window with Gaussian noise and projects back onto
the ball (a plain random search, not the paper's L2 update).
"""
import math

import torch

from ..attacks._primitives import as_box, attack_context, clip_box, project
from ..attacks.base import Attack

__all__ = ["RandomSearch", "random_search"]

#: Square's schedule: the window fraction halves at these queries (of 10,000)
_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def _fraction(p_init, i, n_queries):
    i = int(i * 10000 / max(n_queries, 1))
    return p_init / 2 ** sum(i > h for h in _HALVINGS)


def _as_image(x):
    """View a batch as (n, C, H, W): images keep their shape, flat rows are 1 x d."""
    if x.ndim == 4:
        return x
    if x.ndim == 3:
        return x.unsqueeze(1)
    return x.flatten(1).unsqueeze(1).unsqueeze(1)


def _margin(logits, y):
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.clone()
    other.scatter_(1, y[:, None], float("-inf"))
    return z_y - other.amax(dim=1)


def random_search(model, x, y, *, eps, norm="inf", n_queries=500, p_init=0.3, clip_min=None,
                  clip_max=None, rng):
    """Square-style random search on the margin loss; gradient-free.

    Parameters
    ----------
    model : torch.nn.Module
    x : Tensor of shape (n_samples, ...)
    y : LongTensor of shape (n_samples,)
    eps : float
    norm : {"inf", "2"}, default="inf"
    n_queries : int, default=500
        Model evaluations per example after the start (an example stops once fooled).
    p_init : float, default=0.3
        Initial fraction of the pixels in the window.
    clip_min, clip_max : float or Tensor, default=None
    rng : Randomness

    Returns
    -------
    x_adv : Tensor with the shape of ``x``
    """
    x = x.detach()
    if eps == 0 or len(x) == 0:
        return x.clone()
    box = as_box(clip_min, clip_max, x)
    with attack_context(model, "eval"), torch.no_grad():
        img = _as_image(x)
        n, c, h, w = img.shape
        if norm == "inf":
            stripes = rng.uniform(img[:, :, :1, :]).sign()
            start = img + eps * stripes.expand_as(img)
        else:
            start = img + rng.normal(img)
        best = clip_box(project(start.reshape(x.shape), x, eps, norm), *box)
        margin = _margin(model(best), y)
        rows, cols = torch.arange(h), torch.arange(w)
        for i in range(n_queries):
            active = (margin > 0).nonzero().flatten()
            if len(active) == 0:
                break
            sub = rng.subset(active)
            frac = _fraction(p_init, i, n_queries)
            side_h = min(h, max(1, round(math.sqrt(frac * h * w)))) if h > 1 else 1
            side_w = min(w, max(1, round(frac * h * w / side_h)))
            pos = sub.uniform(img.new_empty(len(active), 2), 0.0, 1.0)
            r0 = (pos[:, 0] * (h - side_h + 1)).floor().long()
            c0 = (pos[:, 1] * (w - side_w + 1)).floor().long()
            mask = (((rows[None] >= r0[:, None]) & (rows[None] < r0[:, None] + side_h))[:, None, :, None]
                    & ((cols[None] >= c0[:, None]) & (cols[None] < c0[:, None] + side_w))[:, None, None, :])
            cur = _as_image(best[active])
            if norm == "inf":
                draw = img[active] + eps * sub.uniform(img.new_empty(len(active), c, 1, 1)).sign()
            else:
                scale = eps / math.sqrt(side_h * side_w * c)
                draw = cur + scale * sub.normal(cur)
            cand = torch.where(mask, draw, cur).reshape(best[active].shape)
            cand = clip_box(project(cand, x[active], eps, norm), *box)
            new_margin = _margin(model(cand), y[active])
            better = new_margin < margin[active]
            best[active[better]] = cand[better]
            margin[active[better]] = new_margin[better]
        return best


class RandomSearch(Attack):
    """Square-style random search (Linf; L2 as a plain random search), gradient-free.

    A fallback for :class:`robustsk.attacks.Square` in the evaluation. It
    needs only the model's logits, so gradient masking does not stop it.

    Parameters
    ----------
    eps, norm, clip_min, clip_max, random_state : default=None
        None inherits the attacked estimator's values.
    n_queries : int, default=500
    p_init : float, default=0.3
    batch_size : int, default=256

    References
    ----------
    .. [1] Andriushchenko, M., Croce, F., Flammarion, N. and Hein, M. "Square
       Attack: a query-efficient black-box adversarial attack via random search."
       ECCV, 2020.

    Examples
    --------
    >>> RandomSearch(n_queries=100).n_queries
    100
    """

    #: needs no gradient (the evaluation's black-box check relies on it)
    _gradient_free = True

    def __init__(self, eps=None, norm=None, n_queries=500, p_init=0.3, clip_min=None,
                 clip_max=None, batch_size=256, random_state=None):
        self.eps = eps
        self.norm = norm
        self.n_queries = n_queries
        self.p_init = p_init
        self.clip_min = clip_min
        self.clip_max = clip_max
        self.batch_size = batch_size
        self.random_state = random_state

    def _perturb(self, model, x, y, *, threat, rng, y_target=None):
        return random_search(model, x, y, eps=threat.eps, norm=threat.norm,
                             n_queries=self.n_queries, p_init=self.p_init,
                             clip_min=threat.clip_min, clip_max=threat.clip_max, rng=rng)
