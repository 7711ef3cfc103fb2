"""What ``robustsk report`` does on Ctrl-C: write the rows done so far, say so, exit 130."""
import json
from pathlib import Path

from .result import jsonable, versions
from .stats import per_example_frame, results_frame

__all__ = ["ReportInterrupted", "write_interrupted", "EXIT_INTERRUPTED"]

#: The exit status of an interrupted report (128 + SIGINT, the shell's convention).
EXIT_INTERRUPTED = 130

#: Files of a complete report that an interrupted one does not write (removed, so that
#: a previous run's files in the same folder are not mistaken for this run's).
_NOT_WRITTEN = ("accuracy_vs_eps.png", "table.txt", "mcnemar_vs_baseline.csv",
                "per_class.csv", "certified.csv")


class ReportInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped :func:`~robustsk.report.run_report`; the rows done so far were written.

    Attributes
    ----------
    csv_path, per_example_path, info_path : Path
        ``results.csv``, ``per_example.csv`` and ``report.json`` (which has
        ``"interrupted": true``).
    n_rows : int
        Rows of ``results.csv``.
    """

    def __init__(self, message, *, csv_path, per_example_path, info_path, n_rows):
        super().__init__(message)
        self.csv_path = csv_path
        self.per_example_path = per_example_path
        self.info_path = info_path
        self.n_rows = n_rows


def write_interrupted(done, output_dir, options):
    """Write the finished rows of an interrupted report and return the exception to raise.

    Parameters
    ----------
    done : dict
        ``cells`` (defense, attack, eps, correct) and ``fit_seconds`` collected
        so far, and ``current``, the model in progress.
    output_dir : Path
    options : dict
        The run's options, recorded in ``report.json``.

    Returns
    -------
    ReportInterrupted
    """
    output_dir = Path(output_dir)
    cells, fit_seconds = done.get("cells", []), done.get("fit_seconds", {})
    results = results_frame(cells, fit_seconds)
    paths = {"csv_path": output_dir / "results.csv",
             "per_example_path": output_dir / "per_example.csv",
             "info_path": output_dir / "report.json"}
    results.to_csv(paths["csv_path"], index=False)
    per_example_frame(cells).to_csv(paths["per_example_path"], index=False)
    for name in _NOT_WRITTEN:
        (output_dir / name).unlink(missing_ok=True)
    current = done.get("current")
    models = list(dict.fromkeys(str(d) for d in results["defense"]))
    info = {"interrupted": True, "interrupted_during": current, "models_with_rows": models,
            "n_rows": len(results), "versions": versions(), "options": jsonable(options)}
    paths["info_path"].write_text(json.dumps(jsonable(info), indent=2) + "\n")
    where = f" during {current}" if current else ""
    message = (f"robustsk report was interrupted (Ctrl-C){where}: wrote the {len(results)} "
               f"rows done so far to {paths['csv_path']} and {paths['per_example_path']} "
               f"({paths['info_path']} says \"interrupted\": true); the table, plot and tests "
               "need the whole run and were not written. Run the command again to redo it.")
    return ReportInterrupted(message, n_rows=len(results), **paths)
