"""What :func:`~robustsk.report.run_report` returns, and how it is printed."""
from dataclasses import dataclass
from pathlib import Path
import platform
from typing import Any

import numpy as np

from ._json import jsonable
from .masking import format_findings
from .options import BASELINE, CERTIFIED
from .stats import format_mcnemar, format_selection

__all__ = ["ReportResult", "jsonable", "versions"]


@dataclass(frozen=True)
class ReportResult:
    """What :func:`~robustsk.report.run_report` measured and wrote.

    Attributes
    ----------
    results : pandas.DataFrame
        Tidy long form, one row per (defense, attack, eps): columns
        ``defense``, ``attack``, ``eps``, ``accuracy``, ``ci_low``, ``ci_high``
        (95% Wilson interval), ``n_test``, ``fit_seconds`` (NaN for a
        ``--model``). Clean accuracy is ``attack="clean", eps=0``.
    table : pandas.DataFrame
        One row per defense (the index): ``fit_seconds``, ``clean``, one
        column per attack (its label, e.g. ``"PGD-20"``) at the training eps,
        and ``certified``: the fraction of test examples interval bound
        propagation proves robust in the Linf ball of radius eps (NaN for a
        model it cannot bound; see :mod:`robustsk.report.certified`).
    eps : float
        The training eps, at which ``table`` reports the attacks.
    per_example : pandas.DataFrame
        ``defense``, ``attack``, ``eps``, ``example_id``, ``correct``: every
        accuracy of ``results`` is the mean of one (defense, attack, eps) group.
    per_class : pandas.DataFrame
        ``defense``, ``attack``, ``eps``, ``class``, ``n``, ``accuracy``: the
        accuracy over each true class's test examples (robust accuracy per class).
    mcnemar : pandas.DataFrame
        Each defense against the baseline per attack at ``eps`` (see
        :func:`robustsk.report.stats.mcnemar_vs_baseline`); may be empty.
    masking : dict
        Per model, the gradient-masking findings (empty with ``masking_checks=False``).
    notes : tuple of str
        Attacks skipped or substituted, and how some columns are to be read.
    output_dir, csv_path, plot_path, table_path, info_path, per_example_path, mcnemar_path, \
per_class_path : Path
        The folder and the files written into it.
    total_seconds : float
        Wall time of the whole run.
    info : dict
        The content of ``info_path`` (versions, seed, threads, options, ...).
    selection : dict or None
        Which defense the report would pick at the default margin, and why
        (:func:`robustsk.report.stats.select_defense`).
    certified : pandas.DataFrame
        One row per certified model (:data:`~robustsk.report.certified.CERTIFIED_COLUMNS`),
        also written to ``certified_path``.
    certified_path : Path
    """

    results: Any
    table: Any
    eps: float
    per_example: Any
    per_class: Any
    mcnemar: Any
    masking: dict
    notes: tuple
    output_dir: Path
    csv_path: Path
    plot_path: Path
    table_path: Path
    info_path: Path
    per_example_path: Path
    mcnemar_path: Path
    per_class_path: Path
    total_seconds: float
    info: dict
    selection: Any = None
    certified: Any = None
    certified_path: Any = None

    def format_table(self):
        """The summary table: accuracies with their 95% Wilson interval, fit time in s."""
        results = self.results.set_index(["defense", "attack", "eps"])
        table = self.table.copy()
        table["fit_seconds"] = table["fit_seconds"].map(
            lambda s: "-" if np.isnan(s) else f"{s:.1f}")
        for column in table.columns[1:]:
            cells = []
            for defense, value in table[column].items():
                if np.isnan(value):
                    cells.append("-")
                    continue
                if column == CERTIFIED:
                    row = self.certified.set_index("defense").loc[defense]
                    cells.append(f"{value:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]")
                    continue
                eps = 0.0 if column == "clean" else self.eps
                row = results.loc[(defense, column, eps)]
                cells.append(f"{value:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]")
            table[column] = cells
        table = table.rename(columns={"fit_seconds": "fit [s]"})
        table.index.name = None
        ball = "L2 " if self.info.get("norm") == "2" else ""
        train_eps = self.info.get("train_eps")
        trained = "" if train_eps is None or train_eps == self.eps else \
            f" (defenses trained at eps={train_eps:g})"
        return (f"accuracy [95% Wilson interval] on {int(self.results['n_test'].iloc[0])} test "
                f"images, attacks at {ball}eps={self.eps:g}{trained}\n" + table.to_string())

    def summary_text(self):
        """Everything the command prints: table, notes, masking findings, McNemar table."""
        parts = [self.format_table()]
        if self.notes:
            parts.append("notes:\n" + "\n".join(f"  - {note}" for note in self.notes))
        parts.append(format_findings(self.masking, self.eps))
        parts.append(format_mcnemar(self.mcnemar, BASELINE))
        parts.append(format_selection(self.selection))
        return "\n\n".join(parts)


def versions():
    """Versions of python, torch, skorch, scikit-learn, ... and robustsk."""
    import matplotlib
    import pandas
    import sklearn
    import skorch
    import statsmodels
    import torch

    from .. import __version__
    return {"python": platform.python_version(), "torch": torch.__version__,
            "skorch": skorch.__version__, "sklearn": sklearn.__version__,
            "numpy": np.__version__, "pandas": pandas.__version__,
            "statsmodels": statsmodels.__version__, "matplotlib": matplotlib.__version__,
            "robustsk": __version__, "platform": platform.platform()}
