"""The parameter-holding attack class every attack shares.

An attack object only stores its parameters (so ``clone``, ``get_params``,
``set_params`` and grid searches work on it). :meth:`Attack.generate` resolves
the attacked estimator's threat model for parameters left ``None``, converts
``X`` and ``y`` once, runs the attack's torch function batch by batch with one
random stream per example, and returns numpy with the shape and dtype of ``X``.
"""
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

from ._checks import check_threat
from ._primitives import Randomness, seed_from_random_state
from ._target import as_target, output_like

__all__ = ["Attack", "Threat"]


@dataclass(frozen=True)
class Threat:
    """A resolved threat model: the ball and the box an attack must respect.

    Attributes
    ----------
    eps : float
        Radius, in the units of the attacked object's input.
    norm : {"inf", "2"}
    clip_min, clip_max : float, ndarray or None
        The input domain (None: unbounded).
    """

    eps: float
    norm: str
    clip_min: Any = None
    clip_max: Any = None


def _project_out(X, x_adv, threat):
    """Project onto the ball and box once more, in float64, at the numpy boundary."""
    x0 = torch.as_tensor(np.asarray(X, dtype=np.float64).reshape(x_adv.shape))
    delta = x_adv.detach().cpu().double() - x0
    if threat.norm == "inf":
        delta = delta.clamp(-threat.eps, threat.eps)
    else:
        norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (delta.ndim - 1))
        delta = delta * torch.clamp(threat.eps / norms, max=1.0)
    out = x0 + delta
    lo = None if threat.clip_min is None else torch.as_tensor(np.asarray(threat.clip_min, float))
    hi = None if threat.clip_max is None else torch.as_tensor(np.asarray(threat.clip_max, float))
    if lo is not None or hi is not None:
        out = torch.clamp(out, min=lo, max=hi)
    return out.numpy()


class Attack(BaseEstimator):
    """Base class of the attack objects.

    Subclasses store their parameters in ``__init__`` and implement
    ``_perturb(model, x, y, *, threat, rng, y_target=None) -> x_adv`` by calling
    their torch function. Parameters named ``eps``, ``norm``, ``clip_min``,
    ``clip_max`` and ``random_state`` that are ``None`` inherit the attacked
    estimator's values.
    """

    #: the default step, as a fraction of eps, when ``step_size`` is None
    _default_step = 0.25

    def resolve_threat(self, target):
        """The :class:`Threat` this attack uses against ``target`` (an AttackTarget)."""
        def pick(name, fallback=None):
            own = getattr(self, name, None)
            if own is not None:
                return own
            inherited = target.threat_default(name)
            return fallback if inherited is None else inherited
        eps, norm, _ = check_threat(pick("eps"), pick("norm", "inf"), 0.0)
        return Threat(eps=eps, norm=norm, clip_min=pick("clip_min"), clip_max=pick("clip_max"))

    def _prepare(self, target, X, y, y_target=None):
        """Resolve the threat model and convert ``X``, ``y`` (and targets) once.

        Returns
        -------
        threat : Threat
        x : Tensor on the target's device, validated (shape, box)
        y_t, t_t : LongTensor of class indices (``t_t`` is None without targets)
        """
        threat = self.resolve_threat(target)
        x = target.prepare_X(X, box=(threat.clip_min, threat.clip_max))
        y_t = target.encode_y(y, n_samples=len(x))
        t_t = None if y_target is None else target.encode_y(y_target, n_samples=len(x))
        return threat, x, y_t, t_t

    def _seed(self, target):
        state = self.random_state if getattr(self, "random_state", None) is not None \
            else target.threat_default("random_state")
        return seed_from_random_state(state)

    def generate(self, estimator, X, y, *, y_target=None):
        """Adversarial examples for ``X`` against a fitted estimator.

        Parameters
        ----------
        estimator : fitted robustsk estimator or Pipeline ending in one
        X : array-like of shape (n_samples, ...)
            Inputs in the estimator's own input space; never modified.
        y : array-like of shape (n_samples,)
            True labels, in the estimator's label space.
        y_target : array-like of shape (n_samples,), default=None
            Target labels for a targeted attack (attacks that support it).

        Returns
        -------
        X_adv : ndarray with the shape and dtype of ``X``
        """
        target = as_target(estimator)
        threat, x, y_t, t_t = self._prepare(target, X, y, y_target)
        seed = self._seed(target)
        batch = self.batch_size or len(x)
        out = torch.empty_like(x)
        for start in range(0, len(x), batch):
            sl = slice(start, start + batch)
            rng = Randomness.for_examples(seed, len(x[sl]), offset=start)
            out[sl] = self._perturb(target.module, x[sl], y_t[sl], threat=threat, rng=rng,
                                    y_target=None if t_t is None else t_t[sl])
        return output_like(_project_out(X, out, threat), X)

    def _perturb(self, model, x, y, *, threat, rng, y_target=None):  # pragma: no cover
        raise NotImplementedError
