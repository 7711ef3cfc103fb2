"""TRS: transferability-reduced smooth ensembles (Yang et al., 2021)."""
import itertools

import numpy as np
import torch
import torch.nn.functional as F

from ..attacks import (
    as_box,
    ascent_step,
    attack_context,
    clip_box,
    get_loss,
    input_gradient,
    project,
    random_start,
)
from ..ensembles import EnsembleClassifier
from ..params import InstanceOf, Interval

__all__ = ["TRSEnsemble", "gradient_cosine_loss", "gradient_smoothness_loss"]


def _member_gradients(members, x, y, loss_fn, create_graph):
    """Per member: the summed loss, the logits and the gradient of the *batch-mean* loss."""
    losses, logits, grads = [], [], []
    for member in members:
        loss, z, grad = input_gradient(member, x, y, loss_fn, create_graph=create_graph)
        losses.append(loss)
        logits.append(z)
        grads.append(grad.flatten(1) / len(x))
    return losses, logits, grads


def gradient_cosine_loss(grads):
    """TRS's ``L_cos``: mean over member pairs of the batch mean of ``|cos(g_i, g_j)|``.

    Parameters
    ----------
    grads : list of Tensor of shape (n, d)
        One input gradient per member (at least two).

    Returns
    -------
    0-d Tensor

    Examples
    --------
    >>> import torch
    >>> g = torch.tensor([[1.0, 0.0]])
    >>> float(gradient_cosine_loss([g, torch.tensor([[0.0, 2.0]])]))
    0.0
    >>> float(gradient_cosine_loss([g, -g]))
    1.0
    """
    pairs = [F.cosine_similarity(a, b, dim=1).abs().mean()
             for a, b in itertools.combinations(grads, 2)]
    return torch.stack(pairs).mean()


def gradient_smoothness_loss(grads):
    """TRS's ``L_smooth``: mean over members of ``2 * mean_i ||g_i||^2``.

    Parameters
    ----------
    grads : list of Tensor of shape (n, d)

    Returns
    -------
    0-d Tensor

    Examples
    --------
    >>> import torch
    >>> float(gradient_smoothness_loss([torch.ones(3, 2), torch.zeros(3, 2)]))
    2.0
    """
    return torch.stack([2 * g.pow(2).sum(1).mean() for g in grads]).mean()


