"""What a score-based (black-box) attack sees of a classifier: scores, not gradients.

:func:`as_score_target` turns any fitted scikit-learn classifier into a
:class:`ScoreTarget`: a function from a batch of raw inputs to logits-like
scores of shape ``(n, n_classes)`` (columns ordered as ``classes_``), the
conversion of ``X`` and ``y``, and the threat-model defaults attack parameters
left ``None`` inherit. The scores come from, in this order of preference:

1. the torch module of :func:`robustsk.attacks.as_target` when the
   object has one (robustsk estimators, scikit-learn linear classifiers, and
   Pipelines of affine steps ending in either): called without gradients, so
   the inputs never leave torch, with the same threat-model defaults as the
   gradient attacks;
2. a Pipeline with other preprocessing ending in a robustsk estimator: the
   module's logits after ``pipeline[:-1].transform`` (numpy). Its ``eps``,
   ``norm`` and ``random_state`` are inherited, its box is not (it lives in the
   transformed space), as for affine pipelines in ``as_target``;
3. ``decision_function``: used as it is for several classes; a binary ``d``
   (the score of ``classes_[1]``) becomes the two columns ``[-d / 2, d / 2]``,
   whose margin is ``d`` and whose argmax is the predicted class;
4. ``predict_proba``: ``log(clip(p, 1e-12, 1))``, log-probabilities as logits.

Cases 3 and 4 give no threat-model defaults (give ``eps`` to the attack)
except ``random_state``: an attack left unseeded inherits the model's integer
``random_state`` (:func:`~robustsk.attacks._target.estimator_seed`), so that
attacking a seeded forest twice gives the same result; an unseeded attack on an
unseeded model draws fresh entropy on every call (it is random).
"""
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted, column_or_1d
import torch

from ..modules import module_device
from ._primitives import attack_context
from ._target import as_target, estimator_seed, output_like
from .base import Attack, project_out
from .inputs import model_input
from .runner import run_batches

__all__ = ["ScoreTarget", "ScoreAttack", "as_score_target", "score_function", "encode_y"]

#: probabilities are clipped to this before the log
PROBA_FLOOR = 1e-12


@dataclass(frozen=True)
class ScoreTarget:
    """A fitted classifier seen through its scores.

    Attributes
    ----------
    scores : callable
        ``x -> Tensor of shape (n, n_classes)``; ``x`` a float tensor or array of
        raw inputs. No gradients flow through it.
    prepare_X : callable
        ``(X, box) -> Tensor`` of raw inputs, validated against the fit.
    encode_y : callable
        ``(y, n_samples) -> LongTensor`` of column indices into the scores.
    classes : ndarray of shape (n_classes,)
        The estimator's ``classes_``.
    defaults : callable or None
        ``name -> value`` of the threat-model defaults (None: no defaults).
    module : torch.nn.Module or None
        The torch module behind ``scores``; put in eval mode by :meth:`context`.
    """

    scores: Callable
    prepare_X: Callable
    encode_y: Callable
    classes: Any
    defaults: Any = None
    module: Any = None

    def threat_default(self, name):
        """The inherited value of a threat-model parameter (None if there is none)."""
        return None if self.defaults is None else self.defaults(name)

    def context(self):
        """Eval mode for a torch module during the attack, restored afterwards."""
        return attack_context(self.module, "eval") if self.module is not None else nullcontext()


def _label_encoder(classes):
    classes = np.asarray(classes)
    order = np.argsort(classes, kind="stable")
    sorted_classes = classes[order]

    def encode(y, n_samples):
        if y is None:
            raise ValueError("y is None: an untargeted attack needs the true labels y.")
        y = column_or_1d(y, warn=True)
        if len(y) != n_samples:
            raise ValueError(f"X has {n_samples} samples but y has {len(y)}: give one label "
                             "per example.")
        try:
            pos = np.clip(np.searchsorted(sorted_classes, y), 0, len(classes) - 1)
            known = sorted_classes[pos] == y
        except TypeError:  # labels of another type than classes_
            known = np.zeros(len(y), dtype=bool)
            pos = np.zeros(len(y), dtype=int)
        if not np.all(known):
            bad = np.unique(np.asarray(y, dtype=object)[~known])[:5].tolist()
            raise ValueError(f"y contains labels {bad} the estimator was not fitted on; its "
                             f"classes_ are {classes.tolist()[:20]}. Pass labels from classes_.")
        return torch.as_tensor(order[pos], dtype=torch.long)
    return encode


