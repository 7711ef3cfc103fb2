"""AFD's training batch by hand: ``overhead.py``'s raw loop for ``afd``.

Mirrors one batch of :class:`robustsk.defenses.AdversarialFeatureDesensitization`
with its defaults: the SmallCNN wrapped in
:class:`~robustsk.modules.UnitSphereFeatures` (features ``E(x) / ||E(x)||``,
the head ``Dc`` reads them), a :class:`~robustsk.heads.FeatureCritic` ``Da``
on the features given the label, and three Adams: over the whole network at
``lr``, over the critic at ``10 lr``, over the encoder (the network's
parameters the features depend on: all but the head's) at ``lr / 2``. Per
batch, in that order:

1. ``x'`` = APGD-CE (Croce and Hein, 2020) with ``n_iter`` iterations, the
   network in eval mode with its parameters frozen (:func:`raw_apgd_ce`);
2. the network's Adam on ``CE(Dc(E(x)), y)`` (the loss reported);
3. the critic's Adam on ``mean Da(E(x'), y) - mean Da(E(x), y)``, the features
   computed without a graph;
4. the encoder's Adam on ``-mean Da(E(x'), y)``, then the critic's gradients
   are dropped.

Both networks are in train mode outside the attack (the critic's spectral
normalisation runs one power iteration per call in train mode: the calls are
made in robustsk's order). The random draws from ``gen`` are APGD's uniform
start, one per batch.

Plain torch for the arithmetic: the network classes (SmallCNN,
UnitSphereFeatures, FeatureCritic) are robustsk's, nothing else is.
"""
from raw_loops import frozen
import torch
from torch import nn
import torch.nn.functional as F

from robustsk.defenses import AdversarialFeatureDesensitization
from robustsk.heads import FeatureCritic
from robustsk.modules import SmallCNN, UnitSphereFeatures

__all__ = ["NAME", "ESTIMATOR", "RHO", "estimator_kwargs", "AFDNet", "AFDOptimizers",
           "raw_model", "apgd_checkpoints", "raw_apgd_ce", "raw_step", "robustsk_state",
           "load_robustsk_state", "robustsk_parameters"]

NAME = "afd"
ESTIMATOR = AdversarialFeatureDesensitization
#: APGD's step-halving threshold (robustsk's default, the paper's 0.75)
RHO = 0.75
#: the critic's and the encoder's learning rates as multiples of ``lr`` (robustsk's defaults)
CRITIC_LR, ENCODER_LR = 10.0, 0.5


def estimator_kwargs(args):
    """AFD with its features on the unit sphere (the default), as the raw side builds it."""
    return {"normalize_features": True}


class AFDNet(nn.Module):
    """The network on the unit sphere (``module``) and the critic (``discriminator``)."""

    def __init__(self, input_shape, n_classes):
        super().__init__()
        self.module = UnitSphereFeatures(SmallCNN(input_shape, n_classes))
        # the critic reads the features: their width, found without random draws
        with torch.no_grad():
            self.module.eval()
            width = self.module.features(torch.zeros(2, *input_shape)).flatten(1).shape[1]
            self.module.train()
        self.discriminator = FeatureCritic(width, n_classes)

    def forward(self, x):
        return self.module(x)


def _encoder_parameters(net, input_shape):
    """The parameters of ``net`` that its features depend on, in ``named_parameters`` order."""
    params = [p for p in net.parameters() if p.requires_grad]
    net.eval()
    try:
        h = net.features(torch.zeros(2, *input_shape))
        grads = torch.autograd.grad(h.sum(), params, allow_unused=True)
    finally:
        net.train()
    return [p for p, g in zip(params, grads) if g is not None]


class AFDOptimizers:
    """AFD's three Adams (network, critic, encoder) as one object for ``overhead.py``."""

    NAMES = ("optimizer", "optimizer_discriminator", "optimizer_encoder")

    def __init__(self, model, lr, input_shape):
        self.optimizer = torch.optim.Adam(model.module.parameters(), lr=lr)
        self.optimizer_discriminator = torch.optim.Adam(model.discriminator.parameters(),
                                                        lr=CRITIC_LR * lr)
        self.optimizer_encoder = torch.optim.Adam(
            _encoder_parameters(model.module, input_shape), lr=ENCODER_LR * lr)

    def state_dict(self):
        return {name: getattr(self, name).state_dict() for name in self.NAMES}

    def load_state_dict(self, state):
        for name in self.NAMES:
            getattr(self, name).load_state_dict(state[name])

    def zero_grad(self):
        for name in self.NAMES:
            getattr(self, name).zero_grad()


