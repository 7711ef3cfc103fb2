"""Run the R twins of :mod:`robustsk.stats` through rpy2 (``backend="r"``).

rpy2 is imported lazily, on the first call with ``backend="r"``. The R code
is found, in this order:

1. the directory named by the environment variable ``ROBUSTSK_R_SOURCE``
   (its ``*.R`` files are sourced);
2. ``r_compat/R`` of a source checkout next to this package;
3. the installed R package ``robustsk`` (``R CMD INSTALL r_compat``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..r_exit import guard_r_exit

__all__ = ["RBackendError", "r_call", "r_available", "import_robjects"]

INSTALL_HINT = (
    "Install R and rpy2 to use backend='r': "
    "`apt-get update && apt-get install -y --no-install-recommends r-base-core "
    "r-cran-sandwich` then `pip install rpy2==3.5.17` (rpy2 3.6 does not work "
    "with R 4.2). Or use backend='python'."
)

_STATE = {"env": None}


class RBackendError(ImportError):
    """R, rpy2 or the R twins of robustsk.stats cannot be loaded."""


def _source_dirs():
    env = os.environ.get("ROBUSTSK_R_SOURCE")
    if env:
        yield Path(env)
    yield Path(__file__).resolve().parents[2] / "r_compat" / "R"


def import_robjects():
    """Import ``rpy2.robjects`` without leaving R's library path in the environment.

    Starting R sets ``LD_LIBRARY_PATH`` to R's library folders (and the
    system's). Child processes started afterwards inherit it, and a Python
    interpreter built with a shared libpython (pyenv, for instance) may then
    load the system's libpython instead of its own and fail to find its
    packages: joblib's workers die at start-up (``GridSearchCV(n_jobs=2)``).
    R's libraries are already loaded once it has started, so the variable is
    restored to what it was.
    """
    saved = os.environ.get("LD_LIBRARY_PATH")
    try:
        import rpy2.robjects as ro
    finally:
        if saved is None:
            os.environ.pop("LD_LIBRARY_PATH", None)
        else:
            os.environ["LD_LIBRARY_PATH"] = saved
    guard_r_exit()
    return ro


def _load():
    if _STATE["env"] is not None:
        return _STATE["env"]
    try:
        ro = import_robjects()
    except Exception as exc:  # ImportError, or R itself failing to start
        raise RBackendError(f"backend='r' could not start R through rpy2 ({exc}). {INSTALL_HINT}") from exc
    for directory in _source_dirs():
        files = sorted(directory.glob("*.R")) if directory.is_dir() else []
        if files:
            env = ro.r["new.env"]()
            for file in files:
                ro.r["sys.source"](str(file), envir=env)
            break
    else:
        has_pkg = bool(ro.r("isTRUE(requireNamespace(\"robustsk\", quietly = TRUE))")[0])
        if not has_pkg:
            raise RBackendError(
                "backend='r' needs the R twins: neither r_compat/R of a source "
                "checkout nor the R package 'robustsk' was found. Run "
                "`R CMD INSTALL r_compat` from the repository root, or set "
                "ROBUSTSK_R_SOURCE to the r_compat/R directory."
            )
        env = ro.r('asNamespace("robustsk")')
    has_sandwich = ro.r("isTRUE(requireNamespace(\"sandwich\", quietly = TRUE))")[0]
    _STATE["env"] = env
    _STATE["sandwich"] = bool(has_sandwich)
    return env


def r_available():
    """True if rpy2, R and the R twins load (without raising)."""
    try:
        _load()
    except RBackendError:
        return False
    return True


_INT32_MIN, _INT32_MAX = -(2**31) + 1, 2**31 - 1  # R's NA_integer_ is -2**31


def _to_r(value):
    import rpy2.robjects as ro

    if value is None:
        return ro.NULL
    if isinstance(value, (bool, np.bool_)):
        return ro.BoolVector([bool(value)])
    if isinstance(value, (int, np.integer)):
        if not _INT32_MIN <= value <= _INT32_MAX:  # R's integers are 32-bit; doubles are exact
            return ro.FloatVector([float(value)])  # to 2**53
        return ro.IntVector([int(value)])
    if isinstance(value, (float, np.floating)):
        return ro.FloatVector([float(value)])
    if isinstance(value, str):
        return ro.StrVector([value])
    if isinstance(value, pd.DataFrame):
        cols = {str(c): _to_r(value[c].to_numpy()) for c in value.columns}
        return ro.r["data.frame"](**cols, stringsAsFactors=False, check_names=False)
    arr = np.asarray(value)
    if arr.ndim == 2:
        flat = _to_r(arr.T.ravel())  # R matrices are column-major
        return ro.r["matrix"](flat, nrow=arr.shape[0], ncol=arr.shape[1])
    if arr.dtype == bool:
        return ro.BoolVector(arr.tolist())
    if arr.dtype.kind in "iu":
        if arr.size and not (_INT32_MIN <= arr.min() and arr.max() <= _INT32_MAX):
            return ro.FloatVector(arr.astype(float).tolist())
        return ro.IntVector(arr.tolist())
    if arr.dtype.kind == "f":
        return ro.FloatVector(arr.tolist())
    return ro.StrVector([str(v) for v in arr.tolist()])


def _from_r(obj):
    """Convert an R result (list / data.frame / vector) to Python objects."""
    import rpy2.rinterface as ri
    import rpy2.robjects as ro

    if obj is ro.NULL or isinstance(obj, type(ri.NULL)):
        return None
    rclass = list(obj.rclass) if hasattr(obj, "rclass") else []
    if "data.frame" in rclass:
        data = {name: _vector(obj.rx2(name)) for name in obj.names}
        return pd.DataFrame(data)
    if isinstance(obj, (ro.vectors.ListVector, ri.ListSexpVector)):
        names = list(obj.names) if obj.names is not ro.NULL else []
        return {n: _from_r(obj.rx2(n)) for n in names}
    values = _vector(obj)
    if len(values) == 1 and not ("matrix" in rclass or "array" in rclass):
        return values[0]
    if "matrix" in rclass:
        dim = tuple(obj.dim)
        return np.asarray(values).reshape(dim, order="F")
    return values


def _vector(obj):
    import rpy2.robjects as ro

    if isinstance(obj, ro.vectors.FactorVector):
        levels = list(obj.levels)
        return np.array([levels[i - 1] for i in obj], dtype=object)
    if isinstance(obj, ro.vectors.StrVector):
        return np.array([None if v is ro.NA_Character else str(v) for v in obj], dtype=object)
    if isinstance(obj, ro.vectors.BoolVector):
        return np.array([bool(v) if v is not ro.NA_Logical else False for v in obj])
    if isinstance(obj, ro.vectors.IntVector):
        return np.array([np.nan if v is ro.NA_Integer else v for v in obj], dtype=float)
    return np.array(list(obj), dtype=float)


def r_call(name, *args, **kwargs):
    """Call the R twin ``name`` with converted arguments; return Python objects."""
    env = _load()  # raises RBackendError with install instructions first
    import rpy2.rinterface_lib.embedded as embedded
    import rpy2.robjects as ro

    fun = ro.r["get"](name, envir=env)
    r_args = [_to_r(a) for a in args]
    r_kwargs = {k: _to_r(v) for k, v in kwargs.items()}
    try:
        result = fun(*r_args, **r_kwargs)
    except embedded.RRuntimeError as exc:
        raise RuntimeError(f"the R twin {name}() failed: {exc}") from exc
    return _from_r(result)
