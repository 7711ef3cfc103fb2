"""Adversarial training on internal-Wasserstein examples (Wang et al., arXiv 2103.07598)."""
from ..attacks import check_image_patches, iwd
from ..base import RobustClassifier
from ..params import Interval, Options

__all__ = ["IWDAdversarialTraining"]


class IWDAdversarialTraining(RobustClassifier):
    """Adversarial training on IWD examples: minimise ``CE(f(x'), y)`` for IWD attacks ``x'``.

    Every batch is replaced by its :func:`~robustsk.attacks.iwd` adversarial
    examples: ``n_iter`` steepest-ascent steps on the attack loss in the
    distance's local metric (the input gradient divided by each pixel's
    patch coverage, scaled to length ``iwd_step_size``; not signed steps),
    each brought back within ``iwd_eps`` of the clean image in internal
    Wasserstein distance (the Wasserstein distance between the distributions
    of the ``patch_size`` x ``patch_size`` patches of the two images, a
    debiased Sinkhorn divergence at ``blur`` and ``scaling``), last iterate:
    it is within ``iwd_eps`` in that distance. The paper does not state its
    step rule (METHODS.md: settings unconfirmed); the coverage-weighted step
    is ours.
    The estimator's own threat model (``eps``, ``norm``) is only what
    :meth:`score_adversarial` and the scorers attack by default (PGD); the
    training budget is ``iwd_eps``. The paper's exact loss and settings are
    unconfirmed (no official code): this is its description, "adversarial
    training with IWD examples", implemented with our IWD attack.

    Images only: ``fit`` refuses flat inputs and patches larger than the
    images before any work, and the scikit-learn tags say so (so
    scikit-learn's generic estimator checks, which use 2-D tabular data,
    skip this class; its contract is tested on digits images instead).

    Parameters
    ----------
    iwd_eps : float, default=0.3
        Budget of the training attack on the internal Wasserstein distance (input units).
    iwd_step_size : float, default=None
        Length of each training attack step in the distance's local metric;
        ``iwd_eps / 4`` when None. (The estimator's ``step_size`` belongs to
        its L-p threat model: the step of the PGD that ``score_adversarial``
        runs by default.)
    patch_size : int, default=3
    stride : int, default=1
    n_proj_steps : int, default=1
        Steps per attack iteration that bring the distance back under the budget.
    blur : float, default=0.05
        Entropic blur of the Sinkhorn divergence.
    scaling : float in (0, 1), default=0.5
        Epsilon-scaling ratio of the training attack's Sinkhorn divergence
        (see :func:`~robustsk.attacks.internal_wasserstein`). The default,
        GeomLoss's, keeps training affordable (the default 3x3 patches at
        stride 1 already cost about 100 s per batch of 64 Fashion-MNIST images
        and 10 steps on one thread), but it underestimates the distance: on
        digits shifted by one pixel it was up to 45% below the exact one, so
        training examples may lie that far beyond ``iwd_eps`` in exact
        distance. ``scaling=0.99`` (the :class:`~robustsk.attacks.IWD`
        attack's default, used to evaluate) is within about 2% of it, at
        about 40 times the cost.
    attack_mode : {"eval", "train"}, default="eval"
        Mode of the network while the attack runs.
    **kwargs
        ``n_iter`` (attack steps, default 10), the evaluation threat model
        (``eps``, ``norm``, ``clip_min``, ``clip_max``) and every other
        parameter of :class:`~robustsk.base.RobustClassifier` and skorch.

    References
    ----------
    .. [1] Wang, Q., Zhang, S., Cao, J., Li, J., Tan, M. and Xiang, Y. "Internal
       Wasserstein Distance for Adversarial Attack and Defense." arXiv:2103.07598, 2021.

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import IWDAdversarialTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = IWDAdversarialTraining(iwd_eps=0.3, n_iter=2, max_epochs=1, clip_min=0,
    ...                              clip_max=1, random_state=0).fit(X[:200], y[:200])
    >>> 0 <= clf.score(X[200:250], y[200:250]) <= 1
    True
    """

    _parameter_constraints = {
        "iwd_eps": [Interval(float, 0, None)],
        "iwd_step_size": [None, Interval(float, 0, None, closed="neither")],
        "patch_size": [Interval(int, 1, None)],
        "stride": [Interval(int, 1, None)],
        "n_proj_steps": [Interval(int, 0, None)],
        "blur": [Interval(float, 0, None, closed="neither")],
        "scaling": [Interval(float, 0, 1, closed="neither")],
        "attack_mode": [Options("eval", "train")],
    }

    def __init__(self, module=None, *, iwd_eps=0.3, iwd_step_size=None, patch_size=3, stride=1,
                 n_proj_steps=1, blur=0.05, scaling=0.5, attack_mode="eval", **kwargs):
        super().__init__(module, **kwargs)
        self.iwd_eps = iwd_eps
        self.iwd_step_size = iwd_step_size
        self.patch_size = patch_size
        self.stride = stride
        self.n_proj_steps = n_proj_steps
        self.blur = blur
        self.scaling = scaling
        self.attack_mode = attack_mode

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # images (n, C, H, W) or (n, H, W) only
        tags.input_tags.three_d_array = True
        return tags

    def check_input_shape(self, input_shape):
        """Refuse flat inputs and patches larger than the images, before any work."""
        try:
            check_image_patches(input_shape, self.patch_size, self.stride)
        except ValueError as err:
            raise ValueError(f"{type(self).__name__}: {err}") from None

    def train_step_single(self, batch, **fit_params):
        x, y = self.unpack_batch(batch)
        step = None if self.iwd_step_size is None else float(self.iwd_step_size)
        x_adv = iwd(self.attack_module(), x, y, eps=float(self.iwd_eps), step_size=step,
                    patch_size=self.patch_size, stride=self.stride, n_iter=self.threat_.n_iter,
                    n_proj_steps=self.n_proj_steps, blur=self.blur,
                    scaling=float(self.scaling), loss=self.attack_loss(),
                    clip_min=self.threat_.clip_min, clip_max=self.threat_.clip_max,
                    return_best=False, mode=self.attack_mode)
        y_pred = self.infer(x_adv, **fit_params)
        loss = self.get_loss(y_pred, y, X=x_adv, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}
