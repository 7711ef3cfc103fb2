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
from sklearn.base import BaseEstimator
import torch

from ..params import InstanceOf, Interval, Norm, Options, validate_params
from ._checks import check_threat
from ._primitives import seed_from_random_state
from ._target import ThreatDefaults, as_target, output_dtype, output_like
from .runner import run_batches

__all__ = ["Attack", "Threat"]


#: the norms of the Lp balls (``Threat.norm`` after :func:`check_threat`)
LP_NORMS = ("inf", "2")


@dataclass(frozen=True)
class Threat:
    """A resolved threat model: the ball and the box an attack must respect.

    Attributes
    ----------
    eps : float
        Radius, in the units of the attacked object's input.
    norm : {"inf", "2"} or str
        An Lp ball, or the name of another threat model (``"iwd"``:
        :class:`~robustsk.attacks.IWD`'s internal Wasserstein budget;
        ``"spatial"``: :class:`~robustsk.attacks.Spatial`'s rotations and
        translations), which only the attack's own
        :meth:`Attack.perturbation_size` measures; nothing projects onto it.
    clip_min, clip_max : float, ndarray or None
        The input domain (None: unbounded).
    """

    eps: float
    norm: str
    clip_min: Any = None
    clip_max: Any = None

    @property
    def is_lp(self):
        """True for an Lp ball (``norm`` ``"inf"`` or ``"2"``), False for another threat model."""
        return self.norm in LP_NORMS


