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
CSV_COLUMNS = ["defense", "attack", "eps", "accuracy", "ci_low", "ci_high", "n_test",
               "fit_seconds"]
FILES = {"results.csv", "per_example.csv", "mcnemar_vs_baseline.csv", "accuracy_vs_eps.png",
         "table.txt", "report.json", "per_class.csv", "certified.csv"}


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
    for path in (report.csv_path, report.plot_path, report.table_path, report.info_path,
                 report.per_example_path, report.mcnemar_path):
        assert path.is_file() and path.parent == report.output_dir
    assert {p.name for p in report.output_dir.iterdir()} == FILES
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
    assert list(table.columns) == ["fit_seconds", "clean", "FGSM", "PGD-20", "certified"]
    # certified (IBP) never exceeds what an attack leaves
    assert (table["certified"] <= table[["FGSM", "PGD-20"]].min(axis=1) + 1e-12).all()
    cert = pd.read_csv(report.output_dir / "certified.csv")
    assert list(cert["defense"]) == ["standard", "fast"] and (cert["method"] == "ibp").all()
    assert cert["certified_accuracy"].tolist() == pytest.approx(table["certified"].tolist())
    at_eps = report.results[np.isclose(report.results["eps"], 0.1)]
    pgd = at_eps[at_eps["attack"] == "PGD-20"].set_index("defense")["accuracy"]
    assert table["PGD-20"].to_dict() == pytest.approx(pgd.to_dict())
    text = report.format_table()
    assert "PGD-20" in text and "standard" in text and "eps=0.1" in text
    row = report.results[(report.results["defense"] == "fast") & (report.results["attack"] ==
                                                                  "PGD-20")]
    row = row[np.isclose(row["eps"], 0.1)].iloc[0]
    assert f"{row['accuracy']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]" in text
    assert report.table_path.read_text().strip() == report.summary_text().strip()
    assert report.summary_text().startswith(text)


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
    assert info["masking_checks"]["settings"]["max_examples"] == 100
    assert info["mcnemar_vs_baseline"]["baseline"] == "standard"


def test_intervals_contain_accuracy(report):
    from robustsk.stats import accuracy_interval
    results = report.results
    assert ((results["ci_low"] <= results["accuracy"]) &
            (results["accuracy"] <= results["ci_high"])).all()
    assert ((results["ci_low"] >= 0) & (results["ci_high"] <= 1)).all()
    # every accuracy is the mean of its per-example group, its interval Wilson's
    per = pd.read_csv(report.per_example_path)
    assert list(per.columns) == ["defense", "attack", "eps", "example_id", "correct"]
    assert len(per) == len(results) * 60
    for _, row in results.iterrows():
        group = per[(per["defense"] == row["defense"]) & (per["attack"] == row["attack"]) &
                    np.isclose(per["eps"], row["eps"])]
        assert sorted(group["example_id"]) == list(range(60))
        ci = accuracy_interval(group["correct"].to_numpy())
        assert row["accuracy"] == pytest.approx(group["correct"].mean())
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high))


def test_mcnemar_vs_baseline(report):
    table = pd.read_csv(report.mcnemar_path)
    assert list(table.columns) == ["attack", "eps", "defense", "baseline", "n", "accuracy",
                                   "baseline_accuracy", "difference", "b", "c", "statistic",
                                   "pvalue", "pvalue_holm", "reject_holm"]
    assert set(table["attack"]) == {"FGSM", "PGD-20"}
    assert (table["defense"] == "fast").all() and (table["baseline"] == "standard").all()
    assert np.allclose(table["eps"], 0.1) and (table["n"] == 60).all()
    assert (table["pvalue_holm"] >= table["pvalue"] - 1e-12).all()
    assert (table["pvalue_holm"] <= 1).all()
    per = report.per_example
    def correct(defense, attack):
        cell = per[(per["defense"] == defense) & (per["attack"] == attack) &
                   np.isclose(per["eps"], 0.1)].sort_values("example_id")
        return cell["correct"].to_numpy()

    for _, row in table.iterrows():
        fast, base = correct("fast", row["attack"]), correct("standard", row["attack"])
        assert row["b"] == (fast & ~base).sum() and row["c"] == (~fast & base).sum()
        assert row["difference"] == pytest.approx(fast.mean() - base.mean())
    assert "McNemar" in report.summary_text() and "Holm" in report.summary_text()


