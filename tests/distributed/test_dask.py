"""Grid search and cross-validation over defenses on a Dask cluster (joblib's Dask backend).

A local cluster of two worker *processes* stands in for a real one: the
estimators, data and results travel between processes as they would between
machines, and the scores must equal those of a run in this process exactly
(each fit is seeded by ``random_state`` alone).
"""
import logging

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold, cross_validate

from robustsk.defenses import TRADES, AdversarialTraining

distributed = pytest.importorskip("distributed", reason="pip install 'robustsk[dask]'")
joblib = pytest.importorskip("joblib")


@pytest.fixture(scope="module")
def cluster_client():
    # One torch thread per worker: the worker processes inherit this environment.
    import os
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=logging.ERROR)
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS")
        else:
            os.environ["OMP_NUM_THREADS"] = saved
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def _tiny(digits_small):
    X_tr, _, y_tr, _ = digits_small
    return X_tr[:120], y_tr[:120]


def test_grid_search_on_dask_equals_local(cluster_client, digits_small):
    X, y = _tiny(digits_small)
    grid = {"eps": [0.05, 0.1]}
    net = AdversarialTraining(n_iter=2, max_epochs=1, batch_size=32, random_state=0)
    cv = KFold(2)

    local = GridSearchCV(net, grid, cv=cv, n_jobs=1).fit(X, y)
    with joblib.parallel_backend("dask"):
        remote = GridSearchCV(net, grid, cv=cv, n_jobs=-1).fit(X, y)

    for key in ("split0_test_score", "split1_test_score", "mean_test_score"):
        np.testing.assert_array_equal(remote.cv_results_[key], local.cv_results_[key])
    assert remote.best_params_ == local.best_params_
    # The work ran on the cluster's workers, not in this process.
    assert len(cluster_client.scheduler_info()["workers"]) == 2
    np.testing.assert_array_equal(remote.predict(X), local.predict(X))


def test_cross_validate_on_dask_equals_local(cluster_client, digits_small):
    X, y = _tiny(digits_small)
    net = TRADES(n_iter=2, max_epochs=1, batch_size=32, random_state=1)
    local = cross_validate(net, X, y, cv=KFold(2), n_jobs=1)
    with joblib.parallel_backend("dask"):
        remote = cross_validate(net, X, y, cv=KFold(2), n_jobs=-1)
    np.testing.assert_array_equal(remote["test_score"], local["test_score"])
