"""The report as a statistician reads it: labelled plot, --norm, --train-eps, a cost estimate."""
import json

import numpy as np
import pandas as pd
import pytest

from robustsk.report import main, run_report
from robustsk.report.cost import estimate_cost
from robustsk.report.plot import plot_curves

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_plot_labels_bands_axis_and_markers(tmp_path):
    rows = [{"defense": d, "attack": "PGD-20", "eps": e, "accuracy": a, "ci_low": a - 0.1,
             "ci_high": a + 0.1} for d, shift in (("standard", 0.0), ("madry", 0.1),
                                                   ("trades", 0.2))
            for e, a in ((0.0, 0.6 + shift), (0.1, 0.3 + shift))]
    fig = plot_curves(pd.DataFrame(rows), ["PGD-20"], tmp_path / "p.png", 0.1, "t", norm="2")
    ax = fig.axes[0]
    assert "robust accuracy" in ax.get_ylabel()
    assert "L2" in ax.get_xlabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("pointwise 95% Wilson interval" in t for t in legend)
    markers = [line.get_marker() for line in ax.get_lines() if line.get_label() in
               ("standard", "madry", "trades")]
    assert len(markers) == 3 and len(set(markers)) == 3


@pytest.fixture(scope="module")
def l2_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("l2") / "out"
    status = main(["report", "--norm", "2", "--eps", "1.5", "--train-eps", "0.5",
                   "--defenses", "standard,fast", "--attacks", "fgsm,pgd", "--epochs", "1",
                   "--n-train", "120", "--n-test", "30", "--eps-grid", "0",
                   "--no-masking-checks", "--quiet", "--output", str(out)])
    assert status == 0
    return out


def test_norm_and_separate_radii_reach_training_and_attacks(l2_report):
    info = json.loads((l2_report / "report.json").read_text())
    assert info["norm"] == "2" and info["eps"] == 1.5 and info["train_eps"] == 0.5
    assert info["defenses"]["fast"]["norm"] == "2"
    assert info["defenses"]["fast"]["eps"] == 0.5
    assert info["attacks"]["PGD-20"]["norm"] == "2"
    assert sorted(info["eps_grid"]) == [0.0, 1.5]
    table = (l2_report / "table.txt").read_text()
    assert "L2 eps=1.5" in table and "trained at eps=0.5" in table


@pytest.mark.parametrize("text, norm", [("inf", "inf"), ("Linf", "inf"), ("L_INF", "inf"),
                                        ("infinity", "inf"), ("2", "2"), ("2.0", "2"),
                                        ("L2", "2"), ("l_2", "2")])
def test_norm_spellings_are_those_of_the_estimators(text, norm):
    from robustsk.report.options import ReportOptionError, check_norm
    assert check_norm(text) == norm
    with pytest.raises(ReportOptionError, match="'2.5'"):
        check_norm("2.5")


def test_linf_eps_above_one_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["report", "--eps", "1.5"])
    assert exc.value.code == 2
    assert "--norm 2" in capsys.readouterr().err


def test_cost_is_printed_before_the_run_and_warned_when_long(tmp_path, capsys, monkeypatch):
    import robustsk.report.run as run_module
    monkeypatch.setattr(run_module, "WARN_SECONDS", 0.0)
    run_report(defenses="standard", attacks="fgsm", epochs=1, n_train=60, n_test=20,
               eps_grid="0", masking_checks=False, output=tmp_path / "r")
    captured = capsys.readouterr()
    assert captured.out.lstrip().startswith("estimated cost: about ")
    assert "warning: this run may take" in captured.err


def test_cost_estimate_grows_with_the_work():
    kw = dict(defenses=["standard", "madry"], attacks=["pgd"], n_train=1000, n_test=400,
              n_radii=3, n_classes=10, masking=True)
    small = estimate_cost(0.01, epochs=2, **kw)
    large = estimate_cost(0.01, epochs=20, **kw)
    assert large.train == pytest.approx(10 * small.train) and large.total > small.total
    more = estimate_cost(0.01, epochs=2, **{**kw, "attacks": ["pgd", "apgd-t"]})
    assert more.attacks > 10 * small.attacks
    assert np.isfinite(small.total) and "estimated cost" in small.text()


def test_radii_the_tables_cannot_tell_apart_count_once():
    """--eps-grid 0.1000000001 with --eps 0.1 crashed the summary after the whole run
    (two radii matched one cell by np.isclose)."""
    from robustsk.report.options import eps_grid
    assert eps_grid("0.1000000001", 0.1) == [0.1]
    assert eps_grid("0.05,0.0500000001,0,0.3", 0.1) == [0.0, 0.05, 0.1, 0.3]
    assert eps_grid("0.2,0.1,0.2", None) == [0.1, 0.2]