def encode_y(estimator, y, n_samples=None):
    """Column indices of the labels ``y`` in the estimator's ``classes_``.

    Parameters
    ----------
    estimator : fitted classifier
    y : array-like of shape (n_samples,)
    n_samples : int, default=None
        Expected length of ``y`` (None: any).

    Returns
    -------
    y_idx : LongTensor of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> clf = LogisticRegression().fit(np.eye(3), ["a", "b", "c"])
    >>> encode_y(clf, ["c", "a"]).tolist()
    [2, 0]
    """
    classes = _classes(estimator)
    y_arr = column_or_1d(y, warn=True)
    return _label_encoder(classes)(y_arr, len(y_arr) if n_samples is None else n_samples)


def _classes(estimator):
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        raise TypeError(f"{type(estimator).__name__} has no classes_: score-based attacks "
                        "need a fitted classifier.")
    return np.asarray(classes)


def _as_tensor(x, dtype=None):
    if torch.is_tensor(x):
        return x if dtype is None else x.to(dtype)
    return torch.as_tensor(np.asarray(x), dtype=dtype)


def _as_numpy(x, dtype):
    if torch.is_tensor(x):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _module_scores(module, preprocess=None):
    """Scores of ``module``, after the fitted transformer ``preprocess`` (a pipeline's
    steps before the network) fed with its fitted column names, if any."""
    device = module_device(module)

    def scores(x):
        if preprocess is not None:
            x = _as_numpy(x, np.float64).reshape(len(x), -1)
            x = preprocess.transform(model_input(preprocess, x))
        x = _as_tensor(x, torch.float32).to(device)
        with torch.no_grad():
            return module(x).detach()
    return scores


def _sklearn_scores(estimator, n_classes):
    if hasattr(estimator, "decision_function"):
        method, name = estimator.decision_function, "decision_function"
    elif hasattr(estimator, "predict_proba"):
        method, name = estimator.predict_proba, "predict_proba"
    else:
        raise TypeError(
            f"{type(estimator).__name__} has neither predict_proba nor decision_function: "
            "the score-based attacks (SPSA, Square) need one of them to measure the margin "
            "of the true class. Use a classifier that exposes scores (e.g. SVC has "
            "decision_function; probability=True adds predict_proba).")

    def scores(x):
        out = np.asarray(method(model_input(estimator, _as_numpy(x, None))),
                         dtype=np.float64)
        if name == "decision_function":
            if out.ndim == 1:
                out = np.stack([-out / 2, out / 2], axis=1)
        else:
            out = np.log(np.clip(out, PROBA_FLOOR, 1.0))
        if out.ndim != 2 or out.shape[1] != n_classes:
            raise ValueError(
                f"{type(estimator).__name__}.{name} returned scores of shape {out.shape}, "
                f"expected (n_samples, {n_classes}), one column per class. For SVC use "
                "decision_function_shape='ovr' (the default).")
        return torch.from_numpy(out)
    return scores


def _generic_prepare(estimator):
    n_features = getattr(estimator, "n_features_in_", None)

    def prepare_X(X, box=(None, None)):
        from ..validation import check_box, check_in_box, one_d_error  # it imports attacks
        X_arr = np.asarray(X)
        if X_arr.ndim == 1:
            raise one_d_error(X_arr)
        dtype = X_arr.dtype if X_arr.dtype in (np.float32, np.float64) else np.float64
        try:  # images stay images: a pipeline may flatten them itself
            X_arr = check_array(X, dtype=dtype, ensure_all_finite=True, allow_nd=True,
                                input_name="X")
        except ValueError as err:
            if "could not convert" not in str(err):
                raise
            raise ValueError(
                f"X holds non-numeric values ({err}): the attacks perturb numbers, so every "
                "column of X must be numeric. Attack the model after its encoding steps "
                "(e.g. pipeline[-1] on pipeline[:-1].transform(X)).") from None
        if n_features is not None and X_arr.ndim == 2 and X_arr.shape[1] != n_features:
            raise ValueError(f"X has {X_arr.shape[1]} features, but {type(estimator).__name__} "
                             f"is expecting {n_features} features as input.")
        check_in_box(X_arr, *check_box(*box, X_arr.shape[1:]))
        # a read-only view (a DataFrame's values) is copied: torch warns on sharing it
        return torch.as_tensor(X_arr) if X_arr.flags.writeable else torch.tensor(X_arr)
    return prepare_X


