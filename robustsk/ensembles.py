"""Ensembles of networks as one scikit-learn estimator.

An ensemble defense trains ``n_members`` networks and predicts with their
combined output. :class:`EnsembleModule` holds the members in an
``nn.ModuleList`` and combines their logits, so the estimator's ``module_`` is
one torch module: ``predict``, ``predict_proba``, ``score_adversarial``,
pickling, ``clone``, ``device=`` and every attack work on the ensemble as on any
network, and attacks differentiate the *combined* output.

:class:`EnsembleClassifier` is the base of the ensemble defenses: it builds the
members from the ``module`` parameter (the network of one member, with
``module__*`` arguments; the default network when None), validates
``n_members`` (at least 2) and exposes the fitted members as ``members_``:
:class:`EnsembleMember` objects that predict, score and can be attacked on
their own (``robustsk.attacks``, ``score_adversarial``,
:func:`robustsk.evaluation.transfer_matrix`).

Two combinations are offered (``EnsembleModule(combine=...)``):

``"logits"``
    The mean of the members' logits (margin boosting, Zhang et al. 2022).
``"log_mean_softmax"``
    ``log(mean_j softmax(z_j))``: its softmax is the members' averaged
    probabilities, and it is what attacks differentiate (TRS, Yang et al.
    2021, whose reference code averages the probabilities).
"""
import copy
import math

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
import torch
from torch import nn

from .attacks import attack_context
from .base import RobustClassifier
from .params import Interval
from .validation import check_score_y

__all__ = ["EnsembleModule", "EnsembleClassifier", "EnsembleMember", "COMBINATIONS"]

#: the ways :class:`EnsembleModule` combines its members' logits
COMBINATIONS = ("logits", "log_mean_softmax")


class EnsembleModule(nn.Module):
    """Several networks as one module: the combination of their logits.

    Parameters
    ----------
    members : sequence of torch.nn.Module
        Networks mapping the same inputs to logits over the same classes.
    combine : {"logits", "log_mean_softmax"}, default="logits"
        ``"logits"``: the members' mean logits. ``"log_mean_softmax"``: the log
        of their mean softmax (the softmax of the output is the members'
        averaged probabilities).

    Attributes
    ----------
    members : torch.nn.ModuleList

    Examples
    --------
    >>> import torch
    >>> ens = EnsembleModule([torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)])
    >>> ens(torch.zeros(5, 4)).shape, ens.member_logits(torch.zeros(5, 4)).shape
    (torch.Size([5, 3]), torch.Size([2, 5, 3]))
    >>> len(ens.subset(1))
    1
    """

    def __init__(self, members, combine="logits"):
        super().__init__()
        members = list(members)
        if not members or not all(isinstance(m, nn.Module) for m in members):
            raise TypeError(f"members must be a non-empty sequence of torch modules; got "
                            f"{[type(m).__name__ for m in members]}.")
        if combine not in COMBINATIONS:
            raise ValueError(f"combine={combine!r}: expected one of {list(COMBINATIONS)}.")
        self.members = nn.ModuleList(members)
        self.combine = combine

    def __len__(self):
        return len(self.members)

    def member_logits(self, x):
        """The members' logits stacked: a Tensor of shape (n_members, n_samples, n_classes)."""
        return torch.stack([member(x) for member in self.members])

    def combine_logits(self, logits):
        """Combine stacked member logits of shape (n_members, n, n_classes) into (n, n_classes)."""
        if self.combine == "logits":
            return logits.mean(0)
        return torch.logsumexp(torch.log_softmax(logits, dim=-1), dim=0) - math.log(len(logits))

    def forward(self, x):
        return self.combine_logits(self.member_logits(x))

    def subset(self, n_members):
        """The ensemble of the first ``n_members`` members (sharing their weights)."""
        return EnsembleModule(list(self.members)[:n_members], combine=self.combine)


def _fresh_copy(module):
    """A deep copy of ``module`` with every ``reset_parameters`` submodule re-initialised."""
    twin = copy.deepcopy(module)
    for sub in twin.modules():
        reset = getattr(sub, "reset_parameters", None)
        if callable(reset):
            reset()
    return twin


