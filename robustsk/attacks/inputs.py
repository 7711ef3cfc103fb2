"""Attacks work on arrays; a scikit-learn model fitted on a DataFrame is asked in its columns.

A ``Pipeline`` whose ``ColumnTransformer`` selects columns by name cannot
predict a bare array, and any estimator fitted on a DataFrame warns that the
array "does not have valid feature names". :func:`model_input` gives the
adversarial examples back the column names the model was fitted with.
"""
import numpy as np
import torch

__all__ = ["model_input"]


def model_input(estimator, X):
    """``X`` as ``estimator`` expects it: a DataFrame of its ``feature_names_in_`` if it has them.

    Parameters
    ----------
    estimator : fitted estimator
    X : array-like or Tensor of shape (n_samples, n_features)

    Returns
    -------
    X : ``X`` unchanged, or a ``pandas.DataFrame`` with the fitted column names

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    >>> clf = LogisticRegression().fit(X, [0, 0, 1, 1])
    >>> list(model_input(clf, np.zeros((1, 2))).columns)
    ['a', 'b']
    """
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return X
    if torch.is_tensor(X):
        X = X.detach().cpu().numpy()
    array = np.asarray(X)
    if array.ndim != 2 or array.shape[1] != len(names):
        return X
    import pandas as pd
    return pd.DataFrame(array, columns=list(names))
