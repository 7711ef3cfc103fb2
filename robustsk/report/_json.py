"""Values made JSON-friendly for report.json and info.json."""
import numpy as np

__all__ = ["jsonable"]


def jsonable(value):
    """``value`` with numpy scalars, tuples and unknown objects made JSON-friendly."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)
