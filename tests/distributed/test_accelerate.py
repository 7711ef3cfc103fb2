"""Data-parallel training on two CPU processes through Accelerate (robustsk.distributed).

Two processes (``torch.distributed.run``, gloo on the CPU) each train on half
of every global batch. "Equal" to the single-process run means: the same
global batch size, the same shuffled batches, the same attack noise per
example (``ShardedRandomness``); the gradients are then the single-process
ones up to the order of float sums in the average, so the weights agree to
float tolerance and the predictions exactly.
"""
import os
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest
import torch

from robustsk.defenses import AdversarialFeatureDesensitization, AdversarialTraining
from robustsk.distributed import ShardedRandomness, accelerated

pytest.importorskip("accelerate", reason="pip install 'robustsk[accelerate]'")
sys.path.insert(0, str(Path(__file__).parent))
from accelerate_worker import PARAMS, tiny_data  # noqa: E402

NAMES = ["AdversarialTraining", "AdversarialFeatureDesensitization"]


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("accelerate")
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]),
                                          os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", str(Path(__file__).parent / "accelerate_worker.py"), str(out), *NAMES]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {name: np.load(out / f"{name}.npz") for name in NAMES}


def _weights(net):
    return torch.cat([p.detach().flatten() for p in net.module_.parameters()]).numpy()


def test_two_processes_equal_one_with_the_same_global_batch(two_process_run):
    X, y = tiny_data()
    run = two_process_run["AdversarialTraining"]
    local = AdversarialTraining(**PARAMS).fit(X, y)
    assert run["rank_gap"] == 0.0  # both processes hold the same weights
    assert int(run["n_batches"]) == len(local.history[-1]["batches"])  # global batches
    np.testing.assert_allclose(run["weights"], _weights(local), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(run["predict"], local.predict(X))
    # and training did something: the weights moved away from their initialisation
    init = AdversarialTraining(**{**PARAMS, "max_epochs": 0}).fit(X, y)
    assert np.abs(_weights(init) - run["weights"]).max() > 1e-3


def test_several_optimizers_stay_synchronised(two_process_run):
    # AFD steps three optimizers in turn (network, critic, encoder): each averages its
    # gradients over the processes, so the copies never drift apart. Its APGD draws
    # restart noise for the examples still standing, whose count differs between
    # processes, so the run is not the single-process one draw for draw.
    run = two_process_run["AdversarialFeatureDesensitization"]
    assert run["rank_gap"] == 0.0
    X, y = tiny_data()
    local = AdversarialFeatureDesensitization(**PARAMS).fit(X, y)
    assert abs(np.mean(run["predict"] == y) - local.score(X, y)) < 0.1


def test_sharded_randomness_slices_the_global_draw():
    gen = torch.Generator().manual_seed(0)
    full = torch.rand((6, 3), generator=gen)
    like = torch.empty(3, 3)
    for rank in (0, 1):
        part = ShardedRandomness(torch.Generator().manual_seed(0), rank, 2).uniform(like, 0, 1)
        torch.testing.assert_close(part, full[3 * rank:3 * rank + 3], rtol=0, atol=1e-7)


def test_accelerated_class():
    cls = accelerated(AdversarialTraining)
    assert cls is accelerated(AdversarialTraining)
    assert issubclass(cls, AdversarialTraining)
    assert cls.train_step_single is AdversarialTraining.train_step_single
    with pytest.raises(TypeError, match="robustsk estimator class"):
        accelerated(torch.nn.Linear)