def test_masking_findings_recorded(report):
    info = json.loads(report.info_path.read_text())
    models = info["masking_checks"]["models"]
    assert set(models) == {"standard", "fast"}
    for record in models.values():
        assert record["skipped"] is None and record["n_examples"] == 60
        for finding in record["findings"]:
            assert finding["name"].endswith("Warning") and finding["message"]
    assert "gradient-masking checks" in report.summary_text()


def test_masking_finding_printed_and_saved(tmp_path, monkeypatch, capsys):
    from robustsk.evaluation import MaskingFinding, MoreStepsHelpWarning
    from robustsk.report import masking
    found = MaskingFinding(MoreStepsHelpWarning, "more steps fooled 5 more", 0.05, 0.02, 0.1)
    monkeypatch.setattr("robustsk.evaluation.check_gradient_masking",
                        lambda *args, **kwargs: [found])
    assert masking.MASKING_EXAMPLES == 100
    status = main(["report", "--defenses", "fast", "--attacks", "fgsm", *TINY, "--quiet",
                   "--output", str(tmp_path)])
    assert status == 0
    out = capsys.readouterr().out
    assert "fast: MoreStepsHelpWarning: more steps fooled 5 more" in out
    info = json.loads((tmp_path / "report.json").read_text())
    finding, = info["masking_checks"]["models"]["fast"]["findings"]
    assert finding["name"] == "MoreStepsHelpWarning" and finding["statistic"] == 0.05
    assert "MoreStepsHelpWarning" in (tmp_path / "table.txt").read_text()


def test_main_end_to_end(tmp_path, capsys):
    out = tmp_path / "cli"
    status = main(["report", "--defenses", "standard", "--attacks", "apgd", *TINY,
                   "--output", str(out), "--seed", "3", "--no-masking-checks"])
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
    assert info["masking_checks"] is None and "not run" in captured.out
    assert "nothing to compare" in captured.out  # no second defense
    assert len(pd.read_csv(out / "mcnemar_vs_baseline.csv")) == 0


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
    assert {p.name for p in out.iterdir()} == FILES


