"""The report's "certified" column: interval bound propagation at the report's eps.

Every model the report evaluates is certified with
:func:`robustsk.certify.certify` (``method="ibp"``, the Linf ball of the
report's ``eps`` in the report's norm, Linf or L2, intersected with the image box): the fraction of test
examples proved correct at every point of the ball. It costs about one forward
pass, is sound (a lower bound of every attack's column), and is loose for
networks not trained for it. Models IBP cannot bound (non-ReLU layers, trees,
a ``RandomizedSmoothingClassifier``, whose certificate is L2 and Monte Carlo)
get no value (``-`` in the table) and a note.
"""
import pandas as pd

__all__ = ["CERTIFIED_COLUMNS", "certify_model", "certified_frame"]

CERTIFIED_COLUMNS = ["defense", "method", "norm", "eps", "certified_accuracy", "ci_low",
                     "ci_high", "n_test", "seconds"]


def certify_model(name, clf, X, y, eps, norm="inf", clip_min=0.0, clip_max=1.0):
    """``(CertificationResult or None, note or None)`` for one model at ``eps`` (IBP), in
    the report's box (a scikit-learn ``--model`` has none of its own)."""
    from ..certify import certify
    try:
        return certify(clf, X, y, eps, norm=norm, method="ibp", clip_min=clip_min,
                       clip_max=clip_max), None
    except TypeError as err:
        reason = str(err).split(":")[0]
        return None, (f"certified: no value for {name}, which interval bound propagation "
                      f"cannot bound ({reason}).")


def certified_frame(results):
    """One row per certified model: :data:`CERTIFIED_COLUMNS`."""
    rows = [{"defense": name, "method": res.method, "norm": res.norm, "eps": res.eps,
             "certified_accuracy": res.certified_accuracy, "ci_low": res.interval.low,
             "ci_high": res.interval.high, "n_test": len(res.certified),
             "seconds": res.seconds} for name, res in results.items() if res is not None]
    return pd.DataFrame(rows, columns=CERTIFIED_COLUMNS).astype(
        {"certified_accuracy": float, "ci_low": float, "ci_high": float, "seconds": float})
