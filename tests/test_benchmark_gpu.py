"""Smoke test of benchmarks/gpu.py: it runs on the CPU, and says clearly when CUDA is absent."""
import importlib.util
import os

import pytest
import torch

from robustsk.datasets import load_fashion_mnist

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "benchmarks", "gpu.py")


def _script():
    spec = importlib.util.spec_from_file_location("benchmark_gpu", SCRIPT)
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
def test_gpu_benchmark_runs_on_cpu(tmp_path, capsys):
    out = tmp_path / "gpu.txt"
    code = _script().main(["--device", "cpu", "--quick", "--n-samples", "32", "--share-subset",
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


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without CUDA")
def test_gpu_benchmark_says_when_cuda_is_absent(capsys):
    assert _script().main(["--quick"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
