"""``--model PATH``: a user's fitted, pickled classifier in place of the trained defenses.

Loading a pickle runs code from the file: only load files you trust.
"""
from pathlib import Path

import numpy as np

from .options import ReportOptionError

__all__ = ["load_model", "check_model_input", "model_name", "is_differentiable"]


def load_model(path):
    """Unpickle a fitted classifier (``pickle`` or ``joblib`` files). Trusted files only."""
    path = Path(path)
    if not path.is_file():
        raise ReportOptionError(f"--model {path}: no such file. Give the path of a fitted "
                                "classifier saved with pickle.dump or joblib.dump.")
    import joblib
    try:
        model = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 -- any unpickling failure is a bad file
        raise ReportOptionError(f"--model {path}: could not unpickle it ({type(exc).__name__}: "
                                f"{exc}). Expected a fitted scikit-learn classifier saved with "
                                "pickle.dump or joblib.dump.") from None
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
