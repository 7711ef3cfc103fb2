"""Statistics for adversarial-robustness evaluations.

Inputs are per-example boolean outcomes ("correct under attack") as numpy
arrays, lists or pandas Series, or a tidy DataFrame with columns
``example_id``, ``eps``, ``attack``, ``correct`` (and optionally
``defense``), paired by ``example_id``. Every function returns a frozen
dataclass and takes ``backend="python"`` (statsmodels / scipy) or
``backend="r"`` (the R twin in ``r_compat/``, run through rpy2); both
backends return the same type and agree to about 1e-8.

R's behaviour is the reference where statsmodels and R differ; the Python
backend follows R in these places (see ``robustsk/stats/README.md``):

- Wilson and Clopper-Pearson bounds are exactly 0 at 0 successes and
  exactly 1 at n successes (R's ``prop.test`` / ``binom.test``).
- McNemar's continuity correction is not applied when b == c (R's
  ``mcnemar.test``; statsmodels would give 1/(2b)); the asymptotic
  statistic and p-value are NaN when b + c == 0 (as in R).
- Exact McNemar reports ``statistic = b`` (R's ``binom.test(b, b + c)``),
  not statsmodels' ``min(b, c)``.

Deliberate departures from R, identical in both backends:

- Exact McNemar with b + c == 0 returns p = 1, where R's ``binom.test``
  stops with an error.
- Agresti-Coull has no base-R function; both backends implement the formula
  and truncate to [0, 1].
"""

from ._frame import paired_correct
from ._rbackend import RBackendError, r_available
from .bootstrap import PairedBootstrapResult, bootstrap_indices, paired_bootstrap
from .clopper_pearson import ClopperPearsonBound, clopper_pearson_bound
from .cochran import CochranQResult, cochran_q
from .curve import RobustnessCurve, SeparationError, SeparationWarning, robustness_curve
from .cv_compare import CVComparison, compare_cv_results, cv_scores
from .defense_comparison import (
    DefenseComparison,
    compare_defenses,
    compare_paired,
    newcombe_paired_interval,
)
from .interval import AccuracyInterval, accuracy_interval
from .mcnemar import McNemarResult, mcnemar
from .per_class import PerClassAccuracy, per_class_accuracy
from .power import McNemarPower, mcnemar_power, mcnemar_sample_size
from .robust_accuracy import RobustAccuracy, robust_accuracy_from_correct
from .selection import (
    MarginSelection,
    WithinMarginSelector,
    explain_selection,
    one_standard_error_rule,
    select_within_margin,
)

__all__ = [
    "AccuracyInterval",
    "CVComparison",
    "ClopperPearsonBound",
    "CochranQResult",
    "DefenseComparison",
    "MarginSelection",
    "McNemarPower",
    "McNemarResult",
    "PairedBootstrapResult",
    "PerClassAccuracy",
    "RBackendError",
    "RobustAccuracy",
    "RobustnessCurve",
    "SeparationError",
    "SeparationWarning",
    "WithinMarginSelector",
    "accuracy_interval",
    "bootstrap_indices",
    "clopper_pearson_bound",
    "cochran_q",
    "compare_cv_results",
    "compare_defenses",
    "compare_paired",
    "cv_scores",
    "explain_selection",
    "mcnemar",
    "mcnemar_power",
    "mcnemar_sample_size",
    "newcombe_paired_interval",
    "one_standard_error_rule",
    "paired_bootstrap",
    "paired_correct",
    "per_class_accuracy",
    "r_available",
    "robust_accuracy_from_correct",
    "robustness_curve",
    "select_within_margin",
]
