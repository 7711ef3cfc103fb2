"""Everything on a GPU: every defense, attack, certification method and the report.

Each test runs the same work on ``DEVICE`` and on the CPU and compares:
fits within a tolerance of accuracy (float sums round differently on a GPU,
so weights drift apart a little), attacks on the *same* weights within a few
examples, certificates on the same weights within one borderline example.

The tests skip without CUDA. ``ROBUSTSK_TEST_DEVICE=cpu`` runs them on the
CPU against itself, which checks the tests' own code on any machine (and
another device, e.g. ``mps``, can be named the same way).
"""
import collections
import copy
import os
import warnings

import numpy as np
import pytest
from sklearn.base import clone
import torch

from robustsk.attacks import (
    APGD,
    FAB,
    FGSM,
    IWD,
    PGD,
    RFGSM,
    SPSA,
    CarliniWagnerL2,
    EarlyStoppedPGD,
    Randomness,
    Spatial,
    Square,
    WorstCase,
    apgd,
    carlini_wagner_l2,
    default_attack,
    pgd,
    square,
)
from robustsk.base import NearChanceWarning, RobustClassifier
from robustsk.certify import certify
from robustsk.defenses import (
    RandomizedSmoothingClassifier,
    RobustUpperBoundTraining,
    SDPCertifiedNetwork,
    all_defenses,
)

DEVICE = os.environ.get("ROBUSTSK_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(),
                       reason="needs CUDA (ROBUSTSK_TEST_DEVICE=cpu checks these tests)"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]
CHEAP = {"max_epochs": 1, "n_iter": 2, "batch_size": 32, "random_state": 0,
         "clip_min": 0.0, "clip_max": 1.0}


def on_device(fitted, device=DEVICE):
    """A copy of a fitted estimator with its networks moved to ``device``."""
    twin = copy.deepcopy(fitted)
    twin.device = device
    for name in ["module", *twin.extra_modules]:
        getattr(twin, name + "_").to(device)
    return twin


@pytest.fixture(scope="module")
def data(digits):
    X_tr, X_te, y_tr, y_te = digits
    return X_tr[:240], y_tr[:240], X_te[:60], y_te[:60]


@pytest.fixture(scope="module")
def model(data):
    """A small CNN fitted on the CPU (the attacks' and certificates' common weights)."""
    X, y, _, _ = data
    return RobustClassifier(max_epochs=8, lr=1e-2, batch_size=32, random_state=0, eps=0.1,
                            clip_min=0.0, clip_max=1.0, module__channels=(8, 16),
                            module__hidden_units=32).fit(X, y)


@pytest.mark.parametrize("name", sorted(all_defenses()))
def test_defense_fits_on_device_like_on_cpu(name, data):
    X, y, X_te, y_te = data
    cpu = all_defenses()[name](**CHEAP)
    gpu = clone(cpu).set_params(device=DEVICE)
    cpu.fit(X, y)
    gpu.fit(X, y)
    assert all(p.device.type == torch.device(DEVICE).type for p in gpu.module_.parameters())
    for est in (cpu, gpu):
        for opt in est.optimizers():
            for group in opt.param_groups:
                assert all(p.device == next(est.module_.parameters()).device
                           for p in group["params"])
    assert abs(gpu.score(X_te, y_te) - cpu.score(X_te, y_te)) <= 0.1
    attack = PGD(n_iter=3, random_state=0)
    robust = gpu.score_adversarial(X_te, y_te, attack=attack)
    assert 0.0 <= robust <= gpu.score(X_te, y_te)
    assert abs(robust - cpu.score_adversarial(X_te, y_te, attack=attack)) <= 0.15


