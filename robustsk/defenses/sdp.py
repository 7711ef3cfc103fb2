"""A one-hidden-layer network trained with its SDP certificate (Raghunathan et al., 2018)."""

from ..base import RobustClassifier
from ..certify.sdp import SDPNet, one_hidden_layer, pairwise_dual_bounds
from ..params import Interval, Norm

__all__ = ["SDPCertifiedNetwork", "sdp_regularizer"]


def sdp_regularizer(module, eps):
    """``(eps / 4) * sum over class pairs of the dual SDP certificate``, differentiable.

    :func:`~robustsk.certify.sdp.pairwise_dual_bounds` in the module's own
    dtype, without refinement: the duals are the Gershgorin duals of each
    pair plus the module's trained ``dual_offset`` (an
    :class:`~robustsk.certify.sdp.SDPNet`), or the Gershgorin duals alone for
    another one-hidden-layer network.

    Returns
    -------
    reg : 0-d Tensor
    bounds : Tensor of shape (n_pairs,)
        The certificates (bounds on ``max_y y^T M y``), for the record.
    """
    bounds = pairwise_dual_bounds(module, dtype=None)
    return (eps / 4) * bounds.sum(), bounds


class SDPCertifiedNetwork(RobustClassifier):
    """One-hidden-layer ReLU network trained with its dual SDP certificate as regulariser.

    The network is ``f(x) = V relu(W x + b) + c`` (:class:`~robustsk.certify.sdp.SDPNet`,
    ``hidden_units`` wide, inputs flattened). For each pair of classes
    ``(i, j)`` the logit gap can grow by at most ``(eps / 4) * max_y y^T M_ij y``
    over an L-infinity ball of radius ``eps``, where ``M_ij`` is the symmetric
    block matrix over the coordinates ``(1, input (d), hidden (m))``::

        M_ij = [[0, (A 1)^T, 0], [A 1, 0, A], [0, A^T, 0]],   A = W^T diag(V_i - V_j)

    (the homogenising coordinate couples with the input block through
    ``A 1``; see :mod:`robustsk.certify.sdp` for the derivation and the check
    of the layout). The dual certificate
    ``B_ij = D lambda_max^+(M_ij - diag(c_ij)) + 1^T max(c_ij, 0)`` bounds that
    maximum for any duals ``c_ij``; the paper trains them jointly with the
    weights, and so do we (``c_ij`` = Gershgorin duals + a trained offset).
    The loss, clean inputs and no attack, is the paper's objective::

        CE(f(x), y) + sdp_weight * (eps / 4) * sum_{i < j} B_ij

    (a sum over the unordered pairs, ``B_ij = B_ji``; the paper writes it over
    ordered pairs with one weight per pair: ``lambda_ij = sdp_weight / 2``). The history records
    ``train_clean_loss`` and ``train_sdp_bound`` (the mean ``(eps / 4) B_ij``,
    the certified growth of a logit gap). Only the L-infinity threat is
    supported. Certify with
    :func:`robustsk.certify.sdp.certify_sdp_dual` (``certification_method``)
    or, solving each SDP, :func:`robustsk.certify.sdp.certify_sdp_exact`.

    Parameters
    ----------
    hidden_units : int, default=100
        Width of the hidden layer (the paper uses 500 on MNIST; one
        eigenvalue problem of size ``1 + d + hidden_units`` per pair of
        classes is solved per batch).
    sdp_weight : float, default=0.01
        Weight of the certificate, summed over the ``C (C - 1) / 2`` pairs, so
        the right weight falls with the number of classes. Our default: on
        digits (10 classes, 32 hidden units, eps=0.1, 15 epochs) it keeps
        clean accuracy at 0.90 (standard training: 0.94) and certifies 0.53
        at eps=0.1 (standard: 0.22), where 0.05 collapsed clean accuracy to
        0.35; on wine (3 classes) 0.05 works best. The paper tunes one weight
        per pair.
    **kwargs
        Every parameter of :class:`~robustsk.base.RobustClassifier`;
        ``eps`` is the certified radius trained for (``norm`` must be "inf";
        ``n_iter`` and ``step_size`` are unused in training).

    Attributes
    ----------
    module_ : SDPNet, or the one-hidden-layer network given as ``module``

    References
    ----------
    .. [1] Raghunathan, A., Steinhardt, J. and Liang, P. "Certified Defenses
       against Adversarial Examples." ICLR, 2018 (arXiv:1801.09344).

    Examples
    --------
    >>> from robustsk.certify.sdp import certify_sdp_dual
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import SDPCertifiedNetwork
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = SDPCertifiedNetwork(hidden_units=32, max_epochs=3, eps=0.05, random_state=0)
    >>> certified, radius = certify_sdp_dual(clf.fit(X[:300], y[:300]), X[300:400],
    ...                                      y[300:400], 0.05, n_dual_steps=0)
    >>> bool((radius[certified] > 0.05).all())
    True
    """

    certification_method = "sdp_dual"

    _parameter_constraints = {
        "hidden_units": [Interval(int, 1, None)],
        "sdp_weight": [Interval(float, 0, None)],
    }

    def __init__(self, module=None, *, hidden_units=100, sdp_weight=0.01, **kwargs):
        super().__init__(module, **kwargs)
        self.hidden_units = hidden_units
        self.sdp_weight = sdp_weight

    def _param_hints(self):
        return {**super()._param_hints(),
                "hidden_units": "Pass an integer >= 1, e.g. hidden_units=100.",
                "sdp_weight": "Pass a weight >= 0, e.g. sdp_weight=0.01 (0: standard "
                              "training of the same network)."}

    def check_params(self):
        if str(self.norm).lower().strip() not in Norm.INF:  # np.inf reads "inf"
            raise ValueError(
                f"norm={self.norm!r}: SDPCertifiedNetwork certifies L-infinity balls only "
                "(Raghunathan et al.'s SDP). Expected norm='inf'; for an L2 threat use "
                "another defense.")

    def initialize_module(self):
        """The default :class:`SDPNet` (``hidden_units`` wide), or the given one-hidden-layer net."""
        if self.module is not None:
            super().initialize_module()
        else:
            kwargs = {"input_shape": self.input_shape_, "n_classes": len(self.classes_),
                      "hidden_units": self.hidden_units, **self.get_params_for("module")}
            self.module_ = self.initialized_instance(SDPNet, kwargs)
        one_hidden_layer(self.module_)
        return self

    def train_step_single(self, batch, **fit_params):
        x, y = self.unpack_batch(batch)
        logits = self.infer(x, **fit_params)
        clean = self.get_loss(logits, y, X=x, training=True)
        loss = clean
        eps = self.threat_.eps
        bounds = None
        if self.sdp_weight > 0 and eps > 0:
            reg, bounds = sdp_regularizer(self.module_, eps)
            loss = loss + self.sdp_weight * reg
        loss.backward()
        self.record_loss("clean_loss", clean)
        self.record_loss("sdp_bound", 0.0 if bounds is None else (eps / 4) * bounds.mean())
        return {"loss": loss, "y_pred": logits}
