"""Per-epoch columns for every named loss term a defense records per batch."""
from skorch.callbacks import Callback

__all__ = ["LossTerms"]

#: batch-level keys skorch itself records and averages
_SKORCH_KEYS = ("train_loss", "train_batch_size")


class LossTerms(Callback):
    """Average each ``train_<term>`` a defense recorded per batch into the epoch row.

    A defense calls :meth:`robustsk.base.RobustClassifier.record_loss` with a
    name and a value inside its training step; this callback (one of every
    robustsk estimator's default callbacks) writes, at the end of each epoch,
    the mean of each such term over the epoch's batches, weighted by batch size
    as skorch weights ``train_loss``. Any number of terms works, and none need
    declaring in advance.

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import TRADES
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = TRADES(max_epochs=1, random_state=0).fit(X[:200], y[:200])
    >>> sorted(k for k in clf.history[-1] if k.endswith("_loss"))
    ['train_clean_loss', 'train_loss', 'train_robust_loss']
    """

    def on_epoch_end(self, net, **kwargs):
        batches = [b for b in net.history[-1]["batches"] if "train_batch_size" in b]
        names = []
        for batch in batches:
            names += [k for k in batch if k.startswith("train_") and k not in _SKORCH_KEYS
                      and k not in names]
        for name in names:
            pairs = [(b[name], b["train_batch_size"]) for b in batches if name in b]
            total = sum(n for _, n in pairs)
            net.history.record(name, sum(v * n for v, n in pairs) / total)