ATTACKS = {
    "fgsm": lambda: FGSM(),
    "pgd": lambda: PGD(n_iter=10, random_state=0),
    "pgd-l2": lambda: PGD(norm=2, eps=0.5, n_iter=10, random_state=0),
    "rfgsm": lambda: RFGSM(random_state=0),
    "early-stopped-pgd": lambda: EarlyStoppedPGD(n_iter=10, random_state=0),
    "apgd-ce": lambda: APGD(n_iter=10, random_state=0),
    "apgd-dlr-targeted": lambda: APGD(loss="dlr-targeted", n_iter=5, n_target_classes=3,
                                      random_state=0),
    "fab": lambda: FAB(n_iter=10, n_target_classes=2, random_state=0),
    "worst-case": lambda: WorstCase([PGD(n_iter=5), APGD(n_iter=10)], random_state=0),
    "default": lambda: default_attack(),
    "square": lambda: Square(n_iter=50, random_state=0),
    "spsa": lambda: SPSA(n_iter=5, n_samples=16, random_state=0),
    "cw": lambda: CarliniWagnerL2(eps=1.0, n_iter=10, n_binary_steps=2),
    "spatial": lambda: Spatial(n_rotations=3),
    "iwd": lambda: IWD(eps=0.3, n_iter=3),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_on_device_like_on_cpu(name, model, data):
    pytest.importorskip("geomloss") if name == "iwd" else None
    _, _, X, y = data
    gpu = on_device(model)
    X_cpu = ATTACKS[name]().generate(model, X, y)
    X_gpu = ATTACKS[name]().generate(gpu, X, y)
    assert isinstance(X_gpu, np.ndarray) and X_gpu.shape == X.shape and X_gpu.dtype == X.dtype
    assert X_gpu.min() >= 0.0 and X_gpu.max() <= 1.0
    # the same weights attacked the same way: at most a few examples fall differently
    wrong_cpu = model.predict(X_cpu) != y
    wrong_gpu = gpu.predict(X_gpu) != y
    assert np.mean(wrong_cpu != wrong_gpu) <= 0.1, (wrong_cpu.mean(), wrong_gpu.mean())


def _flat(data):
    X, y, X_te, y_te = data
    return X.reshape(len(X), -1), y, X_te.reshape(len(X_te), -1), y_te


@pytest.mark.filterwarnings("ignore::robustsk.base.NearChanceWarning")
@pytest.mark.parametrize("method", ["ibp", "sdp_dual", "sdp_exact", "rub", "smoothing"])
def test_certify_on_device_like_on_cpu(method, data):
    X, y, X_te, y_te = _flat(data)
    if method == "sdp_exact":
        pytest.importorskip("cvxpy")
    if method in ("sdp_dual", "sdp_exact"):
        # three classes: three pairs of classes, three small SDPs for the exact solver
        keep, keep_te = y < 3, y_te < 3
        X, y, X_te, y_te = X[keep], y[keep], X_te[keep_te], y_te[keep_te]
        cpu = SDPCertifiedNetwork(hidden_units=4, eps=0.02, max_epochs=2, random_state=0,
                                  clip_min=0.0, clip_max=1.0).fit(X, y)
    elif method == "rub":
        cpu = RobustUpperBoundTraining(method="rub", hidden_units=8, eps=0.02, max_epochs=2,
                                       random_state=0, clip_min=0.0, clip_max=1.0).fit(X, y)
    else:
        cpu = RobustClassifier(max_epochs=3, lr=0.01, random_state=0, clip_min=0.0,
                               clip_max=1.0, module__hidden_units=(32,)).fit(X, y)
    if method == "smoothing":
        smooth = RandomizedSmoothingClassifier(cpu, sigma=0.25, n=50, n0=10, random_state=0)
        cpu = smooth.fit(X, y)
        gpu = clone(smooth).set_params(
            base_estimator=clone(smooth.base_estimator).set_params(device=DEVICE)).fit(X, y)
        norm, eps = "2", 0.1
    else:
        gpu = on_device(cpu)
        norm, eps = "inf", 0.02
    res_cpu = certify(cpu, X_te, y_te, eps, norm=norm, method=method)
    res_gpu = certify(gpu, X_te, y_te, eps, norm=norm, method=method)
    assert res_gpu.certified.shape == (len(y_te),)
    limit = 0.15 if method == "smoothing" else 1 / len(y_te)  # one borderline example
    assert np.mean(res_gpu.certified != res_cpu.certified) <= limit


def test_report_on_device_like_on_cpu(tmp_path):
    from robustsk.report import run_report
    kw = dict(defenses="standard,madry", attacks=["fgsm", "pgd"], epochs=1, eps_grid="0",
              n_train=200, n_test=60, threads=1, seed=0, masking_checks=False, estimate=False)
    cpu = run_report(device="cpu", output=tmp_path / "cpu", **kw)
    gpu = run_report(device=DEVICE, output=tmp_path / "gpu", **kw)
    assert list(gpu.table.index) == list(cpu.table.index)
    accuracies = [c for c in cpu.table.columns if c != "fit_seconds"]
    diff = (gpu.table[accuracies] - cpu.table[accuracies]).abs()
    assert float(diff.max().max()) <= 0.15  # NaN (no certificate) on both sides is skipped
    import json
    assert json.loads(gpu.info_path.read_text())["device"] == DEVICE


def test_example_streams_on_device_equal_cpu():
    # counter-based streams: integer arithmetic on the device, the same draws as the CPU's
    like = torch.zeros(50, 1, 7, 5)
    cpu, dev = Randomness.for_examples(7, 50), Randomness.for_examples(7, 50)
    u_cpu, u_dev = cpu.uniform(like), dev.uniform(like.to(DEVICE))
    assert u_dev.device.type == torch.device(DEVICE).type
    assert torch.equal(u_dev.cpu(), u_cpu)  # multiples of 2**-24: exact on any device
    z_cpu, z_dev = cpu.normal(like), dev.normal(like.to(DEVICE))
    # Box-Muller's log and cosine may round differently on the device, by an ulp
    assert torch.allclose(z_dev.cpu(), z_cpu, rtol=0, atol=1e-5)
    rows = torch.tensor([3, 17, 42])  # a subset continues its examples' streams
    assert torch.equal(cpu.subset(rows).uniform(like[:3]),
                       dev.subset(rows.to(DEVICE)).uniform(like[:3].to(DEVICE)).cpu())


def _syncing_problem():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).to(DEVICE)
    x = torch.rand(128, 1, 8, 8, device=DEVICE)
    return model, x, model(x).argmax(1)  # all correct at first: every example is attacked


