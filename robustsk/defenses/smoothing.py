"""Randomized smoothing (Cohen, Rosenfeld & Kolter, 2019): a certifiably L2-robust meta-estimator."""
from dataclasses import replace
import hashlib
import numbers
import warnings

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import _check_feature_names, check_is_fitted
import torch

from ..base import NearChanceWarning, RobustClassifier
from ..checkpoint import TrainingCheckpoint
from ..params import InstanceOf, Interval, validate_params
from ..stats import clopper_pearson_bound
from ..validation import check_score_y, check_X, check_y
from .standard import StandardTraining

__all__ = ["RandomizedSmoothingClassifier", "SoftSmoothedModule"]


def _refuse_checkpoints(base):
    """A TrainingCheckpoint cannot resume the per-epoch noisy fits (it fingerprints each
    call's data, new noise every epoch): refuse it before any work."""
    callbacks = base.callbacks if isinstance(base.callbacks, (list, tuple)) else ()
    if any(isinstance(cb[1] if isinstance(cb, tuple) else cb, TrainingCheckpoint)
           for cb in callbacks):
        raise ValueError(
            "RandomizedSmoothingClassifier trains its base one partial_fit per epoch on "
            "fresh Gaussian noise, which the base's TrainingCheckpoint cannot resume (it "
            "checks that a resumed fit sees the same data). Expected a base without "
            "TrainingCheckpoint when noise_training=True: pass noise_training=False (the base "
            "then fits, and resumes, on clean X), or remove the checkpoint.")


