"""Margin boosting: members trained in turn against the ensemble so far (Zhang et al., 2022)."""
import warnings

from sklearn.exceptions import ConvergenceWarning
import torch

from ..attacks import attack_context, pgd
from ..criteria import MCELoss
from ..ensembles import EnsembleClassifier
from ..params import Options

__all__ = ["MarginBoostingEnsemble"]


class MarginBoostingEnsemble(EnsembleClassifier):
    """Margin boosting: each new member is adversarially trained against the ensemble so far.

    Members are trained one after another (the reference code's "ladder").
    While member ``k`` (counted from 0) is trained, each batch is attacked by
    PGD on the averaged logits of members ``0..k`` (the new one included),
    climbing the criterion's per-example loss (``n_iter`` steps of
    ``step_size`` from a start drawn uniformly within ``eps / 2``, as in the
    reference code; network in ``attack_mode``; last iterate), and only
    member ``k`` is updated:

    - with :class:`~robustsk.criteria.MCELoss` (the default, the paper's
      margin-maximising loss) the loss is the MCE of member ``k``'s own logits
      at the adversarial examples;
    - with any other criterion (e.g. ``torch.nn.CrossEntropyLoss``) the loss
      is that criterion on the averaged logits of members ``0..k``, the
      earlier members' logits held constant.

    Predictions and attacks use the members' averaged logits
    (``combine = "logits"``).

    How epochs map to members: ``max_epochs`` is the budget of the whole
    ensemble, so the estimator runs inside skorch's ordinary epoch loop (the
    history has ``max_epochs`` rows, callbacks and early stopping work). The
    fit's ``max_epochs * n_batches`` training steps are split into
    ``n_members`` consecutive stages of (nearly) equal length, stage ``k``
    training member ``k``; with ``max_epochs = n_members * E`` every member
    gets exactly ``E`` epochs (the reference trains each member for a full
    run). A member's optimizer state starts fresh, since it receives its first
    gradient when its stage begins (torch's optimizers skip parameters without
    a gradient), which matches the reference's one optimizer per member. The
    history records ``train_member`` (the member of each batch, averaged per
    epoch) and ``train_adv_loss``; ``member_steps_`` counts each member's
    steps (over all fits since the last fresh one). The stages follow each
    epoch's place in a run of ``max_epochs`` (epochs count on across
    continued fits): ``partial_fit(X, y, epochs=1)`` called ``max_epochs``
    times runs the stages of one ``fit``, and a continued fit of
    ``max_epochs`` epochs (``warm_start``, ``partial_fit``) runs them again,
    refining each member against the ensemble. The finished members answer
    in eval mode while a later one trains (their batch-norm statistics are
    not updated). A
    fit stopped early (``EarlyStopping``) leaves the members of the stages it
    did not reach at their initial weights (``member_steps_`` shows it).

    Parameters
    ----------
    n_members : int, default=3
        Number of networks (at least 2).
    attack_mode : {"eval", "train"}, default="eval"
        Mode of the networks during the training attack (the reference: eval).
    criterion : torch criterion class, default=MCELoss
        ``MCELoss`` (``criterion__weight``, ``criterion__variant``) or e.g.
        ``torch.nn.CrossEntropyLoss`` (see above).
    **kwargs
        ``module`` (one member's network), the threat model (``eps``,
        ``norm``, ``step_size`` = eps/4, ``n_iter`` = 10, ``clip_min``,
        ``clip_max``) and every other parameter of
        :class:`~robustsk.base.RobustClassifier`.

    Attributes
    ----------
    members_ : list of robustsk.ensembles.EnsembleMember
    member_steps_ : list of int
        Training steps each member received in the last fit.

    References
    ----------
    .. [1] Zhang, D., Zhang, H., Courville, A., Bengio, Y., Ravikumar, P. and
       Suggala, A. S. "Building Robust Ensembles via Margin Boosting." ICML,
       2022. Code: github.com/zdhNarsil/Margin-Boosting.

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import MarginBoostingEnsemble
    >>> X, y = load_digits_images(return_X_y=True)
    >>> ens = MarginBoostingEnsemble(n_members=2, n_iter=2, max_epochs=2, clip_min=0,
    ...                              clip_max=1, random_state=0).fit(X[:200], y[:200])
    >>> ens.member_steps_
    [4, 4]
    """

    combine = "logits"

    _parameter_constraints = {"attack_mode": [Options("eval", "train")]}

    def __init__(self, module=None, *, n_members=3, attack_mode="eval", criterion=MCELoss,
                 **kwargs):
        super().__init__(module, n_members=n_members, criterion=criterion, **kwargs)
        self.attack_mode = attack_mode

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        if not len(self.history) or "member_steps_" not in vars(self):  # a fresh fit
            self.member_steps_ = [0] * len(self.module_.members)
        self.boosting_batches_ = None  # counted once per call, at its first epoch

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train=dataset_train, dataset_valid=dataset_valid,
                               **kwargs)
        # The stages follow the epoch's place in a run of max_epochs (epochs count on
        # across continued fits), not the calls: partial_fit(epochs=1) max_epochs times
        # runs the stages of one fit, and a warm-started fit runs them again.
        if self.boosting_batches_ is None:
            self.boosting_batches_ = len(self.get_iterator(dataset_train, training=True))
        n_batches = self.boosting_batches_
        epochs = max(int(self.max_epochs), 1)
        position = (len(self.history) - 1) % epochs
        self.boosting_total_steps_ = max(epochs * n_batches, 1)
        self.boosting_step_ = position * n_batches
        if position == 0 and self.boosting_total_steps_ < len(self.module_.members):
            warnings.warn(
                f"{self.boosting_total_steps_} training steps for {len(self.module_.members)}"
                " members: the last members get no training step. Raise max_epochs or "
                "lower batch_size or n_members.", ConvergenceWarning, stacklevel=2)

    def current_member(self):
        """The index of the member the current training step updates."""
        n = len(self.module_.members)
        return min(self.boosting_step_ * n // self.boosting_total_steps_, n - 1)

    def train_step_single(self, batch, **fit_params):
        x, y = self.unpack_batch(batch)
        k = self.current_member()
        ensemble = self.module_.subset(k + 1)
        kwargs = self.threat_.attack_kwargs()
        x_adv = pgd(ensemble, x, y, **kwargs, n_iter=self.threat_.n_iter, random_start="uniform",
                    init_eps=kwargs["eps"] / 2, loss=self.attack_loss(), return_best=False,
                    mode=self.attack_mode, random_state=self.training_randomness())
        new = ensemble.members[k](x_adv)
        if k:  # the finished members in eval mode: their batch-norm statistics stay theirs
            earlier_members = ensemble.subset(k)
            with torch.no_grad(), attack_context(earlier_members, "eval"):
                earlier = earlier_members.member_logits(x_adv).sum(0)
            combined = (earlier + new) / (k + 1)
        else:
            combined = new
        own = isinstance(self.criterion_, MCELoss)
        loss = self.get_loss(new if own else combined, y, X=x_adv, training=True)
        loss.backward()
        self.member_steps_[k] += 1
        self.boosting_step_ += 1
        self.record_loss("member", k)
        self.record_loss("adv_loss", loss)
        return {"loss": loss, "y_pred": combined.detach()}
