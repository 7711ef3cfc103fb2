"""Input checks shared by every statistic in :mod:`robustsk.stats`.

Every error names what was received, what was expected and what to do.
"""

from __future__ import annotations

import difflib
import numbers

import numpy as np
import pandas as pd

__all__ = [
    "align_on_index",
    "TIDY_COLUMNS",
    "check_alpha",
    "check_backend",
    "check_choice",
    "check_correct",
    "check_count",
    "check_flag",
    "check_fold_size",
    "check_paired",
    "is_tidy_frame",
]

#: Columns a tidy evaluation frame must have (``defense`` is optional).
TIDY_COLUMNS = ("example_id", "eps", "attack", "correct")

_BACKENDS = ("python", "r")


def _describe(value):
    """A short description of ``value`` for error messages."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} (type {type(value).__name__})"


def check_choice(value, choices, name):
    """Return ``value`` if it is one of ``choices``, else raise ValueError.

    The error suggests the closest valid choice ("did you mean ...?").
    """
    if isinstance(value, str) and value in choices:
        return value
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.5)
        if close:
            hint = f" Did you mean {close[0]!r}?"
    raise ValueError(
        f"{name} must be one of {', '.join(map(repr, choices))}; "
        f"got {_describe(value)}.{hint}"
    )


def check_backend(backend):
    """Return ``backend`` if it is ``"python"`` or ``"r"``."""
    return check_choice(backend, _BACKENDS, "backend")


def as_whole_number(value):
    """``value`` as an int if it is a whole number (numpy's and integer-valued floats
    too: R passes 100 as a double), else None. Booleans are not numbers here."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and np.isfinite(value) and float(value).is_integer():
        return int(value)
    return None


def check_count(value, name, what="a count"):
    """Return a positive whole number (``100`` or ``100.0``) as an int, else raise.

    Integer-valued floats are accepted because R's numbers are doubles: the
    R twins and reticulate pass ``100`` as ``100.0``.
    """
    count = as_whole_number(value)
    if count is None or count < 1:
        raise ValueError(f"{name} must be a positive whole number ({what}); got "
                         f"{_describe(value)}. Pass e.g. {name}=100.")
    return count


def check_fold_size(value, name):
    """None, or a positive integer number of examples (``n_train``, ``n_test``)."""
    if value is None:
        return None
    count = as_whole_number(value)
    if count is None or count < 1:
        raise ValueError(f"{name} must be a positive integer (a number of examples in one fold, "
                         f"len(train) or len(test) of `train, test = next(cv.split(X, y))`); got {value!r}.")
    return count


def check_flag(value, name):
    """Return ``value`` as a bool if it is ``True`` or ``False`` (numpy's too), else raise.

    1, 0, "yes" or None are refused rather than read as truthy or falsy, as
    the R twins refuse anything but ``TRUE`` or ``FALSE``.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {_describe(value)}. "
                        f"Pass {name}=True or {name}=False.")
    return bool(value)


def check_alpha(alpha, name="alpha"):
    """Return ``alpha`` as a float if ``0 < alpha < 1``, else raise."""
    return check_probability(alpha, name, "e.g. 0.05 for 95% intervals",
                             "Pass the error rate, not the confidence level.")


def check_probability(value, name, example, advice):
    """Return ``value`` as a float strictly between 0 and 1, else raise.

    ``example`` and ``advice`` fill the message (what a good value looks like,
    and the usual mistake: a percentage, the complement).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number strictly between 0 and 1 "
                        f"({example}); got {_describe(value)}.")
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1 ({example}); got "
                         f"{value!r}. {advice}")
    return value


