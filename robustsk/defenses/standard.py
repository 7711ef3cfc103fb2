"""The undefended baseline."""
from ..base import RobustClassifier

__all__ = ["StandardTraining"]


class StandardTraining(RobustClassifier):
    """Ordinary (clean) training: the baseline every defense is compared with.

    It trains on clean data only; its threat model (``eps``, ``norm``, the box)
    is used by :meth:`score_adversarial`. All parameters are those of
    :class:`~robustsk.base.RobustClassifier`.

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import StandardTraining
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = StandardTraining(max_epochs=5, clip_min=0, clip_max=1, random_state=0)
    >>> clf.fit(X[:500], y[:500]).score(X[500:700], y[500:700]) > 0.5
    True
    """
