"""Shared tiny fixtures: digits as images and as flat features, fitted models."""
import numpy as np
import pytest
from sklearn.model_selection import train_test_split
import torch

from robustsk.datasets import load_digits_images

# Tiny models run fastest on one thread, and one thread cannot be slowed by
# oversubscription when the machine is shared.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits():
    """(X_train, X_test, y_train, y_test): digits images (n, 1, 8, 8) in [0, 1]."""
    X, y = load_digits_images(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="session")
def digits_small(digits):
    """600 training and 150 test images."""
    X_tr, X_te, y_tr, y_te = digits
    return X_tr[:600], X_te[:150], y_tr[:600], y_te[:150]


@pytest.fixture(scope="session")
def tabular():
    """A standardised two-feature-group tabular problem with 3 classes."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    return X, y


@pytest.fixture(params=[0, 1])
def global_random_seed(request):
    """scikit-learn-style seed fixture: the tests must pass for any seed."""
    return request.param


@pytest.fixture(autouse=True)
def _keep_library_path():
    """Undo R's LD_LIBRARY_PATH after tests that start R through rpy2 directly.

    Child processes (joblib's workers) inheriting it may load the wrong
    libpython; robustsk.stats restores it itself, tests that import rpy2 do not.
    """
    import os
    saved = os.environ.get("LD_LIBRARY_PATH")
    yield
    if saved is None:
        os.environ.pop("LD_LIBRARY_PATH", None)
    else:
        os.environ["LD_LIBRARY_PATH"] = saved


class PerExample(torch.nn.Module):
    """Runs the wrapped network on one example at a time.

    A batched forward pass does not round like a lone one: BLAS and oneDNN
    pick their blocking (and so the order of float sums) by batch size and
    CPU (AVX2, AVX-512). An attack whose gradient has a near-zero component
    (KL to the clean prediction at a 0.001-scale start, a saturated loss)
    can then take another sign step for an example attacked alone than for
    the same example in a batch. The attacks promise that an example's result
    does not depend on the *other examples* (its random stream, early
    stopping, the rows attacked); behind this wrapper every example follows
    the same arithmetic alone or in any batch, so tests of that promise can
    compare bit for bit on any machine.
    """

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        if len(x) <= 1:
            return self.net(x)
        return torch.cat([self.net(x[i:i + 1]) for i in range(len(x))])


def _per_example(model):
    import copy
    if isinstance(model, torch.nn.Module):
        return PerExample(model)
    exact = copy.deepcopy(model)
    exact.module_ = PerExample(exact.module_)
    return exact


@pytest.fixture(scope="session")
def per_example():
    """``per_example(module_or_fitted_estimator)``: a copy whose forward pass runs
    example by example (:class:`PerExample`), for bit-exact batch comparisons."""
    return _per_example


@pytest.fixture(scope="session")
def executed_notebooks(tmp_path_factory):
    """``run(name)``: notebook ``name`` of notebooks/ executed at most once per session.

    Returns ``(notebook, seconds)`` and keeps the executed copy in ``run.folder``
    (tests/test_notebooks.py checks it, tests/test_docs_site.py renders it); a
    notebook that raised raises the same ``NotebookFailed`` at every call.
    """
    from pathlib import Path
    import sys

    ext = str(Path(__file__).resolve().parents[1] / "docs" / "_ext")
    if ext not in sys.path:
        sys.path.insert(0, ext)
    import nbformat
    import robustsk_notebooks

    folder = tmp_path_factory.mktemp("executed_notebooks")
    done = {}

    def run(name):
        if name not in done:
            try:
                nb, seconds = robustsk_notebooks.execute(robustsk_notebooks.NOTEBOOKS / name)
            except robustsk_notebooks.NotebookFailed as err:
                done[name] = err
            else:
                nbformat.write(nb, folder / name)
                done[name] = (nb, seconds)
        if isinstance(done[name], Exception):
            raise done[name]
        return done[name]

    run.folder = folder
    run.module = robustsk_notebooks
    return run


def pytest_configure(config):
    # pytest-xdist registers it too; without xdist the marker is inert
    config.addinivalue_line("markers", "xdist_group(name): tests run on one xdist worker")


#: Files whose tests share no costly fixture: their tests are spread over the workers
#: one by one (test_estimator_checks.py alone is a quarter of the suite's time).
SPREAD = {"test_estimator_checks.py", "test_docs.py"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the markers
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist's ``--dist loadgroup`` (CI: ``-n 2``), keep each test file on
    one worker, so module-scoped fixtures (fitted models) are built once; the notebook
    tests and the documentation site share one worker, so no notebook runs twice."""
    shared = {"test_notebooks.py": "notebooks", "test_docs_site.py": "notebooks"}
    for item in items:
        name = item.path.name
        if name not in SPREAD:
            item.add_marker(pytest.mark.xdist_group(
                shared.get(name, item.nodeid.split("::", 1)[0])))
