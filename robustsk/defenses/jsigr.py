"""J-SIGR: Jacobian norm and selective input gradient regularization (Liu et al., 2024)."""
import torch

from ..attacks import Randomness, input_gradient
from ..attacks.losses import cross_entropy
from ..base import RobustClassifier
from ..params import Interval

__all__ = ["JacobianSaliencyRegularization", "jacobian_frobenius_estimate",
           "low_saliency_mask"]


def _projection(logits, y, v):
    return (logits * v).sum(1)


def jacobian_frobenius_estimate(model, x, *, n_projections=1, random_state=None,
                                create_graph=False, n_classes=None):
    """Random-projection estimate of ``||d model(x) / dx||_F^2`` per example.

    ``C / n_projections * sum_v ||v^T J||^2`` with ``v`` uniform on the unit
    sphere of the logit space ``R^C`` (Hoffman et al., 2019); unbiased, since
    ``E[v v^T] = I / C``. Each projection costs one forward and one backward
    pass.

    Parameters
    ----------
    model : torch.nn.Module
    x : Tensor of shape (n, ...)
    n_projections : int, default=1
    random_state : Randomness, torch.Generator, int or None, default=None
        Source of the directions ``v``.
    create_graph : bool, default=False
        Keep the graph (to train on the estimate).
    n_classes : int, default=None
        The number of logits; found by a forward pass on one example when None.

    Returns
    -------
    Tensor of shape (n,)

    References
    ----------
    .. [1] Hoffman, J., Roberts, D. A. and Yaida, S. "Robust Learning with
       Jacobian Regularization." arXiv:1908.02729, 2019.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(3, 2, bias=False)
    >>> jacobian_frobenius_estimate(model, torch.zeros(4, 3), random_state=0).shape
    torch.Size([4])
    """
    rng = Randomness.coerce(random_state, len(x))
    if n_classes is None:
        with torch.no_grad():
            n_classes = model(x[:1]).shape[1]
    total = 0.0
    for _ in range(n_projections):
        v = rng.normal(x.new_empty(len(x), n_classes))
        v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
        _, _, grad = input_gradient(model, x, None, _projection, create_graph=create_graph, v=v)
        total = total + grad.flatten(1).pow(2).sum(1)
    return total * (n_classes / n_projections)


def low_saliency_mask(grad, quantile):
    """Per example, the features whose ``|grad|`` is at most its ``quantile``-quantile.

    Parameters
    ----------
    grad : Tensor of shape (n, ...)
        Input gradients (detached here).
    quantile : float in [0, 1]
        1 selects every feature; 0 the least salient one(s) only.

    Returns
    -------
    BoolTensor of the shape of ``grad``

    Examples
    --------
    >>> import torch
    >>> low_saliency_mask(torch.tensor([[0.1, -3.0, 0.2, 2.0]]), 0.5).tolist()
    [[True, False, True, False]]
    """
    saliency = grad.detach().abs().flatten(1)
    threshold = torch.quantile(saliency, quantile, dim=1, keepdim=True)
    return (saliency <= threshold).view_as(grad)