def raw_model(lr, input_shape, n_classes):
    """The network, then the critic (drawn in that order), and the three Adams."""
    model = AFDNet(input_shape, n_classes)
    return model, AFDOptimizers(model, lr, input_shape)


# ---------------------------------------------------------------- APGD-CE by hand
def apgd_checkpoints(n_iter):
    """The iterations after which APGD may halve its step (``0`` first)."""
    interval = max(22 * n_iter // 100, 1)
    shrink = max(3 * n_iter // 100, 1)
    shortest = max(6 * n_iter // 100, 1)
    points = [0]
    while points[-1] + interval <= n_iter:
        points.append(points[-1] + interval)
        interval = max(interval - shrink, shortest)
    return points


def _rows(mask, like):
    return mask.view(-1, *[1] * (like.ndim - 1))


def _ce_gradient(net, x, y):
    """Per-example CE, the logits and the gradient of the summed CE at ``x`` (detached)."""
    x = x.detach().requires_grad_(True)
    logits = net(x)
    loss = F.cross_entropy(logits, y, reduction="none")
    grad, = torch.autograd.grad(loss.sum(), x)
    return loss.detach(), logits.detach(), grad.detach()


def _to_ball(x_adv, x, eps):
    """Projection onto the Linf ball of radius ``eps`` around ``x``, then the clip to [0, 1]."""
    return (x + (x_adv - x).clamp(-eps, eps)).clamp(0, 1)


class _Best:
    """Per example of the batch: the first misclassified iterate, else the highest-CE one."""

    def __init__(self, x, logits, loss, y):
        self.x, self.loss, self.y = x.clone(), loss.clone(), y
        self.found = logits.argmax(dim=1) != y

    def offer(self, x, logits, loss, index):
        found, best_loss = self.found[index], self.loss[index]
        success = logits.argmax(dim=1) != self.y[index]
        take = (success & ~found) | (~found & ~success & (loss > best_loss))
        chosen = index[take]
        self.x[chosen] = x[take]
        self.loss[chosen] = loss[take]
        self.found[index] = found | success


def raw_apgd_ce(net, x, y, eps, n_iter, gen, rho=RHO):
    """APGD-CE in the Linf ball, one run, the network used as given (eval mode, frozen).

    Uniform start ``x + eps t / ||t||_inf`` with ``t ~ U(-1, 1)`` (clipped to
    [0, 1]) for the examples the network classifies correctly; steps of
    ``2 eps`` halved per example at the checkpoints where its CE stalled (it
    then restarts from its best point), momentum 0.75 from the second step.
    An example leaves the batch at its first misclassified iterate, which is
    what it returns; the others return their highest-CE iterate.
    """
    with torch.no_grad():
        clean_logits = net(x)
        best = _Best(x, clean_logits, F.cross_entropy(clean_logits, y, reduction="none"), y)
    todo = (~best.found).nonzero().flatten()
    if len(todo) == 0:
        return best.x
    checkpoints = set(apgd_checkpoints(n_iter)[1:])
    x, y = x[todo], y[todo]
    t = -1.0 + 2.0 * torch.rand(x.shape, generator=gen, dtype=torch.float32)
    t = t / t.flatten(1).abs().amax(dim=1).clamp_min(1e-12).view(-1, *[1] * (x.ndim - 1))
    x_adv = (x + eps * t).clamp(0, 1)
    loss, logits, grad = _ce_gradient(net, x_adv, y)
    best.offer(x_adv, logits, loss, todo)
    hist = loss.new_zeros(len(x), n_iter + 1)
    hist[:, 0] = loss
    s = {"x": x, "y": y, "index": todo, "x_adv": x_adv, "x_prev": x_adv, "grad": grad,
         "step": torch.full_like(loss, 2 * eps), "x_best": x_adv.clone(),
         "grad_best": grad.clone(), "loss_best": loss.clone(), "best_at_check": loss.clone(),
         "reduced": torch.ones_like(loss, dtype=torch.bool), "hist": hist}

    def drop_found():
        done = best.found[s["index"]]
        if done.any():
            for key in s:
                s[key] = s[key][~done]

    drop_found()
    last_check = 0
    for i in range(1, n_iter + 1):
        if len(s["index"]) == 0:
            break
        momentum = 1.0 if i == 1 else 0.75
        x_adv, x = s["x_adv"], s["x"]
        z = _to_ball(x_adv + s["step"].view(-1, *[1] * (x.ndim - 1)) * s["grad"].sign(), x, eps)
        x_new = x_adv + momentum * (z - x_adv) + (1 - momentum) * (x_adv - s["x_prev"])
        s["x_prev"], s["x_adv"] = x_adv, _to_ball(x_new, x, eps)
        loss, logits, s["grad"] = _ce_gradient(net, s["x_adv"], s["y"])
        best.offer(s["x_adv"], logits, loss, s["index"])
        s["hist"][:, i] = loss
        better = loss > s["loss_best"]
        s["x_best"] = torch.where(_rows(better, x), s["x_adv"], s["x_best"])
        s["grad_best"] = torch.where(_rows(better, x), s["grad"], s["grad_best"])
        s["loss_best"] = torch.where(better, loss, s["loss_best"])
        drop_found()
        if i in checkpoints:
            losses = s["hist"][:, last_check:i + 1]
            rises = (losses[:, 1:] > losses[:, :-1]).sum(dim=1)
            reduce = (rises <= rho * (i - last_check)) | (
                ~s["reduced"] & (s["loss_best"] <= s["best_at_check"]))
            last_check = i
            s["reduced"], s["best_at_check"] = reduce, s["loss_best"].clone()
            s["step"] = torch.where(reduce, s["step"] / 2, s["step"])
            s["x_adv"] = torch.where(_rows(reduce, s["x_adv"]), s["x_best"], s["x_adv"])
            s["grad"] = torch.where(_rows(reduce, s["grad"]), s["grad_best"], s["grad"])
    return best.x


# ---------------------------------------------------------------- one batch
def raw_step(model, optimizer, x, t, *, eps, step_size, n_iter, gen, epoch=0):
    """AFD's three updates on one batch (``step_size``, ``epoch`` unused); the clean CE."""
    net, critic = model.module, model.discriminator
    net.train()
    critic.train()
    net.eval()
    frozen(net, True)
    try:
        x_adv = raw_apgd_ce(net, x, t, eps, max(n_iter, 1), gen).detach()
    finally:
        frozen(net, False)
        net.train()

    # (2) the network on the clean cross-entropy
    optimizer.optimizer.zero_grad()
    loss = F.cross_entropy(net(x), t)
    loss.backward()
    optimizer.optimizer.step()

    # (3) the critic: clean features high, adversarial ones low
    optimizer.optimizer_discriminator.zero_grad()
    with torch.no_grad():
        h, h_adv = net.features(x).flatten(1), net.features(x_adv).flatten(1)
    s_clean, s_adv = critic(h, t), critic(h_adv, t)
    loss_d = s_adv.mean() - s_clean.mean()
    loss_d.backward()
    optimizer.optimizer_discriminator.step()

    # (4) the encoder alone: adversarial features should score as clean
    optimizer.optimizer_encoder.zero_grad()
    loss_e = -critic(net.features(x_adv).flatten(1), t).mean()
    loss_e.backward()
    optimizer.optimizer_encoder.step()
    critic.zero_grad(set_to_none=True)
    return loss.detach()


# ---------------------------------------------------------------- robustsk's side
def robustsk_state(clf):
    """``clf``'s (module, optimizers) state dicts, keyed like an :class:`AFDNet`'s and an
    :class:`AFDOptimizers`'s."""
    state = {f"module.{k}": v for k, v in clf.module_.state_dict().items()}
    state.update({f"discriminator.{k}": v for k, v in clf.discriminator_.state_dict().items()})
    return state, {name: getattr(clf, name + "_").state_dict() for name in AFDOptimizers.NAMES}


def load_robustsk_state(clf, module_state, optimizer_state):
    """Load a pair of :func:`robustsk_state` back into ``clf``."""
    for prefix, target in (("module.", clf.module_), ("discriminator.", clf.discriminator_)):
        target.load_state_dict({k[len(prefix):]: v for k, v in module_state.items()
                                if k.startswith(prefix)})
    for name in AFDOptimizers.NAMES:
        getattr(clf, name + "_").load_state_dict(optimizer_state[name])


def robustsk_parameters(clf):
    """``clf``'s parameters (network and critic), named as an :class:`AFDNet`'s."""
    params = {f"module.{k}": p for k, p in clf.module_.named_parameters()}
    params.update({f"discriminator.{k}": p for k, p in clf.discriminator_.named_parameters()})
    return params