def as_score_target(estimator):
    """Resolve any fitted classifier into a :class:`ScoreTarget`.

    Parameters
    ----------
    estimator : fitted scikit-learn classifier or Pipeline

    Returns
    -------
    target : ScoreTarget

    Raises
    ------
    sklearn.exceptions.NotFittedError
        When the estimator is not fitted.
    TypeError
        When it has neither scores (``predict_proba``, ``decision_function``)
        nor a robustsk module, or is not a classifier.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.random.RandomState(0).rand(20, 3)
    >>> clf = LogisticRegression().fit(X, np.arange(20) % 3)
    >>> as_score_target(clf).scores(X[:2]).shape
    torch.Size([2, 3])
    """
    try:
        target = as_target(estimator)
    except TypeError:  # no differentiable twin: fall back to the scores
        target = None
    if target is not None:
        module = target.module
        return ScoreTarget(scores=_module_scores(module), prepare_X=target.prepare_X,
                           encode_y=target.encode_y, classes=_classes(estimator),
                           defaults=target.threat_default, module=module)
    check_is_fitted(estimator)
    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    classes = _classes(estimator)
    inner = None
    if hasattr(final, "as_attack_target"):  # robustsk behind non-affine preprocessing
        check_is_fitted(final)
        try:
            inner = final.as_attack_target()
        except TypeError:  # nothing differentiable inside (smoothing a scikit-learn base)
            inner = None
    if inner is not None:
        module = inner.module

        def defaults(name):
            return None if name in ("clip_min", "clip_max") else inner.threat_default(name)
        return ScoreTarget(scores=_module_scores(module, estimator[:-1]),
                           prepare_X=_generic_prepare(estimator),
                           encode_y=_label_encoder(classes), classes=classes,
                           defaults=defaults, module=module)
    seed = estimator_seed(estimator)

    def model_seed(name):
        return seed if name == "random_state" else None
    return ScoreTarget(scores=_sklearn_scores(estimator, len(classes)),
                       prepare_X=_generic_prepare(estimator), encode_y=_label_encoder(classes),
                       classes=classes, defaults=model_seed)


def score_function(estimator):
    """``x -> scores`` of shape ``(n, n_classes)`` for any fitted classifier.

    See :func:`as_score_target` for where the scores come from.

    Parameters
    ----------
    estimator : fitted scikit-learn classifier or Pipeline

    Returns
    -------
    scores : callable
        Takes a batch (numpy array or tensor) of raw inputs, returns a tensor.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.svm import SVC
    >>> X = np.random.RandomState(0).rand(20, 3)
    >>> scores = score_function(SVC().fit(X, np.arange(20) % 2))
    >>> scores(X[:4]).shape
    torch.Size([4, 2])
    """
    return as_score_target(estimator).scores


def _check_rows(rows, n):
    """``rows`` as a 1-D int64 array of rows of an ``X`` of ``n`` examples."""
    arr = np.asarray(rows)
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
        raise ValueError(f"rows has shape {arr.shape} and dtype {arr.dtype}: expected a 1-D "
                         "array of integer row positions in X.")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(f"rows holds positions in [{arr.min()}, {arr.max()}], outside X's "
                         f"{n} rows: give positions 0 .. {n - 1}.")
    return arr


def subset_kwargs(kw, index):
    """``kw`` with every tensor value indexed by ``index`` (the rows still attacked)."""
    return {k: (v[index] if torch.is_tensor(v) else v) for k, v in kw.items()}


