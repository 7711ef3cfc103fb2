"""Under load and in parallel: bounded memory, n_jobs=2 equals n_jobs=1, no oversubscription."""
import json
import os
from pathlib import Path
import subprocess
import sys
import textwrap

from joblib import Parallel, delayed
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from skorch.callbacks import Callback
import torch

from robustsk.attacks import PGD
from robustsk.defenses import AdversarialTraining, StandardTraining
from robustsk.metrics import make_adversarial_scorer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
ROOT = Path(__file__).resolve().parents[1]

# Peak resident memory added by a call, in a fresh process: glibc's free memory is
# returned (malloc_trim) and the kernel's high-water mark reset (clear_refs) first.
_MEMORY_SCRIPT = textwrap.dedent("""
    import ctypes, gc, json, sys, warnings
    import numpy as np, torch
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    from robustsk.attacks import PGD
    from robustsk.defenses import StandardTraining
    from robustsk.evaluation import evaluate_robustness
    libc = ctypes.CDLL("libc.so.6")

    def status(key):
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key))

    def growth(fn):
        gc.collect(); libc.malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = status("VmRSS:")
        fn()
        return status("VmHWM:") - before

    n, k = int(sys.argv[1]), int(sys.argv[2])
    rng = np.random.RandomState(0)
    X = rng.rand(k * n, 3, 16, 16).astype(np.float32)
    y = rng.randint(0, 10, k * n)
    clf = StandardTraining(max_epochs=1, random_state=0, clip_min=0, clip_max=1,
                           batch_size=128).fit(X[:128], y[:128])
    out = {"bytes_per_example": X[0].nbytes}
    for m in (n, k * n):
        out[f"score_{m}"] = growth(lambda: clf.score_adversarial(
            X[:m], y[:m], attack=PGD(n_iter=2, batch_size=64)))
    for m in (n, k * n):
        out[f"evaluate_{m}"] = growth(lambda: evaluate_robustness(
            clf, X[:m], y[:m], attacks=[PGD(n_iter=2, batch_size=64)], eps=0.05,
            random_state=0, check_masking=False, batch_size=64))
    print(json.dumps(out))
""")


@pytest.mark.skipif(not (sys.platform.startswith("linux") and Path("/proc/self/clear_refs").exists()),
                    reason="needs Linux's /proc/self/clear_refs")
def test_memory_of_evaluation_bounded_by_batch_not_n():
    """Peak memory beyond a few input-sized arrays does not grow with n.

    From n to 8n examples, the extra peak memory per extra example stays below
    5 input-sized copies (the adversarial examples themselves are O(n); the
    attack's working memory is bounded by the batch). Before the projection at
    the numpy boundary worked in chunks, score_adversarial took about 11.
    """
    n, k = 128, 8
    proc = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(n), str(k)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    per_example = got["bytes_per_example"]
    slack = 8 * 2**20  # allocator arenas, page granularity
    for what in ("score", "evaluate"):
        small, large = got[f"{what}_{n}"], got[f"{what}_{k * n}"]
        extra = (large - small) / ((k - 1) * n)
        print(f"{what}: peak growth {small / 2**20:.1f} MiB at n={n}, "
              f"{large / 2**20:.1f} MiB at n={k * n}: {extra / per_example:.2f} input copies "
              "per extra example")
        assert large <= small + 5 * (k - 1) * n * per_example + slack, got


class RecordThreads(Callback):
    """Records torch's intra-op threads at each epoch (history column ``torch_threads``)."""

    def on_epoch_end(self, net, **kwargs):
        net.history.record("torch_threads", torch.get_num_threads())


def _oversubscribe_workers(n_jobs):
    """Leave every loky worker with more torch threads than its share (as earlier work may)."""
    def grab(_):
        import time
        torch.set_num_threads(os.cpu_count() + 1)
        time.sleep(0.2)  # so that each worker gets a task
        return os.getpid()
    return set(Parallel(n_jobs=n_jobs)(delayed(grab)(i) for i in range(4 * n_jobs)))


def _expected_threads(n_jobs):
    """joblib's per-worker budget: the user's OMP_NUM_THREADS, else cpu_count // n_jobs."""
    if "OMP_NUM_THREADS" in os.environ:
        return int(os.environ["OMP_NUM_THREADS"])
    return max(os.cpu_count() // n_jobs, 1)


def test_parallel_search_equals_sequential_without_oversubscription(digits):
    X_tr, _, y_tr, _ = digits
    X, y = X_tr[:80], y_tr[:80]
    cv = KFold(2, shuffle=True, random_state=0)
    est = AdversarialTraining(max_epochs=1, n_iter=2, random_state=0, clip_min=0, clip_max=1,
                              callbacks=[("threads", RecordThreads())])
    scoring = {"clean": "accuracy", "robust": make_adversarial_scorer(PGD(n_iter=2))}

    seq = cross_validate(est, X, y, cv=cv, scoring=scoring, n_jobs=1)
    _oversubscribe_workers(2)
    par = cross_validate(est, X, y, cv=cv, scoring=scoring, n_jobs=2, return_estimator=True)
    for key in ("test_clean", "test_robust"):
        np.testing.assert_array_equal(seq[key], par[key])
    used = {e.history[-1]["torch_threads"] for e in par["estimator"]}
    print(f"torch threads per worker: {used} (joblib's budget {_expected_threads(2)}, "
          f"{os.cpu_count()} CPUs)")
    assert used == {_expected_threads(2)}

    grid = {"eps": [0.05, 0.1]}
    searches = [GridSearchCV(StandardTraining(max_epochs=1, random_state=0, clip_min=0,
                                              clip_max=1), grid, cv=cv, n_jobs=jobs,
                             scoring=scoring, refit="robust").fit(X, y) for jobs in (1, 2)]
    for key in ("mean_test_clean", "mean_test_robust"):
        np.testing.assert_array_equal(searches[0].cv_results_[key], searches[1].cv_results_[key])
    assert searches[0].best_params_ == searches[1].best_params_


def test_thread_budget_outside_workers_is_left_alone():
    from robustsk.parallel import limit_worker_threads, worker_thread_budget
    before = torch.get_num_threads()
    assert worker_thread_budget() is None
    assert limit_worker_threads() == before == torch.get_num_threads()
