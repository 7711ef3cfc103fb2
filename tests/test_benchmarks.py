"""Smoke tests of the benchmark scripts: they run end to end on a tiny subset."""
import importlib.util
import os
import time
import types
import warnings

import pytest
import torch

from robustsk.datasets import load_fashion_mnist
from robustsk.defenses import all_defenses

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "benchmarks")


def _load_script(name):
    spec = importlib.util.spec_from_file_location(
        f"benchmark_{name}", os.path.join(BENCHMARKS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _has_fashion_mnist():
    try:
        load_fashion_mnist(subset="test", n_samples=1)
    except FileNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _has_fashion_mnist(),
                    reason="Fashion-MNIST missing: apt-get install dataset-fashion-mnist")
def test_defenses_fashion_smoke(tmp_path, capsys):
    script = _load_script("defenses_fashion")
    csv = tmp_path / "table.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # near-chance models after one tiny epoch
        table = script.main(["--n-train", "64", "--n-test", "32", "--epochs", "1",
                             "--n-iter", "1", "--apgd-iter", "2",
                             "--defenses", "standard,madry,boosting", "--output", str(csv)])
    assert table["defense"].tolist() == ["standard", "madry", "boosting"]
    assert table["estimator"].tolist() == ["StandardTraining", "AdversarialTraining",
                                           "MarginBoostingEnsemble"]
    assert table["networks"].tolist() == [1, 1, 3]
    for column in ("s_per_epoch", "clean", "clean_low", "clean_high", "pgd20", "pgd20_low",
                   "pgd20_high", "apgd", "apgd_low", "apgd_high", "pgd20_class0",
                   "pgd20_class6"):
        assert column in table.columns, column
    assert (table["s_per_epoch"] > 0).all()
    for name in ("clean", "pgd20", "apgd"):
        assert ((0 <= table[f"{name}_low"]) & (table[f"{name}_low"] <= table[name])
                & (table[name] <= table[f"{name}_high"]) & (table[f"{name}_high"] <= 1)).all()
    assert (table["pgd20"] <= table["clean"]).all()
    printed = capsys.readouterr().out
    assert f"from {os.path.dirname(script.robustsk.__file__)}" in printed
    header = next(line for line in printed.splitlines() if line.startswith("defense"))
    for title in ("nets", "s/epoch", "clean", "PGD-20", "APGD-CE", "PGD-20[0]", "PGD-20[6]"):
        assert title in header
    assert csv.exists() and len(csv.read_text().splitlines()) == 4


def test_defenses_fashion_names_every_defense():
    from robustsk.defenses import all_defenses
    script = _load_script("defenses_fashion")
    factories = script.defense_factories([0, 6])
    assert len(factories) == len(all_defenses()) + 1 and "madry+mce" in factories
    assert {cls for cls, _ in factories.values()} >= set(all_defenses())
    with pytest.raises(SystemExit):
        script.main(["--defenses", "nosuchdefense"])  # refused before loading any data


def test_certify_digits_smoke(capsys):
    script = _load_script("certify_digits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # near-chance models after one tiny epoch
        table = script.main(["--n-train", "100", "--n-test", "10", "--epochs", "1",
                             "--n", "20"])
    assert set(table["method"]) == {"ibp", "smoothing"} and len(table) == 12
    assert (table["certified"] <= table["empirical"] + 1e-12).all()
    assert "certify_s" in capsys.readouterr().out


# benchmarks/gpu.py: it runs on the CPU, and says clearly when CUDA is absent
@pytest.mark.skipif(not _has_fashion_mnist(),
                    reason="Fashion-MNIST missing: apt-get install dataset-fashion-mnist")
def test_gpu_benchmark_runs_on_cpu(tmp_path, capsys):
    out = tmp_path / "gpu.txt"
    code = _load_script("gpu").main(["--device", "cpu", "--quick", "--n-samples", "32", "--share-subset",
                           "16", "--batch-size", "16", "--n-iter", "1", "--widths", "4", "8",
                           "8", "--defenses",
                           "StandardTraining", "AdversarialTraining", "RobustUpperBoundTraining",
                           "--output", str(out)])
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.read_text().splitlines()
            if line and not line.startswith(("#", "defense"))}
    assert list(rows) == ["StandardTraining", "AdversarialTraining", "RobustUpperBoundTraining"]
    for name, row in rows.items():
        assert "failed:" not in row, row
        rate, seconds, share = float(row[1]), float(row[2]), float(row[3])
        assert rate > 0 and seconds > 0 and 0.0 <= share <= 1.0
    assert float(rows["StandardTraining"][3]) == 0.0   # no attack at all
    assert float(rows["AdversarialTraining"][3]) > 0.0  # PGD inside every step
    assert "examples/s" in capsys.readouterr().out


@pytest.mark.skipif(not _has_fashion_mnist(),
                    reason="Fashion-MNIST missing: apt-get install dataset-fashion-mnist")
def test_gpu_benchmark_time_limit_stops_a_defense(tmp_path, monkeypatch):
    script = _load_script("gpu")
    monkeypatch.setattr(script, "run_one", lambda *args: time.sleep(30))  # a defense that hangs
    out = tmp_path / "gpu.txt"
    started = time.perf_counter()
    code = script.main(["--device", "cpu", "--quick", "--n-samples", "32", "--time-limit", "1",
                        "--defenses", "TRADES", "--output", str(out)])
    assert code == 0 and time.perf_counter() - started < 20
    row = out.read_text().splitlines()[-1]
    assert row.split() == ["TRADES", "stopped", "after", "--time-limit", "1", "s"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without CUDA")
def test_gpu_benchmark_says_when_cuda_is_absent(capsys):
    assert _load_script("gpu").main(["--quick"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


@pytest.mark.skipif(not _has_fashion_mnist(),
                    reason="Fashion-MNIST missing: apt-get install dataset-fashion-mnist")
def test_overhead_raw_loops_do_the_same_arithmetic():
    """benchmarks/overhead.py times robustsk against hand-written loops: they must train
    bitwise the same weights (one batch, two attack steps), or the ratio means nothing."""
    script = _load_script("overhead")
    args = types.SimpleNamespace(eps=0.1, n_iter=2, beta=6.0, batch_size=64)
    X, y = load_fashion_mnist(subset="train", n_samples=64, return_X_y=True)
    timed = {cls.__name__ for cls in script.DEFENSES.values()}
    assert not set(all_defenses()) - timed, "a defense without a raw loop"
    for defense in script.DEFENSES:
        assert script.check_same_arithmetic(defense, args, X, y, n=64) == 0.0, defense


def test_eval_profile_runs_on_cpu(capsys):
    # the GPU question's profile (tools/gpu-checks.sh runs it with --device cuda)
    script = _load_script("eval_profile")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the untrained network is near chance
        script.main(["--n", "48", "--batch-size", "16"])
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("robustsk score_adv"))
    ops_per_step = float(row.split("|")[2])
    assert 20 < ops_per_step < 200  # operators were counted, per step
    assert "attack (run_batches)" in out and "Self CPU" in out