class ScoreAttack(Attack):
    """Base of the score-based attacks: ``generate`` works on any fitted classifier.

    Subclasses implement ``_run(model, x, y, *, threat, rng, y_target) ->
    (x_adv, queries)`` where ``model`` maps a batch to logits-like scores (a
    robustsk module or a ``ScoreTarget.scores`` function) and ``queries``
    counts, per example, the points the model scored for it. ``perturb`` runs
    it on a torch module, so these attacks also work inside :class:`WorstCase`;
    ``generate(..., return_info=True)`` also returns the query counts.
    """

    gradient_free = True

    def generate(self, estimator, X, y, *, y_target=None, return_info=False, rows=None):
        """Adversarial examples for ``X`` against any fitted classifier.

        Parameters
        ----------
        estimator : fitted scikit-learn classifier or Pipeline
            Needs ``predict_proba`` or ``decision_function``, or is a robustsk
            estimator (its logits are used).
        X : array-like of shape (n_samples, ...)
            Raw inputs (before any Pipeline preprocessing); never modified.
        y : array-like of shape (n_samples,)
            True labels.
        y_target : array-like of shape (n_samples,), default=None
            Target labels for a targeted attack.
        return_info : bool, default=False
            Also return a dict with, per example, ``"queries"`` (int array: the
            number of points the model scored for that example, the clean one
            included) and ``"success"`` (bool array: ``estimator.predict`` of
            the returned example differs from ``y``, or equals ``y_target``).
        rows : array-like of int, default=None
            Attack only these rows of ``X``, in this order. Each example draws
            from the random stream of its row in ``X``, so a row gets exactly
            the attack it gets in a call on all of ``X`` (as
            :func:`~robustsk.attacks.run_batches`'s ``rows``). None: all rows.

        Returns
        -------
        X_adv : ndarray with the shape and dtype of ``X``
            Of shape ``(len(rows), ...)`` when ``rows`` is given.
        info : dict, only with ``return_info=True``
        """
        target = as_score_target(estimator)
        threat, x, y_t, t_t = self._prepare(target, X, y, y_target)
        X_ref, picked = X, None
        if rows is not None:
            rows = _check_rows(rows, len(x))
            X_ref, picked = np.asarray(X)[rows], torch.as_tensor(rows)
        with target.context():
            out, info = run_batches(self, target.scores, x, y_t, threat=threat,
                                    seed=self.random_seed(target), rows=picked, y_target=t_t,
                                    batch_size=self.batch_size, return_info=True)
        queries = info["queries"]
        X_adv = output_like(project_out(X_ref, out, threat), X_ref)
        if not return_info:
            return X_adv
        pred = np.asarray(estimator.predict(model_input(estimator, X_adv)))
        labels = (y_t if t_t is None else t_t).cpu().numpy()
        labels = np.asarray(target.classes)[labels if rows is None else labels[rows]]
        success = pred != labels if t_t is None else pred == labels
        return X_adv, {"queries": queries.cpu().numpy(), "success": np.asarray(success)}

    def perturb(self, model, x, y, *, threat, rng, y_target=None):
        """Run the score-based search on one batch of tensors, without gradients.

        Parameters and return value as :meth:`robustsk.attacks.Attack.perturb`;
        ``model`` may also be any callable ``x -> scores``.
        """
        return self.perturb_with_info(model, x, y, threat=threat, rng=rng,
                                      y_target=y_target)[0]

    def perturb_with_info(self, model, x, y, *, threat, rng, y_target=None):
        """:meth:`perturb`, and ``{"queries": LongTensor of shape (n,)}``: the
        points the model scored for each example, the clean one included."""
        context = attack_context(model, "eval") if isinstance(model, torch.nn.Module) \
            else nullcontext()
        with context, torch.no_grad():
            x_adv, queries = self._run(model, x, y, threat=threat, rng=rng, y_target=y_target)
        return x_adv, {"queries": torch.as_tensor(queries)}

    def _run(self, model, x, y, *, threat, rng, y_target=None):  # pragma: no cover
        raise NotImplementedError
