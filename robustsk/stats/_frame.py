"""Helpers that turn a tidy evaluation frame into paired outcome vectors.

A tidy frame has one row per (example, eps, attack[, defense]) with the
columns ``example_id``, ``eps``, ``attack``, ``correct`` and optionally
``defense``. Paired statistics pair rows by ``example_id``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._validation import TIDY_COLUMNS, check_correct

__all__ = ["check_tidy_frame", "paired_correct", "single_cell_correct"]

_GROUPING = ("eps", "attack", "defense")


def check_tidy_frame(frame, name="frame"):
    """Validate a tidy frame and return a copy with a boolean ``correct``."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"{name} must be a pandas DataFrame with columns "
            f"{', '.join(TIDY_COLUMNS)} (and optionally defense); got "
            f"{type(frame).__name__}."
        )
    missing = [c for c in TIDY_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} lacks the column(s) {', '.join(missing)}; a tidy "
            f"evaluation frame needs {', '.join(TIDY_COLUMNS)} (and optionally "
            f"defense). Got columns {list(frame.columns)}."
        )
    if len(frame) == 0:
        raise ValueError(f"{name} has no rows; expected one row per example, eps and attack.")
    out = frame.copy()
    out["correct"] = check_correct(out["correct"], f"{name}['correct']")
    if out["eps"].isna().any() or out["example_id"].isna().any():
        raise ValueError(f"{name} has missing values in 'eps' or 'example_id'; drop or fill them.")
    for label in ("attack", "defense"):
        if label in out.columns and out[label].isna().any():
            raise ValueError(
                f"{name}['{label}'] has {int(out[label].isna().sum())} missing value(s): "
                f"expected a {label} name on every row (a missing one would be pooled with "
                "the others or compared as a level 'nan'). Fill or drop those rows.")
    eps = pd.to_numeric(out["eps"], errors="coerce")
    if eps.isna().any() or not np.isfinite(eps).all() or (eps < 0).any():
        bad = out["eps"][eps.isna() | ~np.isfinite(eps.fillna(0)) | (eps < 0)].iloc[0]
        shown = repr(bad) if isinstance(bad, str) else str(bad)
        raise ValueError(f"{name}['eps'] holds {shown}: expected radii, finite numbers >= 0 "
                         "(0 for clean accuracy). Fix or drop those rows.")
    return out


def _select(frame, eps=None, attack=None, defense=None):
    for col, value in (("eps", eps), ("attack", attack), ("defense", defense)):
        if value is None:
            continue
        if col not in frame.columns:
            raise ValueError(f"cannot select {col}={value!r}: the frame has no {col!r} column.")
        kept = frame[frame[col] == value]
        if kept.empty:
            levels = sorted(frame[col].unique().tolist(), key=str)
            raise ValueError(f"{col}={value!r} matches no row; available levels: {levels}.")
        frame = kept
    return frame


def _require_single(frame, columns, what):
    for col in columns:
        if col in frame.columns and frame[col].nunique() > 1:
            levels = sorted(frame[col].unique().tolist(), key=str)
            raise ValueError(
                f"{what} needs a single {col}; the frame has {len(levels)} "
                f"levels {levels}. Select one with {col}=..., or filter the "
                f"frame first."
            )


def single_cell_correct(frame, eps=None, attack=None, defense=None):
    """The ``correct`` vector of one (eps, attack, defense) cell."""
    frame = _select(check_tidy_frame(frame), eps, attack, defense)
    _require_single(frame, _GROUPING, "an accuracy interval")
    if frame["example_id"].duplicated().any():
        raise ValueError("the frame has duplicated example_id within one cell; expected one row per example.")
    return frame.set_index("example_id")["correct"]


def paired_correct(frame, by="defense", eps=None, attack=None, defense=None):
    """Pivot a tidy frame to one boolean column per level of ``by``.

    Parameters
    ----------
    frame : DataFrame
        Tidy frame with columns ``example_id``, ``eps``, ``attack``,
        ``correct`` and optionally ``defense``.
    by : {"defense", "attack", "eps"}, default="defense"
        The column whose levels are compared (one output column each).
    eps, attack, defense : optional
        Keep only rows with this value first; the remaining grouping
        columns other than ``by`` must then have a single level.

    Returns
    -------
    DataFrame of shape (n_examples, n_levels)
        Indexed by ``example_id``, columns the levels of ``by`` in sorted
        order. Every example must be measured under every level.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"example_id": [0, 1, 0, 1], "eps": 0.1,
    ...                       "attack": "pgd", "defense": ["a", "a", "b", "b"],
    ...                       "correct": [True, False, True, True]})
    >>> paired_correct(frame).shape
    (2, 2)
    """
    frame = check_tidy_frame(frame)
    if by not in frame.columns:
        raise ValueError(f"by={by!r} is not a column of the frame; expected one of {list(_GROUPING)}.")
    frame = _select(frame, eps, attack, defense)
    _require_single(frame, [c for c in _GROUPING if c != by], f"pairing by {by!r}")
    if frame.duplicated(["example_id", by]).any():
        raise ValueError(
            f"the frame has more than one row for some (example_id, {by}); "
            f"expected one outcome per example and level."
        )
    wide = frame.pivot(index="example_id", columns=by, values="correct")
    wide = wide[sorted(wide.columns, key=lambda v: (str(type(v)), v))]
    n_missing = int(wide.isna().any(axis=1).sum())
    if n_missing:
        raise ValueError(
            f"{n_missing} example_id(s) are not measured under every {by} "
            f"level {list(wide.columns)}; paired tests need each example under "
            f"each level. Drop the unpaired examples first."
        )
    wide = wide.astype(bool)
    wide.columns = [str(c) for c in wide.columns]
    return wide
