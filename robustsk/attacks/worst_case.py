"""The per-example worst case over several attacks, run one after the other.

Each attack runs only on the examples that every earlier attack failed to
fool; an example keeps the first adversarial example found for it. Random
streams are seeded by an example's index in the full ``X``, so an attack gives
an example exactly what it would give it when run alone on all of ``X``:
skipping the examples already fooled only saves time. Each attack keeps its
own threat model: an Lp attack's result is projected onto its ball, an IWD or
Spatial result is re-checked with the attack's own ``perturbation_size``.
"""
from contextlib import nullcontext

import numpy as np
import torch

from ..params import validate_params
from ._primitives import attack_context, derive_seed
from ._scores import as_score_target
from ._target import ThreatDefaults, as_target, output_like
from .base import Attack, project_out
from .batching import memory_batch_size
from .inputs import model_input
from .runner import run_batches

__all__ = ["WorstCase"]


def _count(counts, inputs):
    """Add a forward call's examples to ``counts[0]``, and to ``counts[1]`` if for a gradient."""
    x = inputs[0] if inputs else None
    if torch.is_tensor(x):
        counts[0] += int(x.shape[0])
        counts[1] += int(x.shape[0]) if x.requires_grad and torch.is_grad_enabled() else 0


def _within_threat(attack, X_rows, x_adv, threat):
    """``x_adv`` as numpy like ``X_rows``, inside ``attack``'s own threat model.

    An Lp ball is projected onto; another threat model (IWD, Spatial) is not
    projected: its examples the attack measures outside ``threat.eps`` are
    replaced by the clean ones.
    """
    if threat.is_lp:
        return output_like(project_out(X_rows, x_adv, threat), X_rows)
    adv = np.array(output_like(x_adv.detach().cpu().numpy(), X_rows), copy=True)
    outside = attack.perturbation_size(adv, X_rows, threat) > threat.eps
    adv[outside] = X_rows[outside]
    return adv