class EnsembleMember(ClassifierMixin, BaseEstimator):
    """One fitted member of an ensemble estimator, usable as a classifier on its own.

    A view of ``ensemble.module_.members[index]`` (the weights are shared, not
    copied) with the ensemble's classes, input validation and threat model:
    ``predict``, ``predict_proba``, ``decision_function``, ``score``,
    ``score_adversarial``, and every robustsk attack (``attack.generate``,
    :func:`robustsk.metrics.robust_accuracy`,
    :func:`robustsk.evaluation.transfer_attack` and ``transfer_matrix``)
    accept it. It cannot be fitted on its own: fit the ensemble.

    Parameters
    ----------
    ensemble : fitted EnsembleClassifier
    index : int

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import TRSEnsemble
    >>> X, y = load_digits_images(return_X_y=True)
    >>> ens = TRSEnsemble(n_members=2, max_epochs=1, adv_smoothness=False,
    ...                   random_state=0).fit(X[:200], y[:200])
    >>> [round(m.score(X[200:300], y[200:300]), 2) >= 0 for m in ens.members_]
    [True, True]
    """

    def __init__(self, ensemble, index):
        self.ensemble = ensemble
        self.index = index

    def __repr__(self, N_CHAR_MAX=700):
        return f"EnsembleMember({type(self.ensemble).__name__}, index={self.index})"

    @property
    def module_(self):
        """The member's torch module (shared with the ensemble)."""
        return self.ensemble.module_.members[self.index]

    def __getattr__(self, name):
        # classes_, input_shape_, n_features_in_ and the threat model (eps, norm,
        # clip_min, clip_max, random_state, device) are the ensemble's.
        if name in ("classes_", "input_shape_", "n_features_in_", "eps", "norm", "clip_min",
                    "clip_max", "random_state", "device", "batch_size"):
            return getattr(self.__dict__["ensemble"], name)
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}.")

    def __sklearn_is_fitted__(self):
        return self.ensemble.__sklearn_is_fitted__()

    def fit(self, X, y, **fit_params):
        """Members are trained by their ensemble: this raises ``TypeError``."""
        raise TypeError(f"{self!r} is a member of a fitted ensemble and is trained with it: "
                        "call fit on the ensemble, or train a single network with "
                        "robustsk.defenses.StandardTraining.")

    def as_attack_target(self):
        """The ensemble's attack target with this member's module."""
        from dataclasses import replace
        return replace(self.ensemble.as_attack_target(), module=self.module_, estimator=self)

    def _logits(self, X):
        x = self.as_attack_target().prepare_X(X)
        module = self.module_
        size = self.ensemble.batch_size if self.ensemble.batch_size > 0 else len(x)
        with attack_context(module, "eval"), torch.no_grad():
            out = [module(x[i:i + size]) for i in range(0, len(x), max(size, 1))]
        logits = torch.cat(out) if out else x.new_zeros((0, len(self.classes_)))
        return logits.cpu().numpy().astype(np.float64)

    def decision_function(self, X):
        """The member's logits of shape (n_samples, n_classes); for two classes, ``z_1 - z_0``."""
        logits = self._logits(X)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict_proba(self, X):
        """Softmax of the member's logits, columns ordered as ``classes_``."""
        return torch.softmax(torch.as_tensor(self._logits(X)), dim=1).numpy()

    def predict(self, X):
        """The member's predicted labels."""
        return self.classes_[self._logits(X).argmax(axis=1)]

    def score(self, X, y, sample_weight=None):
        """Accuracy of the member alone; ``y`` is checked before predicting."""
        check_score_y(self, X, y)
        return super().score(X, y, sample_weight=sample_weight)

    def score_adversarial(self, X, y, attack=None, *, per_class=False):
        """Robust accuracy of the member alone (see ``RobustClassifier.score_adversarial``)."""
        from .metrics import robust_accuracy
        return robust_accuracy(self, X, y, attack=attack, per_class=per_class)