def check_correct(correct, name="correct"):
    """Return a 1-d boolean array from a vector of per-example outcomes.

    Accepts numpy arrays, lists, tuples and pandas Series of ``bool`` or of
    the integers 0 and 1 (also as floats 0.0/1.0). Rejects any other value
    (2, -1, NaN, None, strings), 2-d input and empty input.
    """
    if isinstance(correct, pd.DataFrame):
        raise TypeError(
            f"{name} must be a 1-d vector of per-example booleans; got a "
            f"DataFrame of shape {correct.shape}. Pass one column, e.g. "
            f"frame['correct']."
        )
    if isinstance(correct, (set, frozenset, dict)) or (
            not hasattr(correct, "__len__") and hasattr(correct, "__iter__")):
        raise TypeError(
            f"{name} must be a 1-d vector of per-example booleans in the examples' order "
            f"(list, numpy array or pandas Series); got a {type(correct).__name__}, which "
            f"has no order or length. Pass list(...) of it in the examples' order."
        )
    if isinstance(correct, (str, bytes)) or np.isscalar(correct) or correct is None:
        raise TypeError(
            f"{name} must be a 1-d vector of per-example booleans (list, numpy "
            f"array or pandas Series); got {_describe(correct)}."
        )
    if isinstance(correct, pd.Series):
        values = correct.to_numpy(dtype=object)
    else:
        values = np.asarray(correct, dtype=object)
    try:
        fast = correct.to_numpy() if isinstance(correct, pd.Series) else np.asarray(correct)
    except ValueError:  # ragged nested input; the element loop below reports it
        fast = values
    if fast.ndim == 1 and fast.size > 0:
        # Fast paths for plain boolean or 0/1 numeric arrays.
        if fast.dtype == bool:
            return fast.copy()
        if fast.dtype.kind in "iuf" and np.isin(fast, (0, 1)).all():
            return fast == 1
    if values.ndim != 1:
        raise ValueError(
            f"{name} must be 1-d (one outcome per example); got an array of "
            f"shape {values.shape}. Flatten it or pass one column at a time."
        )
    if values.size == 0:
        raise ValueError(
            f"{name} is empty; expected at least one example's outcome. Check "
            f"that the evaluation produced results before testing them."
        )
    out = np.empty(values.size, dtype=bool)
    for i, v in enumerate(values):
        if isinstance(v, (bool, np.bool_)):
            out[i] = bool(v)
        elif isinstance(v, numbers.Real) and not isinstance(v, bool) and v in (0, 1):
            out[i] = v == 1
        else:
            raise ValueError(
                f"{name} must hold only booleans or 0/1 (correct under attack "
                f"or not); element {i} is {_describe(v)}. Convert predictions "
                f"with (y_pred == y_true) before testing."
            )
    return out


def align_on_index(vectors, names):
    """Pandas Series (all of them) aligned on the first one's index; else unchanged.

    Each index must hold the same, unique labels (a Series index is the
    example_id that pairs the vectors).
    """
    if not (len(vectors) > 1 and all(isinstance(v, pd.Series) for v in vectors)):
        return list(vectors)
    first = vectors[0].index
    for v, nm in zip(vectors, names):
        if not v.index.is_unique:
            raise ValueError(
                f"{nm} has duplicated index labels; a Series index is used "
                f"as example_id to pair the vectors, so it must be unique."
            )
        if len(v.index) != len(first) or not v.index.isin(first).all():
            raise ValueError(
                f"{nm} and {names[0]} index different examples; paired "
                f"tests need the same examples in each. Reindex them to "
                f"the common example_ids, or pass numpy arrays to pair by "
                f"position."
            )
    return [v.reindex(first) for v in vectors]


def check_paired(*vectors, names=None):
    """Validate several outcome vectors measured on the same examples.

    All vectors must have the same length. When every vector is a pandas
    Series, they are aligned on their index (which must hold the same,
    unique labels in each); otherwise they are paired by position.

    Returns
    -------
    list of ndarray of bool
    """
    if names is None:
        names = [f"correct_{i}" for i in range(len(vectors))]
    vectors = align_on_index(vectors, names)
    arrays = [check_correct(v, nm) for v, nm in zip(vectors, names)]
    lengths = [a.size for a in arrays]
    if len(set(lengths)) > 1:
        got = ", ".join(f"{nm}: {n}" for nm, n in zip(names, lengths))
        raise ValueError(
            f"paired outcome vectors must have the same length (one entry per "
            f"example, in the same order); got lengths {got}."
        )
    return arrays


def is_tidy_frame(obj):
    """True if ``obj`` is a DataFrame with the tidy evaluation columns."""
    return isinstance(obj, pd.DataFrame) and all(c in obj.columns for c in TIDY_COLUMNS)
