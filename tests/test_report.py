"""Tests of the ``robustsk report`` command: run_report, main and ``python -m robustsk``."""
import json
import os
from pathlib import Path
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
try:  # let the suite run from a plain checkout (no pip install)
    import robustsk  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(ROOT))

from robustsk import datasets  # noqa: E402
from robustsk.report import ReportOptionError, ReportResult, main, run_report  # noqa: E402

# Tiny settings: a few hundred digits, one or two epochs, two radii.
TINY = ["--epochs", "1", "--n-train", "200", "--n-test", "40", "--eps-grid", "0,0.1"]
CSV_COLUMNS = ["defense", "attack", "eps", "accuracy", "n_test", "fit_seconds"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One small report: two defenses, FGSM and PGD, grid {0, 0.05} plus the training eps."""
    threads = torch.get_num_threads()
    result = run_report(defenses="standard,fast", attacks=["fgsm", "pgd"], epochs=2,
                        eps_grid="0,0.05", n_train=300, n_test=60, threads=1, seed=0,
                        output=tmp_path_factory.mktemp("report") / "out")
    assert torch.get_num_threads() == threads  # restored after the run
    return result


def test_run_report_files(report):
    assert isinstance(report, ReportResult)
    for path in (report.csv_path, report.plot_path, report.table_path, report.info_path):
        assert path.is_file() and path.parent == report.output_dir
    assert report.plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv = pd.read_csv(report.csv_path)
    assert list(csv.columns) == CSV_COLUMNS
    pd.testing.assert_frame_equal(csv, report.results, check_dtype=False)


def test_run_report_results(report):
    results = report.results
    # 2 defenses x (clean + 2 attacks x 3 radii: 0.1 is added to the grid)
    assert len(results) == 2 * (1 + 2 * 3)
    assert set(results["defense"]) == {"standard", "fast"}
    assert set(results["attack"]) == {"clean", "FGSM", "PGD-20"}
    assert sorted(set(results["eps"])) == [0.0, 0.05, 0.1]
    assert (results["n_test"] == 60).all() and (results["fit_seconds"] > 0).all()
    assert results["accuracy"].between(0, 1).all()
    for (defense, attack), curve in results[results["attack"] != "clean"].groupby(
            ["defense", "attack"]):
        acc = curve.sort_values("eps")["accuracy"].to_numpy()
        clean = results[(results["defense"] == defense) & (results["attack"] == "clean")]
        assert acc[0] == pytest.approx(clean["accuracy"].item())  # eps = 0 is clean
        assert np.all(np.diff(acc) <= 1e-12), (defense, attack, acc)  # nested balls


def test_run_report_table(report):
    table = report.table
    assert list(table.index) == ["standard", "fast"]
    assert list(table.columns) == ["fit_seconds", "clean", "FGSM", "PGD-20"]
    at_eps = report.results[np.isclose(report.results["eps"], 0.1)]
    pgd = at_eps[at_eps["attack"] == "PGD-20"].set_index("defense")["accuracy"]
    assert table["PGD-20"].to_dict() == pytest.approx(pgd.to_dict())
    text = report.format_table()
    assert "PGD-20" in text and "standard" in text and "eps=0.1" in text
    assert report.table_path.read_text().strip() == text


def test_run_report_info(report):
    info = json.loads(report.info_path.read_text())
    assert info == json.loads(json.dumps(report.info))
    assert set(info["versions"]) >= {"python", "torch", "skorch", "sklearn", "numpy",
                                     "robustsk"}
    assert info["seed"] == 0 and info["torch_threads"] == 1
    assert info["dataset"]["n_train"] == 300 and info["dataset"]["n_test"] == 60
    assert info["eps_grid"] == [0.0, 0.05, 0.1]
    assert info["defenses"]["fast"]["clip_min"] == 0 and info["defenses"]["fast"]["clip_max"] == 1
    assert info["defenses"]["standard"]["random_state"] == 0
    assert info["options"]["defenses"] == ["standard", "fast"]


def test_main_end_to_end(tmp_path, capsys):
    out = tmp_path / "cli"
    status = main(["report", "--defenses", "standard", "--attacks", "apgd", *TINY,
                   "--output", str(out), "--seed", "3"])
    assert status == 0
    captured = capsys.readouterr()
    assert "APGD-CE" in captured.out and "standard" in captured.out
    assert "total run time" in captured.out
    assert "report" in captured.err  # the progress bars go to stderr
    results = pd.read_csv(out / "results.csv")
    assert set(results["attack"]) == {"clean", "APGD-CE"}
    assert (out / "accuracy_vs_eps.png").is_file()
    info = json.loads((out / "report.json").read_text())
    assert info["options"]["seed"] == 3 and info["options"]["attacks"] == ["apgd"]
    assert info["seed"] == 3 and info["options"]["output"] == str(out)
    assert info["options"]["argv"][:2] == ["robustsk", "report"]


def _run_module(*args, env=None):
    env = {**os.environ, **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "robustsk", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_python_m_robustsk_report(tmp_path):
    out = tmp_path / "sub"
    proc = _run_module("report", "--defenses", "fast", "--attacks", "fgsm", *TINY,
                       "--output", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "fast" in proc.stdout and "FGSM" in proc.stdout
    assert "report:" not in proc.stderr  # --quiet: no progress bars
    assert {p.name for p in out.iterdir()} == {"results.csv", "accuracy_vs_eps.png",
                                               "table.txt", "report.json"}


@pytest.mark.parametrize("args, message", [
    (["--defenses", "madri"], "unknown defense 'madri'"),
    (["--defenses", "standard,pgd"], "unknown defense 'pgd'"),
    (["--attacks", "cw"], "unknown attack 'cw'"),
    (["--defenses", ""], "--defenses is empty"),
    (["--eps", "-0.1"], "expected a finite radius >= 0"),
    (["--eps", "abc"], "is not a number"),
    (["--eps-grid", "0,-0.05"], "expected a finite radius >= 0"),
    (["--epochs", "0"], "expected an integer >= 1"),
    (["--dataset", "mnist"], "invalid choice"),
])
def test_bad_options_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["report", *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_misspelt_name_suggests(capsys):
    with pytest.raises(SystemExit):
        main(["report", "--defenses", "trade"])
    assert "Did you mean 'trades'?" in capsys.readouterr().err


def test_missing_fashion_mnist_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ROBUSTSK_FASHION_MNIST", str(tmp_path))
    monkeypatch.setattr(datasets, "FASHION_MNIST_DIRS", ())
    with pytest.raises(SystemExit) as exc:
        main(["report", "--dataset", "fashion-mnist", "--output", str(tmp_path / "o")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Fashion-MNIST" in err and "apt-get install dataset-fashion-mnist" in err
    assert not (tmp_path / "o").exists()  # failed before writing anything


def test_missing_apgd_is_reported(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "robustsk.attacks.apgd", None)  # import fails
    with pytest.raises(SystemExit) as exc:
        main(["report", "--attacks", "fgsm,apgd", *TINY, "--output", str(tmp_path)])
    assert exc.value.code == 2
    assert "APGD attack is not available" in capsys.readouterr().err


def test_run_report_rejects_bad_input(tmp_path):
    with pytest.raises(ReportOptionError, match="unknown defense 'foo'"):
        run_report(defenses=["standard", "foo"], output=tmp_path)
    with pytest.raises(ReportOptionError, match="radius >= 0"):
        run_report(eps=-1, output=tmp_path)
    with pytest.raises(ReportOptionError, match="unknown dataset"):
        run_report(dataset="cifar10", output=tmp_path)


def test_bad_input_subprocess_no_traceback():
    proc = _run_module("report", "--attacks", "pgd,foo")
    assert proc.returncode == 2
    assert "unknown attack 'foo'" in proc.stderr and "Traceback" not in proc.stderr


def test_help_and_missing_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0 and "report" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["report", "--help"])
    assert exc.value.code == 0 and "--eps-grid" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