@pytest.mark.parametrize("args, message", [
    (["--defenses", "madri"], "unknown defense 'madri'"),
    (["--defenses", "standard,pgd"], "unknown defense 'pgd'"),
    (["--attacks", "cw-l2"], "unknown attack 'cw-l2'"),
    (["--model", "/nonexistent/model.pkl"], "no such file"),
    (["--model", "x.pkl", "--defenses", "standard"], "give one of them"),
    (["--defenses", ""], "--defenses is empty"),
    (["--eps", "-0.1"], "expected a finite radius >= 0"),
    (["--eps", "abc"], "is not a number"),
    (["--eps-grid", "0,-0.05"], "expected a finite radius >= 0"),
    (["--epochs", "0"], "expected an integer >= 1"),
    (["--dataset", "mnist"], "invalid choice"),
    (["--defenses", "cost-sensitive", "--protect-classes", "8,42"],
     "'42', which is not a label of the data"),
    # radii beyond the images' diameter
    (["--eps", "2"], "larger than 1, the largest Linf distance"),
    (["--norm", "2", "--eps", "100"], "larger than 8, the largest L2 distance"),
    (["--norm", "2", "--train-eps", "9"], "--train-eps 9 is larger than 8"),
    # subsets too small to hold every class (a model trained without one cannot be scored on it)
    (["--n-train", "5"], "--n-train 5 is fewer than the 10 classes of digits"),
    (["--n-test", "3"], "--n-test 3 is fewer than the 10 classes of digits"),
    # subsets larger than the split (they were cut to its size without a word)
    (["--n-test", "1000"], "--n-test 1000 is more than the 450 test images of digits"),
    (["--n-train", "1348"], "--n-train 1348 is more than the 1347 training images"),
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


@pytest.mark.parametrize("where", ["a-file", "a-file/inside"])
def test_output_that_cannot_be_a_folder_exit_2(where, tmp_path, capsys):
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(SystemExit) as exc:
        main(["report", "--defenses", "standard", "--attacks", "fgsm", *TINY,
              "--output", str(tmp_path / where)])
    assert exc.value.code == 2
    assert "cannot create or use this folder" in capsys.readouterr().err


def test_too_small_subset_refused_before_training(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["report", "--quiet", "--defenses", "standard", "--epochs", "1", "--n-train", "5",
              "--n-test", "20", "--attacks", "fgsm", "--no-masking-checks",
              "--output", str(tmp_path / "o")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "expected at least one training image of each class" in err and "Traceback" not in err
    assert "Give --n-train 10 or more" in err
    assert not (tmp_path / "o").exists()  # refused before training or writing anything


@pytest.mark.parametrize("n", [10, 11, 13])
def test_digits_subsets_hold_every_class(n):
    from robustsk.report import load_report_data
    _, y_train, _, y_test = load_report_data("digits", n_train=n, n_test=n)
    assert len(y_train) == len(y_test) == n
    assert set(y_train.tolist()) == set(y_test.tolist()) == set(range(10))


def test_fashion_mnist_subset_missing_a_class_refused():
    from robustsk.report import load_report_data
    try:
        datasets.load_fashion_mnist(subset="test", n_samples=1, return_X_y=True)
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST's files are not installed")
    with pytest.raises(ReportOptionError, match=r"--n-train 12 leaves out the classes \[1, 4, 6, 8\]"):
        load_report_data("fashion-mnist", n_train=12, n_test=100)
    with pytest.raises(ReportOptionError, match="--n-test 10001 is more than the 10000 test"):
        load_report_data("fashion-mnist", n_train=100, n_test=10001)


def test_help_lists_every_file_written(capsys):
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for name in FILES:
        assert name in out, f"--help does not mention {name}"


def test_help_shows_no_none_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    out = capsys.readouterr().out
    assert "(default: None)" not in out and "(default: digits)" in out


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


def test_misspelt_attack_suggests(capsys):
    with pytest.raises(SystemExit):
        main(["report", "--attacks", "autoatack"])
    assert "Did you mean 'autoattack'?" in capsys.readouterr().err


def test_gradient_free_attacks(tmp_path, capsys):
    status = main(["report", "--defenses", "standard", "--attacks", "square,spsa", *TINY,
                   "--no-masking-checks", "--quiet", "--output", str(tmp_path)])
    assert status == 0
    results = pd.read_csv(tmp_path / "results.csv")
    assert set(results["attack"]) == {"clean", "Square", "SPSA"}
    clean = results.loc[results["attack"] == "clean", "accuracy"].item()
    assert (results["accuracy"] <= clean + 1e-12).all()
    info = json.loads((tmp_path / "report.json").read_text())
    assert info["attacks"]["Square"]["class"] == "Square"
    assert info["attacks"]["SPSA"]["n_iter"] == 40
    assert "Square" in capsys.readouterr().out


# ------------------------------------------------------------------- --model
@pytest.fixture(scope="module")
def digits_flat():
    from robustsk.report import load_report_data
    return load_report_data("digits", n_train=300, n_test=40, flatten=True)


def _pickle(model, path):
    """Save ``model`` as --model reads it by default: robustsk.io's safe format."""
    from robustsk import io as rio
    rio.save(model, path)
    return str(path)


def test_model_logistic_regression_flat(tmp_path, digits_flat, capsys):
    from sklearn.linear_model import LogisticRegression
    X_train, y_train, _, _ = digits_flat
    path = _pickle(LogisticRegression(max_iter=300).fit(X_train, y_train), tmp_path / "lr.pkl")
    status = main(["report", "--model", path, "--flatten", "--attacks", "fgsm,pgd",
                   "--eps-grid", "0,0.1", "--n-test", "40", "--quiet",
                   "--output", str(tmp_path / "out")])
    assert status == 0
    out = capsys.readouterr().out
    assert "LogisticRegression" in out and "nothing to compare" in out
    results = pd.read_csv(tmp_path / "out" / "results.csv")
    assert set(results["defense"]) == {"LogisticRegression"}
    assert set(results["attack"]) == {"clean", "FGSM", "PGD-20"}  # linear: differentiable
    assert results["fit_seconds"].isna().all()
    info = json.loads((tmp_path / "out" / "report.json").read_text())
    assert info["model"]["class"] == "LogisticRegression" and info["model"]["differentiable"]
    assert info["dataset"]["flatten"] and info["dataset"]["input_shape"] == [64]
    assert info["masking_checks"]["models"]["LogisticRegression"]["skipped"] is None


def test_model_not_differentiable_runs_square_spsa(tmp_path, digits_flat, capsys):
    from sklearn.tree import DecisionTreeClassifier
    X_train, y_train, _, _ = digits_flat
    path = _pickle(DecisionTreeClassifier(random_state=0).fit(X_train, y_train),
                   tmp_path / "tree.pkl")
    args = ["report", "--model", path, "--flatten", "--eps-grid", "0,0.1",
            "--n-test", "40", "--quiet", "--output", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exc:  # skops does not trust a tree's arrays by default
        main(args)
    assert exc.value.code == 2 and "--trust sklearn.tree._tree.Tree" in capsys.readouterr().err
    status = main([*args, "--trust", "sklearn.tree._tree.Tree"])
    assert status == 0
    out = capsys.readouterr().out
    assert "FGSM, PGD-20, APGD-CE skipped" in out and "square and spsa run instead" in out
    assert "not checked" in out  # masking checks need gradients
    results = pd.read_csv(tmp_path / "out" / "results.csv")
    assert set(results["attack"]) == {"clean", "Square", "SPSA"}


def test_model_robustsk_estimator(tmp_path, capsys):
    from robustsk.defenses import StandardTraining
    from robustsk.report import load_report_data
    X_train, y_train, _, _ = load_report_data("digits", n_train=200, n_test=40)
    clf = StandardTraining(max_epochs=1, clip_min=0.0, clip_max=1.0, random_state=0)
    path = _pickle(clf.fit(X_train, y_train), tmp_path / "cnn.pkl")
    status = main(["report", "--model", path, "--attacks", "apgd,cw", "--eps-grid", "0,0.1",
                   "--n-test", "40", "--quiet", "--no-masking-checks",
                   "--output", str(tmp_path / "out")])
    assert status == 0
    out = capsys.readouterr().out
    assert "StandardTraining" in out and "CW-L2" in out and "eps*sqrt(d)" in out
    results = pd.read_csv(tmp_path / "out" / "results.csv")
    assert set(results["attack"]) == {"clean", "APGD-CE", "CW-L2"}
    per = pd.read_csv(tmp_path / "out" / "per_example.csv")
    assert len(per) == 40 * (1 + 2 * 2)
    # the same model with --flatten: the shapes do not match
    with pytest.raises(SystemExit) as exc:
        main(["report", "--model", path, "--flatten", "--n-test", "40"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "expects examples of shape (1, 8, 8)" in err and "--flatten" in err


def test_model_shape_mismatch_exit_2(tmp_path, digits_flat, capsys):
    from sklearn.linear_model import LogisticRegression
    X_train, y_train, _, _ = digits_flat
    path = _pickle(LogisticRegression(max_iter=200).fit(X_train, y_train), tmp_path / "lr.pkl")
    with pytest.raises(SystemExit) as exc:
        main(["report", "--model", path, "--output", str(tmp_path / "o")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "expects 64 flat features" in err and "needs --flatten" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("content, message", [
    (b"not a model", "not a robustsk model"),
    (None, "has no predict method"),
    ("truncated", "truncated"),
    ("changed", "SHA-256 does not match"),
])
def test_model_bad_file_exit_2(tmp_path, content, message, capsys):
    from sklearn.linear_model import LogisticRegression
    path = tmp_path / "bad.rsk"
    if content is None:
        _pickle({"a": 1}, path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        X = np.random.default_rng(0).normal(size=(20, 64))
        _pickle(LogisticRegression().fit(X, np.arange(20) % 2), path)
        data = bytearray(path.read_bytes())
        if content == "truncated":
            data = data[:len(data) // 2]
        else:
            data[-10] ^= 0x04
        path.write_bytes(bytes(data))
    with pytest.raises(SystemExit) as exc:
        main(["report", "--model", str(path)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and "Traceback" not in err


def test_model_pickle_needs_trust_pickle(tmp_path, digits_flat, capsys):
    import pickle

    from sklearn.linear_model import LogisticRegression
    X_train, y_train, _, _ = digits_flat
    path = tmp_path / "lr.pkl"
    path.write_bytes(pickle.dumps(LogisticRegression(max_iter=200).fit(X_train, y_train)))
    args = ["report", "--model", str(path), "--flatten", "--attacks", "fgsm", "--eps-grid",
            "0,0.1", "--n-test", "20", "--quiet", "--no-masking-checks",
            "--output", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "runs code" in err and "--trust-pickle" in err
    assert not (tmp_path / "out").exists()
    assert main([*args, "--trust-pickle"]) == 0
    (tmp_path / "bad.pkl").write_bytes(pickle.dumps([1, 2])[:-3])
    with pytest.raises(SystemExit) as exc:
        main(["report", "--model", str(tmp_path / "bad.pkl"), "--trust-pickle"])
    assert exc.value.code == 2 and "could not unpickle" in capsys.readouterr().err


def test_model_help_warns_about_pickle(capsys):
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "only give files you trust" in out and "--no-masking-checks" in out
    assert "robustsk.io.save" in out and "--trust-pickle" in out


def test_plan_attacks_skips_and_substitutes():
    from robustsk.report.attacks import plan_attacks
    run, notes = plan_attacks(["apgd", "apgd-t", "apgd-dlr"], n_classes=3,
                              differentiable=True, model_name="m")
    assert run == ["apgd", "apgd-dlr"] and "APGD-T skipped" in notes[0]
    run, notes = plan_attacks(["fgsm", "square"], n_classes=10, differentiable=False,
                              model_name="Forest")
    assert run == ["square", "spsa"]
    assert "Forest is not differentiable" in notes[0] and "spsa" in notes[-1]


def test_defenses_all_and_per_class(tmp_path):
    from robustsk.defenses import all_defenses
    from robustsk.report import DEFENSES
    classes = {cls.__name__ for cls in all_defenses().values()}
    assert classes <= set(DEFENSES.values()), "a defense is missing from the report"
    result = run_report(defenses="all", attacks="fgsm", epochs=1, eps_grid="0", n_train=200,
                        n_test=60, threads=1, seed=0, masking_checks=False,
                        protect_classes="8,9", output=tmp_path / "out")
    assert list(result.table.index) == list(DEFENSES)
    per_class = pd.read_csv(result.per_class_path)
    assert list(per_class.columns) == ["defense", "attack", "eps", "class", "n", "accuracy"]
    fgsm = per_class[(per_class["attack"] == "FGSM") & (per_class["defense"] == "madry")
                     & np.isclose(per_class["eps"], 0.1)]
    assert fgsm["n"].sum() == 60 and set(fgsm["class"]) == set(range(10))
    # per-class accuracies weighted by class size give the overall accuracy
    overall = result.table.loc["madry", "FGSM"]
    assert (fgsm["accuracy"] * fgsm["n"]).sum() / 60 == pytest.approx(overall)
    info = json.loads(result.info_path.read_text())
    assert info["defenses"]["cost-sensitive"]["protected_classes"] == [8, 9]
    assert info["defenses"]["mce"]["criterion"] == "MCELoss"


def test_report_selection(report):
    sel = report.selection
    assert sel is not None and sel["choice"] in sel["eligible"]
    assert set(sel["table"]["defense"]) == {"standard", "fast"}
    assert "Selection at margin 0.01" in report.table_path.read_text()
    info = json.loads(report.info_path.read_text())
    assert info["selection"]["choice"] == sel["choice"]


def test_select_defense_picks_fastest_within_margin():
    from robustsk.report.stats import select_defense

    n = 400
    rng = np.random.default_rng(0)
    u = rng.random(n)
    slow = u < 0.60
    near = (u < 0.59) | ((u > 0.95) & (u < 0.955))  # 0.595: within the margin's reach
    weak = u < 0.30
    cells = [(d, a, 0.1, c) for d, c in (("slow", slow), ("near", near), ("weak", weak)) for a in ("pgd", "fgsm")]
    cells += [(d, "clean", 0.0, np.ones(n, bool)) for d in ("slow", "near", "weak")]
    sel = select_defense(cells, 0.1, {"slow": 9.0, "near": 3.0, "weak": 1.0})
    assert sel["best"] == "slow" and sel["choice"] == "near"
    assert sel["eligible"] == ["near", "slow"]
    assert "near" in sel["reason"] and "slow" in sel["reason"]
    assert select_defense(cells[:2], 0.1, {"slow": 1.0}) is None
