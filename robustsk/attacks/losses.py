"""Attack losses: each maps logits to one value per example, to be maximised.

Every loss has the signature ``loss(logits, y, *, clean_logits=None,
y_target=None) -> Tensor of shape (n,)``. A targeted attack maximises the
negated loss towards ``y_target`` for CE and margin; the targeted DLR loss is
already written for the target.

References
----------
.. [1] Carlini, N. and Wagner, D. "Towards Evaluating the Robustness of Neural
   Networks." IEEE S&P, 2017 (margin loss).
.. [2] Zhang, H. et al. "Theoretically Principled Trade-off between Robustness
   and Accuracy." ICML, 2019 (KL to the clean prediction).
.. [3] Croce, F. and Hein, M. "Reliable evaluation of adversarial robustness with
   an ensemble of diverse parameter-free attacks." ICML, 2020 (DLR).
"""
import torch.nn.functional as F

__all__ = ["cross_entropy", "kl_to_clean", "margin", "dlr", "targeted_dlr", "get_loss",
           "LOSSES"]


def cross_entropy(logits, y, **_):
    """Per-example cross-entropy of the logits against ``y``."""
    return F.cross_entropy(logits, y, reduction="none")


def kl_to_clean(logits, y=None, *, clean_logits, **_):
    """``KL(softmax(clean_logits) || softmax(logits))`` per example (TRADES's inner loss)."""
    p_clean = F.softmax(clean_logits, dim=1)
    return (p_clean * (F.log_softmax(clean_logits, dim=1) - F.log_softmax(logits, dim=1))).sum(1)


def _other_max(logits, y):
    other = logits.clone()
    other.scatter_(1, y[:, None], float("-inf"))
    return other.amax(dim=1)


def margin(logits, y, **_):
    """Carlini-Wagner margin ``max_{j != y} z_j - z_y`` (positive once misclassified)."""
    return _other_max(logits, y) - logits.gather(1, y[:, None]).squeeze(1)


def check_n_classes(logits, k, name):
    """Raise ``ValueError`` unless ``logits`` have at least ``k`` classes (loss ``name``)."""
    if logits.shape[1] < k:
        raise ValueError(
            f"The {name} loss needs at least {k} classes; the model has {logits.shape[1]}. "
            "Use loss='ce' or loss='margin' for this model."
        )


def dlr(logits, y, **_):
    """Difference of logits ratio, ``-(z_y - max_{i!=y} z_i) / (z_pi1 - z_pi3)``."""
    check_n_classes(logits, 3, "DLR")
    srt = logits.sort(dim=1, descending=True).values
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    return -(z_y - _other_max(logits, y)) / (srt[:, 0] - srt[:, 2] + 1e-12)


def targeted_dlr(logits, y, *, y_target, **_):
    """Targeted DLR, ``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)``."""
    check_n_classes(logits, 4, "targeted DLR")
    srt = logits.sort(dim=1, descending=True).values
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    z_t = logits.gather(1, y_target[:, None]).squeeze(1)
    return -(z_y - z_t) / (srt[:, 0] - 0.5 * (srt[:, 2] + srt[:, 3]) + 1e-12)


LOSSES = {
    "ce": cross_entropy,
    "kl": kl_to_clean,
    "margin": margin,
    "cw": margin,
    "dlr": dlr,
    "dlr-targeted": targeted_dlr,
}

#: Losses that need the clean logits.
NEEDS_CLEAN = {kl_to_clean}
#: Losses written for a target: used as they are, not negated.
TARGET_AWARE = {targeted_dlr}


def get_loss(loss):
    """Resolve a loss name or callable."""
    if callable(loss):
        return loss
    try:
        return LOSSES[str(loss).lower()]
    except KeyError:
        raise ValueError(
            f"loss={loss!r} is unknown: expected one of {sorted(LOSSES)} or a callable "
            "loss(logits, y, **kwargs) returning one value per example."
        ) from None


def objective(loss, targeted):
    """The per-example function an attack maximises for ``loss`` (targeted or not)."""
    fn = get_loss(loss)
    if not targeted or fn in TARGET_AWARE:
        return fn

    def towards_target(logits, y, *, y_target, **kwargs):
        return -fn(logits, y_target, **kwargs)
    return towards_target