class TRSEnsemble(EnsembleClassifier):
    """TRS: members with misaligned, small input gradients, so attacks transfer less.

    The loss of a batch (all members trained together, train mode) is::

        sum_j CE(f_j(x), y) + scale * (coeff * L_cos + lamda * L_smooth)

    ``L_cos`` (:func:`gradient_cosine_loss`) is the mean over member pairs of
    the batch mean of ``|cos(g_i, g_j)|``, ``g_j`` the input gradient of member
    ``j``'s loss; ``L_smooth`` (:func:`gradient_smoothness_loss`) is the mean
    over members of ``2 * mean ||g_j||^2``. Both are trained by double
    backpropagation (``input_gradient(create_graph=True)``). As in the
    reference code, ``g_j`` is the gradient of member ``j``'s *batch-mean*
    loss, i.e. the per-example gradient divided by the batch size (the
    cosine is unaffected; ``L_smooth`` scales as 1 / batch_size ** 2, so
    ``lamda`` is tied to ``batch_size``).

    With ``adv_smoothness=True`` (the reference code's ``--plus-adv``, used
    in its MNIST and CIFAR-10 runs) ``L_smooth`` is taken at ``[first half of
    the batch, PGD examples of the second half]`` while the CE and ``L_cos``
    stay on the clean batch. That PGD maximises the mean over members of
    ``2 * ||g_j||^2`` (``n_iter`` steps of ``step_size`` from a uniform start
    in the ball, members left in train mode, as in the reference code), with
    a radius ramped linearly over the fit: ``eps_t = smooth_eps_init + (eps -
    smooth_eps_init) * epoch / max_epochs`` (``epoch`` counted from 0). The
    step is the same fraction of ``eps_t`` as ``step_size`` is of ``eps``
    (default one third, the reference's 6 steps of eps/3). Each step signs
    the gradient at the current point; the reference's loop
    (``trainer.py``) never clears ``adv.grad`` between its ``backward()``
    calls, so its steps sign the sum of the gradients at every point so far
    (a momentum it does not describe), which moves some coordinates
    differently from the second step on; robustsk keeps the PGD of the
    paper's text.

    The loss is the criterion's (cross-entropy by default): each member's
    term and its input gradient use it. Predictions and attacks use
    ``log(mean_j softmax(f_j))`` (``combine = "log_mean_softmax"``). The
    history records ``train_clean_loss`` (the sum of the members' CE),
    ``train_cos_loss``, ``train_smooth_loss``, ``train_smooth_eps`` and each
    member's ``train_member<j>_loss``.

    The penalties slow the start of training: while the members predict
    nearly uniformly their input gradients are small, and ``L_cos``'s gradient
    (a cosine's gradient scales as one over the vectors' norms) dominates the
    optimizer's normalised steps. On Fashion-MNIST with
    :class:`~robustsk.modules.SmallCNN` (600 images, batch 128, Adam lr 1e-3,
    eps 0.1, seed 0) the members' summed cross-entropy went from 6.909 to
    6.799 in 8 epochs (ensemble clean accuracy 0.33), where training the same
    three members with ``scale=0`` reached 5.80 in 2 epochs (clean 0.53); on
    digits with :class:`~robustsk.modules.MLP` TRS trains at once
    (``tests/defenses/test_ensembles.py``). Train for many epochs (the
    reference trains 120), or warm the members up first: fit with
    ``scale=0``, then ``set_params(scale=5.0, warm_start=True)`` and fit again
    (the reference's ``--resume`` starts from separately trained members).

    Parameters
    ----------
    n_members : int, default=3
        Number of networks (at least 2; the reference code is hard-wired to 3).
    coeff : float, default=2.0
        Weight of ``L_cos`` (the reference MNIST script).
    lamda : float, default=2.0
        Weight of ``L_smooth`` (the reference MNIST script).
    scale : float, default=5.0
        Common factor of both penalties (the reference MNIST script).
    adv_smoothness : bool, default=True
        Take ``L_smooth`` at PGD points for half of the batch (see above).
    smooth_eps_init : float, default=None
        Radius of the smoothness PGD in the first epoch; ``eps / 2`` when None
        (the reference MNIST script ramps 0.1 to 0.2). ``eps`` is the last.
    n_iter : int, default=6
        Steps of the smoothness PGD (the reference's 6).
    **kwargs
        ``module`` (one member's network), ``eps``, ``norm``, ``step_size``
        (default ``eps / 3``), ``clip_min``, ``clip_max`` and every other
        parameter of :class:`~robustsk.base.RobustClassifier`.

    Attributes
    ----------
    members_ : list of robustsk.ensembles.EnsembleMember

    References
    ----------
    .. [1] Yang, Z., Li, L., Xu, X., Zuo, S., Chen, Q., Zhou, P., Rubinstein, B.,
       Zhang, C. and Li, B. "TRS: Transferability Reduced Ensemble via Promoting
       Gradient Diversity and Model Smoothness." NeurIPS, 2021. Code:
       github.com/AI-secure/Transferability-Reduced-Smooth-Ensemble.

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import TRSEnsemble
    >>> X, y = load_digits_images(return_X_y=True)
    >>> ens = TRSEnsemble(n_members=2, n_iter=1, max_epochs=1, clip_min=0, clip_max=1,
    ...                   random_state=0).fit(X[:128], y[:128])
    >>> len(ens.members_), "train_cos_loss" in ens.history[-1]
    (2, True)
    """

    combine = "log_mean_softmax"
    default_step_fraction = 1 / 3

    _parameter_constraints = {
        "coeff": [Interval(float, 0, None)],
        "lamda": [Interval(float, 0, None)],
        "scale": [Interval(float, 0, None)],
        "adv_smoothness": [InstanceOf((bool, np.bool_), "True or False")],
        "smooth_eps_init": [None, Interval(float, 0, None)],
    }

    def __init__(self, module=None, *, n_members=3, coeff=2.0, lamda=2.0, scale=5.0,
                 adv_smoothness=True, smooth_eps_init=None, n_iter=6, **kwargs):
        super().__init__(module, n_members=n_members, n_iter=n_iter, **kwargs)
        self.coeff = coeff
        self.lamda = lamda
        self.scale = scale
        self.adv_smoothness = adv_smoothness
        self.smooth_eps_init = smooth_eps_init

    def _param_hints(self):
        return {**super()._param_hints(),
                "smooth_eps_init": "Pass None (eps / 2) or a radius >= 0 for the first epoch "
                                   "of the smoothness PGD."}

    def check_params(self):
        super().check_params()
        if self.smooth_eps_init is not None and self.smooth_eps_init > self.eps:
            raise ValueError(
                f"TRSEnsemble got smooth_eps_init={self.smooth_eps_init!r} > eps={self.eps!r}: "
                "expected the ramp to start at or below eps (its last value). Lower "
                "smooth_eps_init or leave it None (eps / 2).")

    def smooth_eps(self):
        """The radius of the smoothness PGD in the current epoch (the linear ramp)."""
        eps = self.threat_.eps
        init = eps / 2 if self.smooth_eps_init is None else float(self.smooth_eps_init)
        epoch = max(len(self.history) - 1, 0)
        return init + (eps - init) * min(epoch / max(self.max_epochs, 1), 1.0)

    def _member_loss(self):
        loss = self.attack_loss()
        return get_loss(loss) if isinstance(loss, str) else loss

    def smoothness_points(self, x, y, eps):
        """PGD points maximising the members' mean squared input-gradient norm."""
        members, loss_fn = list(self.module_.members), self._member_loss()
        threat = self.threat_
        box = as_box(threat.clip_min, threat.clip_max, x)
        step = threat.step_size / threat.eps * eps if threat.eps > 0 else 0.0
        rng = self.training_randomness()
        x_adv = clip_box(random_start(x, eps, threat.norm, rng), *box).detach()
        with attack_context(self.module_, mode=None), torch.enable_grad():
            for _ in range(threat.n_iter):
                x_var = x_adv.requires_grad_(True)
                grads = []
                for member in members:
                    loss = loss_fn(member(x_var), y).mean()
                    g, = torch.autograd.grad(loss, x_var, create_graph=True)
                    grads.append(g.flatten(1))
                grad, = torch.autograd.grad(gradient_smoothness_loss(grads), x_var)
                x_adv = ascent_step(x_adv.detach(), grad, step, threat.norm)
                x_adv = clip_box(project(x_adv, x, eps, threat.norm), *box).detach()
        return x_adv

    def train_step_single(self, batch, **fit_params):
        x, y = self.unpack_batch(batch)
        members, loss_fn = list(self.module_.members), self._member_loss()
        _, logits, grads = _member_gradients(members, x, y, loss_fn, create_graph=True)
        member_losses = [self.get_loss(z, y, X=x, training=True) for z in logits]
        clean = torch.stack(member_losses).sum()
        cos = gradient_cosine_loss(grads)
        eps = self.smooth_eps()
        if self.adv_smoothness and eps > 0 and len(x) >= 2:
            half = len(x) // 2
            x_s = torch.cat([x[:half], self.smoothness_points(x[half:], y[half:], eps)])
            _, _, smooth_grads = _member_gradients(members, x_s, y, loss_fn, create_graph=True)
        else:
            smooth_grads = grads
        smooth = gradient_smoothness_loss(smooth_grads)
        loss = clean + self.scale * (self.coeff * cos + self.lamda * smooth)
        loss.backward()
        self.record_loss("clean_loss", clean)
        self.record_loss("cos_loss", cos)
        self.record_loss("smooth_loss", smooth)
        self.record_loss("smooth_eps", eps)
        for j, value in enumerate(member_losses):
            self.record_loss(f"member{j}_loss", value)
        y_pred = self.module_.combine_logits(torch.stack(logits))
        return {"loss": loss, "y_pred": y_pred}