class WorstCase(Attack):
    """Run ``attacks`` in turn on the examples still classified correctly.

    Robust accuracy under ``WorstCase([a, b])`` is the per-example worst case
    over ``a`` and ``b`` (as in AutoAttack), at the cost of running ``b`` only
    on what ``a`` left.

    Each attack keeps its own threat model (its :meth:`~Attack.resolve_threat`):
    an Lp attack's examples are projected onto its ball and the box; those of
    an attack with another threat model (:class:`~robustsk.attacks.IWD`'s
    internal Wasserstein budget, :class:`~robustsk.attacks.Spatial`'s
    rotations and translations) are never projected onto an Lp ball: an
    example its own ``perturbation_size`` puts outside ``eps`` is returned
    clean. Mixing them gives the worst case over the union of the threat models.

    A model that is not differentiable (a random forest, an SVC, a pipeline
    with non-affine preprocessing) can be attacked by a WorstCase of
    score-based attacks only (:class:`~robustsk.attacks.Square`,
    :class:`~robustsk.attacks.SPSA`): they, and the correctness checks between
    them, then use the model's scores (``predict_proba`` or ``decision_function``).

    Parameters
    ----------
    attacks : list of Attack
        Run in this order; put the cheapest first.
    eps, norm, clip_min, clip_max : default=None
        Passed to the attacks that leave them None; None inherits the estimator's.
    batch_size : int or "auto", default=256
        Batch size of the correctness checks ("auto": :func:`memory_batch_size`;
        each attack batches by its own).
    random_state : int or None, default=None
        Seeds the attacks whose ``random_state`` is None (each attack its own
        stream, derived from this seed and its position); None inherits the
        estimator's ``random_state``.

    Attributes
    ----------
    n_forward_ : int
        Examples passed forward through the network by the last
        :meth:`generate` (attacks and correctness checks together).
    n_backward_ : int
        Of those, the examples a gradient was taken for (one backward pass
        each). Against running every attack on every example, the saving is
        what skipping the fooled examples bought.

    Examples
    --------
    >>> from robustsk.attacks import APGD, PGD, WorstCase
    >>> attack = WorstCase([PGD(n_iter=20), APGD(n_iter=50)], random_state=0)
    >>> len(attack.attacks)
    2
    """

    def __init__(self, attacks, eps=None, norm=None, clip_min=None, clip_max=None,
                 batch_size=256, random_state=None):
        self.attacks = attacks
        self.eps = eps
        self.norm = norm
        self.clip_min = clip_min
        self.clip_max = clip_max
        self.batch_size = batch_size
        self.random_state = random_state

    def _check_attacks(self):
        attacks = list(self.attacks) if isinstance(self.attacks, (list, tuple)) else None
        if not attacks or not all(isinstance(a, Attack) for a in attacks):
            raise TypeError(f"attacks must be a non-empty list of robustsk Attack objects, e.g. "
                            f"[PGD(n_iter=20), APGD(n_iter=50)]; got {self.attacks!r}.")
        if any(isinstance(a, WorstCase) for a in attacks):
            raise TypeError("WorstCase inside WorstCase is not supported: list all the "
                            "attacks in one WorstCase.")
        whole = [type(a).__name__ for a in attacks if type(a).perturb is Attack.perturb]
        if whole:  # they attack a whole estimator (generate), not a batch of tensors
            raise TypeError(
                f"WorstCase got {whole}, which has no batch-level attack step (it works on "
                "the whole estimator through generate) and cannot run on the examples the "
                "other attacks left. Expected attacks such as PGD, APGD, FGSM, Square: run "
                f"{whole} on its own, or give the list to robustsk.evaluation."
                "evaluate_robustness(estimator, X, y, attacks=[...]), whose worst case "
                "covers every attack.")
        return attacks

    def _predict(self, module, x):
        torch_module = isinstance(module, torch.nn.Module)  # else a score function
        with attack_context(module, "eval"), torch.no_grad():
            if self.batch_size == "auto":
                step = memory_batch_size(module, x) if torch_module else len(x)
            else:
                step = self.batch_size or len(x)
            return torch.cat([module(x[i:i + step]).argmax(dim=1)
                              for i in range(0, len(x), step)])

    @staticmethod
    def _resolve_target(estimator, attacks):
        """The attack target: differentiable when it can be, else the model's scores.

        A model without a torch twin (a random forest, an SVC, a pipeline with
        non-affine preprocessing) is attacked through its scores, which only
        score-based attacks (``gradient_free``) can use.
        """
        try:
            return as_target(estimator), False
        except TypeError as error:
            gradient = [type(a).__name__ for a in attacks if not a.gradient_free]
            if gradient:
                raise TypeError(
                    f"WorstCase got the attacks {gradient}, which need gradients, and a "
                    f"{type(estimator).__name__}, which is not differentiable (only robustsk "
                    "estimators, scikit-learn linear classifiers and Pipelines of affine steps "
                    "ending in them are). Expected only score-based attacks (Square, SPSA) for such a model: drop "
                    f"{gradient} from the list, e.g. WorstCase([Square(), SPSA()]), or attack "
                    "a differentiable model.") from error
        return as_score_target(estimator), True

    def generate(self, estimator, X, y, *, y_target=None):
        """Per example, the first successful adversarial example of the attacks in turn.

        Parameters
        ----------
        estimator : fitted classifier
            A robustsk estimator, a scikit-learn linear classifier, or a
            Pipeline of affine steps ending in either (differentiable: any
            attacks); or, when every attack is score-based (Square, SPSA), any
            fitted classifier with ``predict_proba`` or ``decision_function``
            (attacked through its scores, as those attacks' own ``generate``).
        X : array-like of shape (n_samples, ...)
        y : array-like of shape (n_samples,)
        y_target : None
            WorstCase is untargeted.

        Returns
        -------
        X_adv : ndarray with the shape and dtype of ``X``
        """
        if y_target is not None:
            raise ValueError("WorstCase is untargeted: call generate without y_target.")
        validate_params(self, hints={"eps": "A radius cannot be negative or infinite: pass "
                                             "eps >= 0, or None to inherit the estimator's."})
        attacks = self._check_attacks()
        target, by_scores = self._resolve_target(estimator, attacks)
        overrides = {name: getattr(self, name) for name in (
            "eps", "norm", "clip_min", "clip_max", "random_state")}
        inherited = ThreatDefaults(target, overrides) if by_scores else \
            target.with_defaults(**overrides)
        threats = [attack.resolve_threat(inherited) for attack in attacks]
        for attack in attacks:  # fail on an unusable attack before running any
            attack.check_target(inherited)
        X_arr = np.asarray(X)
        x = target.prepare_X(X, box=(threats[0].clip_min, threats[0].clip_max))
        y_t = target.encode_y(y, n_samples=len(x))
        X_out = np.array(output_like(np.asarray(X_arr, dtype=np.float64), X_arr), copy=True)
        counts = [0, 0]
        if by_scores:
            def model(batch):  # a score function counts its examples itself (no backward)
                counts[0] += int(batch.shape[0])
                return target.scores(batch)
            hook, context = None, target.context()
        else:
            model, context = target.module, nullcontext()
            hook = model.register_forward_pre_hook(
                lambda module, inputs: _count(counts, inputs)) \
                if hasattr(model, "register_forward_pre_hook") else None
        try:
            with context:
                self._run(attacks, threats, target, model, inherited, x, X, X_arr, y_t, X_out)
        finally:
            if hook is not None:
                hook.remove()
        self.n_forward_, self.n_backward_ = counts
        return X_out

    def _run(self, attacks, threats, target, model, inherited, x, X, X_arr, y_t, X_out):
        todo = (self._predict(model, x) == y_t).nonzero().flatten()
        for position, (attack, threat) in enumerate(zip(attacks, threats)):
            if len(todo) == 0:
                break
            x = target.prepare_X(X, box=(threat.clip_min, threat.clip_max))
            seed = self._attack_seed(attack, position, inherited)
            x_adv = run_batches(attack, model, x, y_t, threat=threat, seed=seed,
                                rows=todo, batch_size=getattr(attack, "batch_size", None))
            rows = todo.cpu().numpy()
            adv = _within_threat(attack, X_arr[rows], x_adv, threat)
            X_out[rows] = adv
            # in the model's own columns: no feature-name warning for this internal array
            adv_in = model_input(getattr(target, "estimator", None), adv)
            pred = self._predict(model, target.prepare_X(adv_in))
            todo = todo[pred == y_t[todo]]

    def _attack_seed(self, attack, position, target):
        if getattr(attack, "random_state", None) is not None:
            return attack.random_seed(target)
        return derive_seed(self.random_seed(target), position)