def project_out(X, x_adv, threat, chunk=2**17):
    """Project onto the ball and box once more, in float64, at the numpy boundary.

    Works through about ``chunk`` numbers at a time, so the float64 copies
    take memory bounded by the chunk (1 MiB each), not by ``len(X)``; returns an array of
    :func:`output_dtype` (X's float dtype, else float32) of ``x_adv``'s shape.
    Only an Lp ball can be projected onto: another threat model raises ``ValueError``.
    """
    _check_lp(threat, "project onto")
    X = np.asarray(X)
    X_rows = X.reshape(x_adv.shape)
    out = np.empty(tuple(x_adv.shape), dtype=output_dtype(X))
    lo = None if threat.clip_min is None else torch.as_tensor(np.asarray(threat.clip_min, float))
    hi = None if threat.clip_max is None else torch.as_tensor(np.asarray(threat.clip_max, float))
    step = max(1, chunk // max(1, int(np.prod(x_adv.shape[1:]))))
    for start in range(0, len(out), step):
        rows = slice(start, start + step)
        x0 = torch.as_tensor(np.array(X_rows[rows], dtype=np.float64))  # (a copy: X may be read-only)
        delta = x_adv[rows].detach().cpu().double() - x0
        if threat.norm == "inf":
            delta = delta.clamp(-threat.eps, threat.eps)
        else:
            norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(
                -1, *[1] * (delta.ndim - 1))
            delta = delta * torch.clamp(threat.eps / norms, max=1.0)
        projected = x0 + delta
        if lo is not None or hi is not None:
            projected = torch.clamp(projected, min=lo, max=hi)
        out[rows] = projected.numpy()
    return out


def _check_lp(threat, what):
    if not threat.is_lp:
        raise ValueError(
            f"Cannot {what} a threat model with norm={threat.norm!r}: only an Lp ball "
            f"(norm in {LP_NORMS}) can be. An attack with its own threat model (IWD, Spatial) "
            "measures its perturbations with its own perturbation_size.")


_HINTS = {
    "eps": "A radius cannot be negative or infinite: pass eps >= 0 in the units of the "
           "attacked input, or None to inherit the estimator's eps.",
    "norm": "Pass norm='inf' (L-infinity ball), norm=2 (L2 ball), or None to inherit.",
}


class Attack(BaseEstimator):
    """Base class of the attack objects.

    Subclasses store their parameters in ``__init__`` and implement
    :meth:`perturb` by calling their torch function; :meth:`generate` and
    :func:`~robustsk.attacks.run_batches` do the rest. Parameters named
    ``eps``, ``norm``, ``clip_min``, ``clip_max`` and ``random_state`` that are
    ``None`` inherit the attacked estimator's values; a scikit-learn model
    (no threat model) gives only its integer ``random_state``, so an unseeded
    attack on a seeded model repeats, and one on an unseeded model is random.
    """

    #: the default step, as a fraction of eps, when ``step_size`` is None
    _default_step = 0.25

    def threat_param(self, name, target):
        """This attack's threat parameter ``name``, or ``target``'s default when it is None.

        Parameters
        ----------
        name : {"eps", "norm", "clip_min", "clip_max", "random_state"}
        target : AttackTarget or ThreatDefaults
            Anything with ``threat_default(name)``.

        Returns
        -------
        value : object or None
        """
        return ThreatDefaults(target, {name: getattr(self, name, None)}).threat_default(name)

    #: True for attacks that only query scores (Square, SPSA): evaluations
    #: then count their queries and never average their gradients (EOT).
    gradient_free = False

    #: The parameters attacks share, declared once; validated once per call by
    #: :meth:`resolve_threat` (each attack's own ones in its subclass).
    _parameter_constraints = {
        "eps": [None, Interval(float, 0, None)],
        "norm": [None, Norm()],
        "step_size": [None, Interval(float, 0, None)],
        "n_iter": [Interval(int, 0, None)],
        "n_restarts": [Interval(int, 1, None)],
        "batch_size": [None, Interval(int, 1, None), Options("auto")],
        "random_state": [None, Interval(int, None, None),
                         InstanceOf((np.random.RandomState, np.random.Generator))],
    }

    def check_target(self, target, y_target=None):
        """Raise ``ValueError`` before any work if this attack cannot run against ``target``.

        The base accepts every target; e.g. APGD's targeted DLR loss refuses
        models of fewer than 4 classes. Evaluations and :class:`WorstCase`
        call it once, before running any attack.
        """

    def resolve_threat(self, target):
        """The :class:`Threat` this attack uses against ``target`` (an AttackTarget).

        It first validates the attack's declared parameters, once per call
        (``generate``, an evaluation or a callback), never per batch.
        """
        validate_params(self, hints=_HINTS)
        norm = self.threat_param("norm", target)
        eps = self.threat_param("eps", target)
        if eps is None:
            owner = getattr(target, "estimator", None)
            whose = ("the attacked model" if owner is None
                     else f"the attacked {type(owner).__name__}")
            name = type(self).__name__
            raise ValueError(
                f"{name} has eps=None and {whose} has no eps of its own to inherit (only "
                f"robustsk estimators carry a threat model): expected a radius. Give the "
                f"attack one, e.g. {name}(eps=0.1), or default_attack(n_classes, eps=0.1) "
                "for the default attack.")
        eps, norm, _ = check_threat(eps, "inf" if norm is None else norm, 0.0)
        return Threat(eps=eps, norm=norm, clip_min=self.threat_param("clip_min", target),
                      clip_max=self.threat_param("clip_max", target))

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

    def random_seed(self, target):
        """The seed of this attack's random streams against ``target``.

        Parameters
        ----------
        target : AttackTarget or object with ``threat_default(name)``
            Supplies the ``random_state`` to inherit when the attack's own is None.

        Returns
        -------
        seed : int
            63 bits; fresh operating-system entropy when both random states are None.
        """
        return seed_from_random_state(self.threat_param("random_state", target))

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
            Target labels for a targeted attack (attacks that support it). A
            row whose target is its own label is left as it is when the model
            already predicts that label (the target is reached).

        Returns
        -------
        X_adv : ndarray with the shape and dtype of ``X``
        """
        target = as_target(estimator)
        threat, x, y_t, t_t = self._prepare(target, X, y, y_target)
        out = run_batches(self, target.module, x, y_t, threat=threat,
                          seed=self.random_seed(target), y_target=t_t,
                          batch_size=self.batch_size)
        return output_like(project_out(X, out, threat), X)

    def perturbation_size(self, X_adv, X, threat):
        """Size of each perturbation in this attack's threat model, to compare with ``threat.eps``.

        Evaluations re-check every reported success with it. The default is
        the ``threat.norm`` norm of ``X_adv - X`` (``ValueError`` for a
        ``threat.norm`` that is not an Lp ball); an attack whose threat model
        is not an Lp ball (:class:`~robustsk.attacks.IWD`,
        :class:`~robustsk.attacks.Spatial`) overrides it.

        Parameters
        ----------
        X_adv, X : array-like of shape (n_samples, ...)
        threat : Threat

        Returns
        -------
        size : ndarray of shape (n_samples,), float64
        """
        _check_lp(threat, f"measure {type(self).__name__}'s perturbations in")
        delta = (np.asarray(X_adv, np.float64) - np.asarray(X, np.float64)).reshape(len(X), -1)
        if delta.shape[1] == 0:
            return np.zeros(len(X))
        if threat.norm == "inf":
            return np.abs(delta).max(axis=1)
        return np.linalg.norm(delta, axis=1)

    def perturb(self, model, x, y, *, threat, rng, y_target=None):
        """Adversarial examples for one batch of tensors (the attack's torch function).

        This is the protocol every attack implements; :meth:`generate`,
        :func:`~robustsk.attacks.run_batches`, :class:`WorstCase` and the
        evaluation call it batch by batch.

        Parameters
        ----------
        model : torch.nn.Module
            Maps a batch of inputs to logits (score-based attacks also accept
            any callable ``x -> scores``). Its train/eval mode and the
            parameters' ``requires_grad`` are restored afterwards.
        x : Tensor of shape (n, ...)
            Clean inputs, on the model's device; never modified.
        y : LongTensor of shape (n,)
            True labels as class indices.
        threat : Threat
            The resolved ball and box (:meth:`resolve_threat`).
        rng : Randomness
            One random stream per example (or one per batch).
        y_target : LongTensor of shape (n,), default=None
            Target classes of a targeted attack.

        Returns
        -------
        x_adv : Tensor with the shape of ``x``
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no tensor-level perturb: call its generate(estimator, "
            "X, y) instead.")

    def perturb_with_info(self, model, x, y, *, threat, rng, y_target=None):
        """:meth:`perturb`, and a dict of per-example tensors about the run.

        The default returns ``(self.perturb(...), {})``. Score-based attacks
        report ``"queries"`` (points scored per example), Carlini-Wagner
        ``"l2"`` and ``"success"``; :func:`~robustsk.attacks.run_batches` with
        ``return_info=True`` concatenates them over batches.

        Returns
        -------
        x_adv : Tensor with the shape of ``x``
        info : dict of str to Tensor of shape (n,)
        """
        return self.perturb(model, x, y, threat=threat, rng=rng, y_target=y_target), {}
