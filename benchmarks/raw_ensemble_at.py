"""Ensemble adversarial training's batch by hand: ``overhead.py``'s raw loop for ``ensemble_at``.

Mirrors one batch of :class:`robustsk.defenses.EnsembleAdversarialTraining`
with R+FGSM (its default ``attack``) at ``alpha = eps / 2`` (its default
``alpha``), both passed explicitly, and ``N_STATIC`` static models: SmallCNNs fitted by
:class:`~robustsk.defenses.StandardTraining` (seeds ``STATIC_SEEDS``, one epoch
on the first ``STATIC_N`` Fashion-MNIST training images: one Adam step, so
they stay near chance), once per process and shared by both sides
(:func:`static_models`). The paper's static models are fully trained; their
weights change no cost here (the step has no early stop and no branch on
them: the same operations on other numbers), and fitting them for real would
cost the CI check seconds. Per batch:

1. the source: ``j = randint(1 + N_STATIC)`` (one draw from ``gen``); the
   trained SmallCNN for ``j = 0``, else static model ``j - 1``;
2. with the source in eval mode and its parameters frozen, its labels
   ``l = argmax f_s(x)`` (no graph), then R+FGSM against them::

       x1 = clip(x + alpha sign(N(0, I)))                   # one draw from gen
       x' = clip(x1 + (eps - alpha) sign(grad_x1 sum_n CE(f_s(x1), l)))
       x' = clip(min(max(x', x - eps), x + eps))

   (``clip`` to [0, 1]); the source is put back in its mode (the trained
   network in train mode, a static one in eval mode);
3. in train mode, the loss ``0.5 * (CE(f(x), y) + CE(f(x'), y))``, the clean
   forward pass first.

One Adam over the trained SmallCNN; the static networks are a plain list on
the raw model (:class:`EATNet`), as robustsk keeps them (``static_sources_``):
neither trained nor in its ``state_dict``.

Plain torch for the arithmetic: the network class (SmallCNN) is robustsk's,
and the static networks are the fitted estimators' torch modules; nothing
else is.
"""
import warnings

from raw_loops import frozen
from sklearn.frozen import FrozenEstimator
import torch
import torch.nn.functional as F

from robustsk.base import NearChanceWarning
from robustsk.datasets import load_fashion_mnist
from robustsk.defenses import EnsembleAdversarialTraining, StandardTraining
from robustsk.modules import SmallCNN

__all__ = ["NAME", "ESTIMATOR", "N_STATIC", "STATIC_SEEDS", "STATIC_N", "ALPHA_FRACTION",
           "static_models", "estimator_kwargs", "EATNet", "raw_model", "raw_rfgsm", "raw_loss"]

NAME = "ensemble_at"
ESTIMATOR = EnsembleAdversarialTraining
#: two static models, as in ``benchmarks/ensemble_at_transfer.py``
STATIC_SEEDS = (100, 101)
N_STATIC = len(STATIC_SEEDS)
#: the static models' training set: the first STATIC_N Fashion-MNIST training images (one batch)
STATIC_N = 64
#: R+FGSM's random step as a fraction of eps (robustsk's default alpha, eps / 2)
ALPHA_FRACTION = 0.5

_STATIC = []


def static_models():
    """The fitted static models (fitted on the first call; the global RNGs untouched)."""
    if not _STATIC:
        X, y = load_fashion_mnist(subset="train", n_samples=STATIC_N, return_X_y=True)
        with warnings.catch_warnings():  # one step: near chance is expected
            warnings.simplefilter("ignore", NearChanceWarning)
            _STATIC.extend(StandardTraining(max_epochs=1, clip_min=0.0, clip_max=1.0,
                                            random_state=seed).fit(X, y)
                           for seed in STATIC_SEEDS)
    return list(_STATIC)


def estimator_kwargs(args):
    """Ensemble AT with the static models, attack and alpha the raw loss uses."""
    return {"static_models": [FrozenEstimator(m) for m in static_models()], "attack": "rfgsm",
            "alpha": ALPHA_FRACTION * args.eps}


class EATNet(SmallCNN):
    """The trained SmallCNN; ``static_sources`` (a plain list) holds the static networks."""

    def __init__(self, input_shape, n_classes, static_sources):
        super().__init__(input_shape, n_classes)
        self.static_sources = list(static_sources)  # not submodules: not trained, not saved


def raw_model(lr, input_shape, n_classes):
    """The SmallCNN (drawn from torch's generator), the static networks and one Adam."""
    static = [m.module_ for m in static_models()]  # fitting them leaves torch's RNG as it was
    model = EATNet(input_shape, n_classes, static)
    return model, torch.optim.Adam(model.parameters(), lr=lr)


def raw_rfgsm(source, x, eps, alpha, gen):
    """R+FGSM on ``source``'s own labels, the source used as given (eval mode, frozen)."""
    with torch.no_grad():
        labels = source(x).argmax(1)
    x1 = (x + alpha * torch.randn(x.shape, generator=gen).sign()).clamp(0, 1)
    x_var = x1.detach().requires_grad_(True)
    loss = F.cross_entropy(source(x_var), labels, reduction="none")
    grad, = torch.autograd.grad(loss.sum(), x_var)
    x_adv = (x1 + (eps - alpha) * grad.sign()).clamp(0, 1)
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)


def raw_loss(model, x, t, *, eps, step_size, n_iter, gen, epoch=0):
    """Ensemble AT's loss of one batch, attack included (``step_size``, ``n_iter``,
    ``epoch`` unused)."""
    sources = [model, *model.static_sources]
    source = sources[int(torch.randint(len(sources), (1,), generator=gen))]
    was_training = source.training
    source.eval()
    frozen(source, True)
    try:
        x_adv = raw_rfgsm(source, x, eps, ALPHA_FRACTION * eps, gen)
    finally:
        frozen(source, False)
        source.train(was_training)
    clean = F.cross_entropy(model(x), t)
    adv = F.cross_entropy(model(x_adv), t)
    return 0.5 * (clean + adv)