class RandomizedSmoothingClassifier(ClassifierMixin, BaseEstimator):
    """The smoothed classifier ``g(x) = argmax_c P(f(x + N(0, sigma^2 I)) = c)`` of a base ``f``.

    ``fit`` trains a clone of ``base_estimator`` on Gaussian-noise-augmented
    data; ``predict`` is Cohen et al.'s PREDICT (abstains unless the top class
    wins a binomial test); :meth:`certify` is their CERTIFY: a Monte Carlo
    guess of the top class from ``n0`` noisy copies, then a one-sided
    Clopper-Pearson lower bound ``pA`` on its probability from ``n`` more,
    and the certified L2 radius ``sigma * Phi^-1(pA)`` where ``pA > 1/2``.
    Each certified prediction is correct for every perturbation of L2 norm
    below its radius with probability at least ``1 - alpha`` (over the noise).

    **Noise training.** A robustsk base is trained one epoch at a time with
    ``partial_fit`` on ``X + N(0, sigma^2 I)``, with fresh noise every epoch,
    for the base's ``max_epochs`` epochs: each example is seen once per epoch
    with new noise, as in the paper's per-batch augmentation, and the base's
    own defense (adversarial training, ...) runs on the noisy inputs; its
    ``max_epochs`` is kept, so schedules in fractions of it (FAT's tau, FOSC's
    ``c_t``, DIAL's reversal weight, ...) run as in a plain fit. The
    noise is not clipped to the input box (as in the paper), so the base is
    refitted with ``clip_min=clip_max=None``. Any other scikit-learn
    classifier is fitted once on one noisy copy of ``X``. With
    ``noise_training=False`` the base is fitted on clean ``X``, as
    ``base.fit(X, y)``.

    Parameters
    ----------
    base_estimator : classifier, default=None
        A robustsk estimator (or any scikit-learn classifier); None means
        ``StandardTraining()``. Cloned in ``fit``; ``base_estimator__*``
        parameters reach it (``GridSearchCV`` too).
    sigma : float, default=0.25
        Standard deviation of the noise, > 0, in the units of ``X``. Larger
        sigma: larger radii possible, lower clean accuracy, more abstentions.
    noise_training : bool, default=True
    n0 : int, default=100
        Noisy copies for guessing the top class in :meth:`certify`; at most ``n``.
    n : int, default=1000
        Noisy copies for the bound (certify) and the test (predict). The paper
        uses 100,000; the largest certifiable radius is
        ``sigma * Phi^-1(alpha ** (1 / n))``, so small ``n`` caps the radii.
    alpha : float, default=0.001
        Failure probability of each certificate and each prediction, in (0, 1).
    batch_size : int, default=1000
        Noisy copies classified per call of the base.
    abstain_label : object, default=None
        What ``predict`` and ``certify`` return where the smoothed classifier
        abstains; must not be one of the classes, and must be a string for
        string labels and a number for numeric ones (so labels sort and score
        as scikit-learn expects). None: -1 for numeric labels (one less than
        the smallest class when -1 is a class), ``"abstain"`` for string
        labels. Predictions keep the labels' dtype where the abstain label
        fits in it (an object array otherwise, e.g. for bool labels).
    attack_samples : int, default=5
        Noise copies per example in the differentiable *soft* smoothed
        classifier that gradient attacks and
        :class:`~robustsk.preemptive.PreemptiveRobustifier` see
        (:class:`SoftSmoothedModule`, expectation over transformation):
        Moon et al. use 5, Salman et al. (2019) up to 128. The hard ``predict``
        is unaffected.
    random_state : int or None, default=None
        Seeds the training noise, the base (when its own ``random_state`` is
        None) and the Monte Carlo noise, which is drawn per example from the
        seed and the example's values: an example's answer does not depend on
        the others in ``X``.

    Attributes
    ----------
    base_estimator_ : classifier
        The fitted base ``f``.
    classes_ : ndarray of shape (n_classes,)
    abstain_label_ : object
        The label of an abstention (``abstain_label``, or the one None chose).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Column names of a DataFrame ``X`` (only then), one per feature.
    random_seed_ : int
        The seed of the last ``fit``.

    References
    ----------
    .. [1] Cohen, J., Rosenfeld, E. and Kolter, J. Z. "Certified Adversarial
       Robustness via Randomized Smoothing." ICML, 2019. (locuslab/smoothing)
    .. [2] Salman, H. et al. "Provably Robust Deep Learning via Adversarially
       Trained Smoothed Classifiers." NeurIPS, 2019 (the soft smoothed
       classifier that gradient attacks differentiate).

    Notes
    -----
    **Gradient attacks.** The hard smoothed classifier has no useful gradient;
    attacks (``PGD``, ``score_adversarial``-style helpers such as
    :func:`robustsk.metrics.robust_accuracy`, ``evaluate_robustness``) attack
    the soft smoothed classifier ``log E[softmax f(x + N(0, sigma^2 I))]``,
    estimated from ``attack_samples`` noise copies per example and per step,
    and score the result with the hard ``predict`` (an abstention counts as an
    error). The threat-model defaults an attack inherits are L2 (the norm
    that smoothing certifies), the base's input box and this ``random_state``;
    give ``eps`` to the attack. The noise of an attack is seeded from
    ``random_state`` per attack call, so a repeated call repeats, but (unlike
    :meth:`certify`) an example's noise depends on its batch.

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import RandomizedSmoothingClassifier, StandardTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> base = StandardTraining(max_epochs=3, random_state=0, module__channels=(8, 8),
    ...                         module__hidden_units=32)
    >>> clf = RandomizedSmoothingClassifier(base, sigma=0.25, n=200, random_state=0)
    >>> labels, radius = clf.fit(X[:300], y[:300]).certify(X[300:310])
    >>> labels.shape, bool((radius >= 0).all())
    ((10,), True)
    """

    #: the default method of :func:`robustsk.certify.certify`
    certification_method = "smoothing"

    _parameter_constraints = {
        "sigma": [Interval(float, 0, None, closed="neither")],
        "noise_training": [InstanceOf((bool, np.bool_), "True or False")],
        "n0": [Interval(int, 1, None)],
        "n": [Interval(int, 1, None)],
        "alpha": [Interval(float, 0, 1, closed="neither")],
        "batch_size": [Interval(int, 1, None)],
        "attack_samples": [Interval(int, 1, None)],
        "random_state": [None, Interval(int, 0, None)],
    }

    def __init__(self, base_estimator=None, *, sigma=0.25, noise_training=True, n0=100, n=1000,
                 alpha=0.001, batch_size=1000, abstain_label=None, attack_samples=5,
                 random_state=None):
        self.base_estimator = base_estimator
        self.sigma = sigma
        self.noise_training = noise_training
        self.n0 = n0
        self.n = n
        self.alpha = alpha
        self.batch_size = batch_size
        self.abstain_label = abstain_label
        self.attack_samples = attack_samples
        self.random_state = random_state

    # ------------------------------------------------------------------ checks
    def _hints(self):
        return {"sigma": "The noise must have a positive standard deviation: pass e.g. "
                         "sigma=0.25 for inputs in [0, 1].",
                "alpha": "alpha is the failure probability of a certificate: pass e.g. 0.001."}

    def _check_sampling(self, n0, n, alpha, batch_size):
        probe = type(self)(n0=n0, n=n, alpha=alpha, batch_size=batch_size, sigma=self.sigma)
        validate_params(probe, hints=self._hints())
        if n0 > n:
            raise ValueError(f"n0={n0} exceeds n={n}: n0 noisy copies only guess the top class "
                             "and n give its certified bound, so n0 <= n is expected (the paper "
                             "uses n0=100, n=100000). Raise n or lower n0.")

    def fit(self, X, y):
        """Train the base on Gaussian-noise-augmented data (see the class docstring).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        validate_params(self, hints=self._hints())
        self._check_sampling(self.n0, self.n, self.alpha, self.batch_size)
        X_in = X
        X = check_X(X)
        y = check_y(y, len(X))
        abstain = _abstain_label(self.abstain_label, np.unique(y))
        base = StandardTraining() if self.base_estimator is None else self.base_estimator
        base = clone(base)
        # the fitted state (random_seed_ included) changes only once the base is trained
        seed = int(np.random.SeedSequence(self.random_state).generate_state(1)[0]) \
            if self.random_state is None else int(self.random_state)
        if self.random_state is not None and "random_state" in base.get_params() \
                and base.get_params()["random_state"] is None:
            base.set_params(random_state=seed)
        rng = np.random.default_rng([seed, 0])
        sigma = float(self.sigma)
        noisy = (lambda: X + (sigma * rng.standard_normal(X.shape)).astype(np.float32)) \
            if self.noise_training else (lambda: X)
        if isinstance(base, RobustClassifier) and self.noise_training:
            _refuse_checkpoints(base)
            # one epoch per call on fresh noise; max_epochs stays the base's, so schedules
            # in fractions of it (FAT's tau, FOSC's c_t, DIAL's weight, ...) run as in a fit
            epochs = int(base.max_epochs)
            base.set_params(clip_min=None, clip_max=None)
            for epoch in range(max(epochs, 1)):  # max_epochs=0: initialised, not trained
                with warnings.catch_warnings():
                    if epoch < epochs - 1:  # judged once, after the last epoch
                        warnings.simplefilter("ignore", NearChanceWarning)
                    base.partial_fit(noisy(), y, epochs=min(epochs, 1))
        else:
            base.fit(noisy(), y)
        self.random_seed_ = seed
        self.base_estimator_ = base
        self.classes_ = np.asarray(base.classes_)
        self.abstain_label_ = abstain
        _check_feature_names(self, X_in, reset=True)
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        self.input_shape_ = tuple(X.shape[1:])
        return self

    # ------------------------------------------------------------ Monte Carlo
    def _counts(self, x, num, rng, batch_size):
        """Class counts of the base on ``num`` noisy copies of one example ``x``."""
        counts = np.zeros(len(self.classes_), dtype=np.int64)
        remaining = num
        while remaining > 0:
            k = min(batch_size, remaining)
            noise = rng.standard_normal((k, *x.shape)).astype(np.float32)
            pred = self.base_estimator_.predict(x[None] + float(self.sigma) * noise)
            counts += np.bincount(np.searchsorted(self.classes_, pred),
                                  minlength=len(self.classes_))
            remaining -= k
        return counts

    def _prepare(self, X):
        check_is_fitted(self, "base_estimator_")
        _check_feature_names(self, X, reset=False)
        X = check_X(X)
        if tuple(X.shape[1:]) != self.input_shape_:
            if X.ndim == 2 and len(self.input_shape_) == 1:
                raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is "
                                 f"expecting {self.n_features_in_} features as input.")
            raise ValueError(f"X has examples of shape {tuple(X.shape[1:])}, but "
                             f"{type(self).__name__} was fitted on examples of shape "
                             f"{self.input_shape_}.")
        return X

    def _example_rng(self, random_state, x, stage):
        """The noise stream of one example: from the seed and the example's own bytes.

        So an example gets the same draws whatever else is in ``X`` (subsets,
        order and batching do not change its answer).
        """
        seed = self.random_seed_ if random_state is None else random_state
        digest = hashlib.blake2b(np.ascontiguousarray(x).tobytes(), digest_size=8).digest()
        return np.random.default_rng([int(seed), 1 + stage, int.from_bytes(digest, "little")])

    def _abstain_value(self):
        # a model saved before abstain_label_ existed holds abstain_label (then -1) only
        return getattr(self, "abstain_label_",
                       -1 if self.abstain_label is None else self.abstain_label)

    def _abstained(self, n_samples):
        """An array of ``abstain_label_``, of a dtype that also holds the classes."""
        abstain = self._abstain_value()
        label, kind = np.asarray(abstain), self.classes_.dtype.kind
        same = (label.dtype.kind in "iuf" and kind in "iuf") or \
            (label.dtype.kind in "US" and kind == label.dtype.kind)
        dtype = np.result_type(self.classes_.dtype, label.dtype) if same else object
        return np.full(n_samples, abstain, dtype=dtype)

    def certify(self, X, *, n0=None, n=None, alpha=None, batch_size=None, random_state=None):
        """Cohen et al.'s CERTIFY: the smoothed prediction and its certified L2 radius.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        n0, n, alpha, batch_size : default=None
            Override the estimator's parameters for this call.
        random_state : int or None, default=None
            Seed of the Monte Carlo noise; None uses the fit's seed.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            The top class, or ``abstain_label`` where ``pA <= 1/2``.
        radius : ndarray of shape (n_samples,)
            ``sigma * Phi^-1(pA)``, 0 where abstained.
        """
        n0 = self.n0 if n0 is None else n0
        n = self.n if n is None else n
        alpha = self.alpha if alpha is None else alpha
        batch_size = self.batch_size if batch_size is None else batch_size
        self._check_sampling(n0, n, alpha, batch_size)
        _check_seed(random_state)
        X = self._prepare(X)
        top = np.zeros(len(X), dtype=np.int64)
        n_top = np.zeros(len(X), dtype=np.int64)
        for i, x in enumerate(X):
            rng = self._example_rng(random_state, x, 0)
            top[i] = self._counts(x, n0, rng, batch_size).argmax()
            n_top[i] = self._counts(x, n, rng, batch_size)[top[i]]
        p_lower = clopper_pearson_bound(n_top, n, alpha).bound if len(X) else np.zeros(0)
        ok = p_lower > 0.5
        labels = self._abstained(len(X))
        labels[ok] = self.classes_[top[ok]]
        radius = np.where(ok, float(self.sigma) * stats.norm.ppf(np.where(ok, p_lower, 0.75)), 0.0)
        return labels, radius

    def predict(self, X):
        """Cohen et al.'s PREDICT: the top class of ``n`` noisy copies, or ``abstain_label``.

        Returns the top class if a two-sided binomial test of its count
        against the runner-up's (at p = 1/2) has p-value <= ``alpha``; the
        probability of returning a class other than ``g(x)`` is then at most
        ``alpha``.
        """
        X = self._prepare(X)
        labels = self._abstained(len(X))
        for i, x in enumerate(X):
            counts = self._counts(x, self.n, self._example_rng(None, x, 2), self.batch_size)
            order = np.argsort(-counts, kind="stable")
            n_a, n_b = counts[order[0]], counts[order[1]] if len(counts) > 1 else 0
            if stats.binomtest(int(n_a), int(n_a + n_b), 0.5).pvalue <= self.alpha:
                labels[i] = self.classes_[order[0]]
        return labels

    def score(self, X, y, sample_weight=None):
        """Accuracy of :meth:`predict`; an abstention counts as an error.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        check_is_fitted(self, "base_estimator_")
        check_score_y(self, X, y)  # before the Monte-Carlo predictions
        pred = self.predict(X)
        y = check_y(y, len(pred))
        abstain = self._abstain_value()
        correct = np.fromiter((p == t and not _same_label(p, abstain)
                               for p, t in zip(pred.tolist(), y.tolist())), bool, len(pred))
        return float(np.average(correct, weights=sample_weight))

    def score_adversarial(self, X, y, attack=None, *, per_class=False):
        """Robust accuracy of the smoothed classifier under ``attack``.

        Gradient attacks differentiate the soft smoothed classifier and the
        result is scored with the hard :meth:`predict` (see Notes of the
        class); an abstention counts as an error.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : array-like of shape (n_samples,)
        attack : Attack, default=None
            None uses :func:`robustsk.attacks.default_attack`, which needs a
            radius: smoothing has no ``eps`` of its own, so pass e.g.
            ``PGD(eps=0.5)`` (L2 by default here).
        per_class : bool, default=False
            If True, the robust accuracy of each class's examples.

        Returns
        -------
        score : float, or pandas.Series indexed by class label if ``per_class``
        """
        from ..metrics import robust_accuracy
        return robust_accuracy(self, X, y, attack=attack, per_class=per_class)


    def as_attack_target(self):
        """The soft smoothed classifier as an attack target (see Notes of the class).

        Returns
        -------
        target : robustsk.attacks.AttackTarget
            Module :class:`SoftSmoothedModule` around the base's network; the
            base's input validation and label encoding; L2 by default.

        Raises
        ------
        TypeError
            When the base is not a robustsk estimator (nothing to differentiate).
        """
        check_is_fitted(self, "base_estimator_")
        hook = getattr(self.base_estimator_, "as_attack_target", None)
        if hook is None:
            raise TypeError(
                f"RandomizedSmoothingClassifier with a {type(self.base_estimator_).__name__} "
                "base is not differentiable by the gradient attacks, and has no scores for "
                "SPSA or Square: expected a robustsk base estimator. Smooth a robustsk "
                "estimator (e.g. StandardTraining()) to attack it, or attack the base itself.")
        inner = hook()
        # the user's box (the base was refitted unclipped for noise training)
        box = {name: getattr(self.base_estimator, name, None) for name in ("clip_min", "clip_max")}
        module = SoftSmoothedModule(inner.module, sigma=float(self.sigma),
                                    n_samples=int(self.attack_samples), seed=self.random_seed_)
        return replace(inner, module=module, estimator=self, linear=None,
                       defaults={"eps": None, "norm": 2, **box,
                                 "random_state": self.random_seed_})