STEP_LOOPS = {
    "pgd": lambda m, x, y, k: pgd(m, x, y, eps=0.3, n_iter=k, n_restarts=2, clip_min=0,
                                  clip_max=1, random_state=Randomness.for_examples(0, len(x))),
    "apgd": lambda m, x, y, k: apgd(m, x, y, eps=0.3, n_iter=k, clip_min=0, clip_max=1,
                                    random_state=0),
    "cw": lambda m, x, y, k: carlini_wagner_l2(m, x, y, n_iter=k, n_binary_steps=2),
    "square": lambda m, x, y, k: square(m, x, y, eps=0.3, n_iter=k, clip_min=0, clip_max=1,
                                        random_state=0),
}


@pytest.mark.skipif(not DEVICE.startswith("cuda"), reason="CUDA's sync debug mode "
                    "(tests/attacks/test_sync_free.py checks the CPU)")
@pytest.mark.parametrize("name", sorted(STEP_LOOPS))
def test_step_loops_do_not_synchronise(name):
    # CUDA reports every operation that makes the host wait for the device;
    # their number must not grow with the number of steps
    model, x, y = _syncing_problem()
    STEP_LOOPS[name](model, x, y, 1)  # first use: CUDA's lazy initialisations sync once
    counts, places = [], []
    for n_iter in (3, 9):
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                STEP_LOOPS[name](model, x, y, n_iter)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        syncs = [f"{w.filename}:{w.lineno}" for w in caught if "synchronizing" in str(w.message)]
        counts.append(len(syncs))
        places.append(collections.Counter(syncs))
    # a sync inside the step loop would add one per step (the number may fall)
    assert counts[1] <= counts[0], (f"{name}: {counts[0]} syncs at 3 steps, {counts[1]} at 9; "
                                    f"more at: {places[1] - places[0]}")


@pytest.mark.skipif(not DEVICE.startswith("cuda"), reason="reads CUDA's peak memory")
def test_no_graph_kept_between_steps_on_device():
    # a large batch: a graph kept alive per step would grow the peak with the steps
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(32 * 28 * 28, 10)).to(DEVICE)
    x = torch.rand(4096, 1, 28, 28, device=DEVICE)
    y = torch.randint(0, 10, (4096,), device=DEVICE)
    peaks = []
    for n_iter in (2, 8):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        pgd(model, x, y, eps=1e-4, n_iter=n_iter, clip_min=0, clip_max=1, random_state=0)
        torch.cuda.synchronize()
        peaks.append(torch.cuda.max_memory_allocated())
    assert peaks[1] <= 1.05 * peaks[0], peaks


@pytest.mark.skipif(not DEVICE.startswith("cuda"), reason="the CPU keeps batch_size")
def test_predictions_on_device_in_batches_sized_by_memory(model, data):
    X, y, X_te, _ = data
    gpu = on_device(model)
    dataset = gpu.get_dataset(X)
    assert gpu.get_iterator(dataset, training=False).batch_size > gpu.batch_size
    assert gpu.get_iterator(dataset, training=True).batch_size == gpu.batch_size
    np.testing.assert_allclose(gpu.predict_proba(X_te), model.predict_proba(X_te),
                               rtol=0, atol=1e-4)


_ = NearChanceWarning  # imported for the filter's name
