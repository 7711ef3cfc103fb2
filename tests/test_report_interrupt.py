"""Ctrl-C during ``robustsk report``: the rows done so far are written, exit status 130."""
import json
import signal

import pandas as pd
import pytest
import training_children as kids

from robustsk.report import ReportInterrupted
from robustsk.report.interrupt import write_interrupted


@pytest.fixture(autouse=True)
def warm():
    kids.warm_up()


def test_sigint_writes_the_rows_done_and_exits_130(tmp_path):
    output, marker, stderr = tmp_path / "report", tmp_path / "marker", tmp_path / "stderr"
    output.mkdir()
    (output / "table.txt").write_text("a previous run's table")
    child = kids.start(kids.run_report_until_interrupted, output, marker, stderr)
    kids.wait_for(marker, child)
    assert kids.signal_and_join(child, signal.SIGINT) == 130
    message = stderr.read_text()
    assert "interrupted (Ctrl-C) during fast" in message and "rows done so far" in message
    results = pd.read_csv(output / "results.csv")
    standard = results[results["defense"] == "standard"]
    assert set(standard["attack"]) == {"clean", "FGSM"} and len(standard) == 3
    assert set(results["defense"]) <= {"standard", "fast"}  # fast: its clean row at most
    assert len(pd.read_csv(output / "per_example.csv")) == 30 * len(results)
    info = json.loads((output / "report.json").read_text())
    assert info["interrupted"] and info["interrupted_during"] == "fast"
    assert info["n_rows"] == len(results)
    assert not (output / "table.txt").exists()  # no stale file passes for this run's


def test_write_interrupted_with_nothing_done(tmp_path):
    error = write_interrupted({}, tmp_path, {"argv": ["robustsk", "report"]})
    assert isinstance(error, ReportInterrupted) and isinstance(error, KeyboardInterrupt)
    assert error.n_rows == 0 and "wrote the 0 rows" in str(error)
    assert json.loads(error.info_path.read_text())["interrupted"] is True
