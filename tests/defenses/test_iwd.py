"""IWDAdversarialTraining: images only, errors before any work."""
import pytest

from robustsk.defenses import IWDAdversarialTraining

pytest.importorskip("geomloss")


def test_refuses_flat_inputs_and_large_patches_and_bad_parameters(digits):
    X, _, y, _ = digits
    for est, X_bad, match in ((IWDAdversarialTraining(), X[:40].reshape(40, -1), "images"),
                              (IWDAdversarialTraining(patch_size=9), X[:40], "larger")):
        with pytest.raises(ValueError, match=match):
            est.fit(X_bad, y[:40])
        assert not est.__sklearn_is_fitted__()
    with pytest.raises(ValueError, match="iwd_eps"):
        IWDAdversarialTraining(iwd_eps=-1.0).fit(X[:40], y[:40])
    with pytest.raises(ValueError, match="iwd_step_size"):
        IWDAdversarialTraining(iwd_step_size=0.0).fit(X[:40], y[:40])


def test_iwd_step_size_is_the_training_attacks_step(digits):
    """None means iwd_eps / 4 (the same weights); another step trains other weights."""
    X, _, y, _ = digits
    common = dict(iwd_eps=0.3, n_iter=2, max_epochs=1, batch_size=32, clip_min=0.0,
                  clip_max=1.0, random_state=0)

    def weights(**kw):
        clf = IWDAdversarialTraining(**common, **kw).fit(X[:32], y[:32])
        return [p.detach().clone() for p in clf.module_.parameters()]

    default, quarter, other = weights(), weights(iwd_step_size=0.075), weights(iwd_step_size=0.01)
    assert all(bool((a == b).all()) for a, b in zip(default, quarter))
    assert any(not bool((a == b).all()) for a, b in zip(default, other))


def test_scaling_reaches_the_training_attack(digits, monkeypatch):
    """The Sinkhorn schedule is a parameter of the defense (iwd hard-coded 0.5): GeomLoss's
    0.5 by default, for affordable training; 0.99 for the accurate distance."""
    import robustsk.defenses.iwd as module
    X, _, y, _ = digits
    seen = []
    real = module.iwd

    def spy(*args, **kwargs):
        seen.append(kwargs["scaling"])
        return real(*args, **kwargs)
    monkeypatch.setattr(module, "iwd", spy)
    IWDAdversarialTraining(n_iter=1, max_epochs=1, batch_size=32, clip_min=0.0, clip_max=1.0,
                           random_state=0).fit(X[:32], y[:32])
    clf = IWDAdversarialTraining(scaling=0.9, n_iter=1, max_epochs=1, batch_size=32,
                                 clip_min=0.0, clip_max=1.0, random_state=0)
    clf.fit(X[:32], y[:32])
    assert seen == [0.5, 0.9]
    with pytest.raises(ValueError, match="scaling"):
        IWDAdversarialTraining(scaling=1.5).fit(X[:32], y[:32])


def test_docstring_describes_the_coverage_weighted_step():
    doc = IWDAdversarialTraining.__doc__
    assert "signed ascent" not in doc and "coverage" in doc