class SoftSmoothedModule(torch.nn.Module):
    """``x -> log mean_s softmax(f(x + sigma * z_s))``: the soft smoothed classifier.

    Its cross-entropy is ``-log E[p_y(x + noise)]``, the loss of Salman et al.
    (2019) and of Moon et al.'s smoothed preemptive robustification, estimated
    from ``n_samples`` fresh Gaussian draws per example and per call (noise is
    drawn from a generator seeded by ``seed`` at construction, on the input's
    device). Gradients flow to the input through every noisy copy
    (expectation over transformation).

    Parameters
    ----------
    base : torch.nn.Module
        Maps inputs to logits.
    sigma : float
        Noise standard deviation, in input units.
    n_samples : int
        Noise copies per example and call.
    seed : int
        Seeds the noise generator.
    """

    def __init__(self, base, *, sigma, n_samples, seed):
        super().__init__()
        self.base = base
        self.sigma = float(sigma)
        self.n_samples = int(n_samples)
        self.seed = int(seed)
        self._generators = {}

    def _generator(self, device):
        key = str(device)
        if key not in self._generators:
            gen = torch.Generator(device=device)
            gen.manual_seed(self.seed)
            self._generators[key] = gen
        return self._generators[key]

    def forward(self, x):
        n, m = len(x), self.n_samples
        copies = x.unsqueeze(1).expand(n, m, *x.shape[1:]).reshape(n * m, *x.shape[1:])
        noise = torch.randn(copies.shape, generator=self._generator(x.device), device=x.device,
                            dtype=x.dtype)
        logp = torch.log_softmax(self.base(copies + self.sigma * noise), dim=1)
        return torch.logsumexp(logp.reshape(n, m, -1), dim=1) - np.log(m)


