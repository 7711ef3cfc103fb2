"""The contract every defense keeps, as plain functions the sweeps call.

Used by ``test_contract.py`` (every class of ``robustsk.defenses``) and by
``test_extension_api.py`` (defenses written in a test file from public names),
so a user's defense is held to exactly what the built-in ones are.
"""
import pickle

import numpy as np
from sklearn.base import clone
import torch

#: a fit that takes well under a second on 2 cores
CHEAP = {"max_epochs": 1, "n_iter": 2, "batch_size": 32, "random_state": 0,
         "clip_min": 0.0, "clip_max": 1.0}


def weights(est):
    return [p.detach().cpu().clone() for p in est.module_.parameters()]


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def check_clone_and_params(est):
    params = est.get_params(deep=False)
    twin = clone(est)
    assert type(twin) is type(est)
    assert set(twin.get_params(deep=False)) == set(params)
    assert not twin.__sklearn_is_fitted__()


def check_reproducible(est, X, y):
    a = clone(est).fit(X, y)
    b = clone(est).fit(X, y)
    assert same_weights(weights(a), weights(b)), "same random_state, different weights"
    assert len(a.history) == est.max_epochs and "train_loss" in a.history[-1]
    return a


def check_pickle(fitted, X):
    back = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(back.predict_proba(X), fitted.predict_proba(X))


def check_scores(fitted, X, y):
    from robustsk.attacks import PGD
    clean = fitted.score(X, y)
    robust = fitted.score_adversarial(X, y, attack=PGD(n_iter=3, random_state=0))
    assert 0.0 <= robust <= clean <= 1.0
    assert fitted.predict(X).shape == (len(X),)
    assert set(np.unique(fitted.predict(X))) <= set(np.unique(y))
    proba = fitted.predict_proba(X)
    np.testing.assert_allclose(np.exp(fitted.predict_log_proba(X)), proba, atol=1e-6)


def check_failed_fit_loses_nothing(fitted, X, y):
    before = weights(fitted)
    history = len(fitted.history)
    bad = clone(fitted).set_params(eps=-1.0)
    fitted.set_params(eps=-1.0)
    try:
        for est in (bad, fitted):
            try:
                est.fit(X, y)
            except ValueError as err:
                assert "eps=-1.0" in str(err) and "expected" in str(err)
            else:
                raise AssertionError("fit accepted eps=-1.0")
    finally:
        fitted.set_params(eps=0.1)
    assert same_weights(before, weights(fitted)) and len(fitted.history) == history


def check_defense(est, X, y):
    """Run every check on ``est`` (unfitted, with cheap parameters) and ``X``, ``y``."""
    check_clone_and_params(est)
    fitted = check_reproducible(est, X, y)
    check_pickle(fitted, X[:50])
    check_scores(fitted, X[:60], y[:60])
    check_failed_fit_loses_nothing(fitted, X, y)
    return fitted
