"""``--model PATH``: a user's fitted classifier in place of the trained defenses.

The file is read with :func:`robustsk.io.load` (robustsk's safe format, or a
skops file), which runs no code from it. A pickle or joblib file runs code
when it is loaded, so it is refused unless the user opts in with
``--trust-pickle``.
"""
from pathlib import Path

import numpy as np

from .options import ReportOptionError

__all__ = ["load_model", "check_model_input", "model_name", "is_differentiable"]

_SAVE_HINT = ("Save the fitted classifier with robustsk.io.save(model, path) (or "
              "skops.io.dump).")


def load_model(path, trust_pickle=False, trusted=None):
    """Load a fitted classifier saved with ``robustsk.io.save`` or ``skops.io.dump``.

    Parameters
    ----------
    path : str or path-like
    trust_pickle : bool, default=False
        Also accept pickle and joblib files (``--trust-pickle``): loading one
        runs code from the file, so only for files you trust.
    trusted : list of str, default=None
        Further types or modules to trust (``--trust``), as in
        :func:`robustsk.io.load`.

    Raises
    ------
    ReportOptionError
        A missing, corrupted, unsafe or incompatible file, or an object that
        is not a fitted classifier; the message says what to do.
    """
    from .. import io as rio
    path = Path(path)
    if not path.is_file():
        raise ReportOptionError(f"--model {path}: no such file. Give the path of a fitted "
                                "classifier. " + _SAVE_HINT)
    try:
        model = rio.load(path, trusted=trusted)
    except rio.PickleFileError as exc:
        if not trust_pickle:
            raise ReportOptionError(f"--model {exc} If you trust the file's author, pass "
                                    "--trust-pickle to unpickle it.") from None
        model = _unpickle(path)
    except rio.UnsafeFileError as exc:
        raise ReportOptionError(f"--model {exc} On the command line: --trust "
                                f"{','.join(exc.untrusted)}") from None
    except rio.ModelFileError as exc:
        raise ReportOptionError(f"--model {exc}") from None
    except OSError as exc:
        raise ReportOptionError(f"--model {path}: cannot read it ({exc}).") from None
    if not hasattr(model, "predict"):
        raise ReportOptionError(f"--model {path}: the file holds a {type(model).__name__}, "
                                "which has no predict method: expected a fitted scikit-learn "
                                "classifier.")
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted
    try:
        check_is_fitted(model)
    except (NotFittedError, TypeError) as exc:
        raise ReportOptionError(f"--model {path}: {exc} Save the classifier after fit.") \
            from None
    if not (hasattr(model, "predict_proba") or hasattr(model, "decision_function")):
        raise ReportOptionError(f"--model {path}: {type(model).__name__} has neither "
                                "predict_proba nor decision_function; the attacks need the "
                                "classifier's scores.")
    return model


def _unpickle(path):
    import joblib
    try:
        return joblib.load(path)
    except Exception as exc:  # noqa: BLE001 -- any unpickling failure is a bad file
        raise ReportOptionError(f"--model {path}: could not unpickle it ({type(exc).__name__}: "
                                f"{exc}). Expected a fitted scikit-learn classifier saved with "
                                "pickle.dump or joblib.dump. " + _SAVE_HINT) from None


def model_name(model):
    """The model's row name in the table: its class, or the pipeline's last step."""
    from sklearn.pipeline import Pipeline
    if isinstance(model, Pipeline):
        return f"Pipeline({type(model.steps[-1][1]).__name__})"
    return type(model).__name__


def check_model_input(model, X, y, dataset, flatten):
    """Fail clearly when the dataset's inputs or labels do not fit the model."""
    shape = tuple(X.shape[1:])
    hint = ("a model fitted on flat 64-feature digits needs --flatten; an image model "
            "(robustsk's CNN) needs images, without --flatten")
    n_features = getattr(model, "n_features_in_", None)
    input_shape = getattr(model, "input_shape_", None)
    expected = None
    if input_shape is not None and tuple(input_shape) != shape:
        expected = f"examples of shape {tuple(input_shape)}"
    elif input_shape is None and n_features is not None and (len(shape) != 1 or
                                                             shape[0] != n_features):
        expected = f"{n_features} flat features"
    if expected is None:
        try:
            model.predict(X[:2])
        except Exception as exc:  # noqa: BLE001 -- report any failure with the shapes
            expected = f"another input ({type(exc).__name__}: {exc})"
    if expected is not None:
        given = f"flat {shape[0]}-feature" if len(shape) == 1 else f"{shape}-shaped"
        raise ReportOptionError(
            f"--model: {model_name(model)} expects {expected}, but --dataset {dataset}"
            f"{' --flatten' if flatten else ''} gives {given} inputs: {hint}.")
    classes = getattr(model, "classes_", None)
    if classes is not None and not np.isin(np.unique(y), classes).all():
        raise ReportOptionError(
            f"--model: {model_name(model)} was fitted on the classes "
            f"{np.asarray(classes).tolist()[:20]}, but --dataset {dataset} has the labels "
            f"{np.unique(y).tolist()[:20]}: evaluate it on the data set it was trained for.")


def is_differentiable(model):
    """Whether the gradient attacks can differentiate ``model``."""
    from ..attacks import as_target
    try:
        as_target(model)
    except TypeError:
        return False
    return True