def _check_seed(random_state):
    if random_state is not None and (isinstance(random_state, bool)
                                     or not isinstance(random_state, numbers.Integral)
                                     or random_state < 0):
        raise ValueError(f"random_state={random_state!r}: expected None or an int >= 0 "
                         "(numpy's seeds are non-negative). Pass e.g. random_state=0.")


def _same_label(a, b):
    """``a == b`` for labels of possibly different types (no elementwise numpy answer)."""
    if isinstance(a, str) or isinstance(b, str):  # numpy's str_ included
        return isinstance(a, str) and isinstance(b, str) and a == b
    return bool(np.asarray(a == b).all())


def _abstain_label(abstain_label, classes):
    """The abstain label to use with ``classes``, validated before any work."""
    kind = classes.dtype.kind
    strings = kind in "US" or (kind == "O" and all(isinstance(c, str) for c in classes))
    if abstain_label is None:
        if strings:
            label = "abstain"
            while label in set(classes.tolist()):
                label += "_"
            return label
        if kind in "iuf" and -1 in classes:
            return classes.min() - 1
        return -1
    is_string = isinstance(abstain_label, (str, np.str_))
    is_number = isinstance(abstain_label, numbers.Number) and not isinstance(abstain_label, bool)
    if strings and not is_string or kind in "iuf" and not is_number:
        expected = "a string (e.g. 'abstain')" if strings else "a number (e.g. -1)"
        raise ValueError(
            f"abstain_label={abstain_label!r} does not match the labels "
            f"{classes.tolist()[:20]} (dtype {classes.dtype}): expected {expected}, so that "
            "predictions sort and score like the labels. Pass such an abstain_label, or None "
            "to let fit choose one.")
    if any(_same_label(abstain_label, c) for c in classes.tolist()):
        raise ValueError(f"abstain_label={abstain_label!r} is one of the class labels "
                         f"{classes.tolist()[:20]}: pass an abstain_label that is not a "
                         "class (e.g. -1 for labels 0..k, or 'abstain' for string labels), "
                         "or None to let fit choose one.")
    return abstain_label