class JacobianSaliencyRegularization(RobustClassifier):
    """J-SIGR: clean CE plus a Jacobian-norm and a selective input-gradient penalty.

    The loss (train mode, clean inputs, no attack) is::

        CE(f(x), y) + lambda_jacobian * ||J(x)||_F^2
                    + lambda_saliency * ||mask(x) * grad_x CE(f(x), y)||^2

    each term averaged over the batch. ``J`` is the Jacobian of the logits
    with respect to the input, its squared Frobenius norm estimated with
    ``n_projections`` random projections (:func:`jacobian_frobenius_estimate`,
    directions from the training random stream). Both penalties are trained
    by double backpropagation.

    The mask is our choice (the paper's rule and weights are not published
    with code): per example, the input features whose ``|grad_x CE|``
    (detached) is at most the ``saliency_quantile``-quantile of that
    example's gradient magnitudes (:func:`low_saliency_mask`). Penalising the
    gradient only on the features the model does *not* rely on flattens the
    loss in the directions that carry no class evidence, where adversarial
    perturbations and noise act, while leaving the salient features free, so
    the saliency map becomes sparser and the clean fit suffers less than
    under plain input gradient regularization (``saliency_quantile=1``,
    Ross & Doshi-Velez, 2018).

    The history records ``train_clean_loss`` (the CE), ``train_jacobian_penalty``
    and ``train_saliency_penalty`` (both before their weights). The threat
    model parameters are unused in training (no attack); they remain the
    defaults of ``score_adversarial``.

    Parameters
    ----------
    lambda_jacobian : float, default=0.01
        Weight of the Jacobian penalty (our default: on digits in [0, 1] it
        cuts the Jacobian norm several-fold at a small cost in accuracy).
    lambda_saliency : float, default=1.0
        Weight of the selective input-gradient penalty (our default).
    n_projections : int, default=1
        Random projections per batch for the Jacobian estimate (Hoffman et
        al. found one enough; each costs a forward and backward pass).
    saliency_quantile : float in [0, 1], default=0.5
        Per-example quantile of ``|grad_x CE|`` below which features are
        penalised: 0.5 masks the less salient half of the features.
    **kwargs
        Every parameter of :class:`~robustsk.base.RobustClassifier`.

    References
    ----------
    .. [1] Liu, D., Wu, L., Li, B., Boussaid, F., Bennamoun, M., Xie, X. and
       Liang, C. "Jacobian norm with Selective Input Gradient Regularization
       for interpretable adversarial defense." Pattern Recognition, 2024
       (arXiv:2207.13036).
    .. [2] Hoffman, J., Roberts, D. A. and Yaida, S. "Robust Learning with
       Jacobian Regularization." arXiv:1908.02729, 2019.
    .. [3] Ross, A. S. and Doshi-Velez, F. "Improving the Adversarial Robustness
       and Interpretability of Deep Neural Networks by Regularizing their
       Input Gradients." AAAI, 2018.

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import JacobianSaliencyRegularization
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = JacobianSaliencyRegularization(max_epochs=1, random_state=0).fit(X[:200], y[:200])
    >>> "train_jacobian_penalty" in clf.history[-1]
    True
    """

    #: its penalties differentiate the network through input_gradient, without fit_params
    forwards_fit_params = False

    _parameter_constraints = {
        "lambda_jacobian": [Interval(float, 0, None)],
        "lambda_saliency": [Interval(float, 0, None)],
        "n_projections": [Interval(int, 1, None)],
        "saliency_quantile": [Interval(float, 0, 1)],
    }

    def __init__(self, module=None, *, lambda_jacobian=0.01, lambda_saliency=1.0,
                 n_projections=1, saliency_quantile=0.5, **kwargs):
        super().__init__(module, **kwargs)
        self.lambda_jacobian = lambda_jacobian
        self.lambda_saliency = lambda_saliency
        self.n_projections = n_projections
        self.saliency_quantile = saliency_quantile

    def _param_hints(self):
        return {**super()._param_hints(),
                "lambda_jacobian": "Pass a weight >= 0, e.g. lambda_jacobian=0.01 (0 turns the "
                                   "Jacobian penalty off).",
                "lambda_saliency": "Pass a weight >= 0, e.g. lambda_saliency=1.0 (0 turns the "
                                   "saliency penalty off).",
                "n_projections": "Pass an integer >= 1 (random projections per batch).",
                "saliency_quantile": "Pass a quantile in [0, 1], e.g. 0.5 to penalise the less "
                                     "salient half of the features."}

    def train_step_single(self, batch, **fit_params):
        x, y = self.unpack_batch(batch)
        model = self.attack_module()
        ce, logits, grad = input_gradient(model, x, y, cross_entropy, create_graph=True)
        clean = ce.mean()
        loss = clean
        jacobian = saliency = torch.zeros((), device=x.device)
        if self.lambda_jacobian > 0:
            jacobian = jacobian_frobenius_estimate(
                model, x, n_projections=int(self.n_projections),
                random_state=self.training_randomness(), create_graph=True,
                n_classes=logits.shape[1]).mean()
            loss = loss + self.lambda_jacobian * jacobian
        if self.lambda_saliency > 0:
            mask = low_saliency_mask(grad, float(self.saliency_quantile))
            saliency = (grad * mask).flatten(1).pow(2).sum(1).mean()
            loss = loss + self.lambda_saliency * saliency
        loss.backward()
        self.record_loss("clean_loss", clean)
        self.record_loss("jacobian_penalty", jacobian)
        self.record_loss("saliency_penalty", saliency)
        return {"loss": loss, "y_pred": logits}