class EnsembleClassifier(RobustClassifier):
    """Base of the ensemble defenses: ``n_members`` networks, one estimator.

    ``module_`` is an :class:`EnsembleModule` of ``n_members`` networks, each
    built from ``module`` (a class is instantiated once per member with the
    ``module__*`` arguments; an instance is deep-copied and re-initialised
    through its submodules' ``reset_parameters``; None is the default network
    for the shape of ``X``), combined as the class attribute ``combine`` says.
    The members are initialised one after another from the fit's seeded
    stream, so they differ and a fixed ``random_state`` reproduces them.

    Subclasses override the training hooks as any defense does.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=None
        The network of one member.
    n_members : int, default=3
        Number of networks (at least 2).
    **kwargs
        Every parameter of :class:`~robustsk.base.RobustClassifier`.

    Attributes
    ----------
    members_ : list of EnsembleMember
        The fitted members, each a classifier that can be scored and attacked
        on its own.

    See Also
    --------
    robustsk.defenses.TRSEnsemble, robustsk.defenses.MarginBoostingEnsemble

    Examples
    --------
    Members trained independently, each on its own cross-entropy (the
    baseline the ensemble defenses improve on):

    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.ensembles import EnsembleClassifier
    >>> class Independent(EnsembleClassifier):
    ...     def train_step_single(self, batch, **fit_params):
    ...         x, y = self.unpack_batch(batch)
    ...         logits = self.module_.member_logits(x)
    ...         loss = sum(self.get_loss(z, y, X=x, training=True) for z in logits)
    ...         loss.backward()
    ...         return {"loss": loss, "y_pred": self.module_.combine_logits(logits)}
    >>> X, y = load_digits_images(return_X_y=True)
    >>> ens = Independent(n_members=2, max_epochs=2, random_state=0).fit(X[:200], y[:200])
    >>> len(ens.members_), ens.score_members(X[200:300], y[200:300]).shape
    (2, (2,))
    """

    #: how the members' logits are combined (see :class:`EnsembleModule`)
    combine = "logits"
    #: the ensemble's forward takes no keywords to hand to its members: fit refuses them
    forwards_fit_params = False

    _parameter_constraints = {"n_members": [Interval(int, 2, None)]}

    def __init__(self, module=None, *, n_members=3, **kwargs):
        super().__init__(module, **kwargs)
        self.n_members = n_members

    def check_params(self):
        """A continued fit keeps the fitted members: it cannot change their number."""
        super().check_params()
        module = vars(self).get("module_")
        if self.warm_start and isinstance(module, EnsembleModule) and \
                len(module.members) != int(self.n_members):
            raise ValueError(
                f"{type(self).__name__} has {len(module.members)} fitted members but "
                f"n_members={self.n_members!r}, and warm_start=True continues the fitted "
                "ensemble: fit with warm_start=False to train a new ensemble of "
                f"{self.n_members!r}, or set n_members back to {len(module.members)}.")

    def _param_hints(self):
        return {**super()._param_hints(),
                "n_members": "An ensemble needs at least 2 networks: pass n_members=2 or "
                             "more (for a single network use StandardTraining or "
                             "AdversarialTraining)."}

    def initialize_module(self):
        """Build ``n_members`` networks from ``module`` and combine them in ``module_``."""
        members = []
        for i in range(int(self.n_members)):
            if i and isinstance(self.module, nn.Module) and not self.get_params_for("module"):
                members.append(_fresh_copy(members[0]))
                continue
            super().initialize_module()
            members.append(self.module_)
        self.module_ = EnsembleModule(members, combine=self.combine)
        return self

    @property
    def members_(self):
        """The fitted members (:class:`EnsembleMember`), in training order."""
        self.check_is_fitted()
        return [EnsembleMember(self, i) for i in range(len(self.module_.members))]

    def score_members(self, X, y):
        """Each member's accuracy on ``(X, y)``.

        Returns
        -------
        ndarray of shape (n_members,)
        """
        return np.array([member.score(X, y) for member in self.members_])
