"""IWDAdversarialTraining: images only, errors before any work."""
import pytest

from robustsk.defenses import IWDAdversarialTraining

pytest.importorskip("geomloss")


def test_refuses_flat_inputs_and_large_patches(digits):
    X, _, y, _ = digits
    for est, X_bad, match in ((IWDAdversarialTraining(), X[:40].reshape(40, -1), "images"),
                              (IWDAdversarialTraining(patch_size=9), X[:40], "larger")):
        with pytest.raises(ValueError, match=match):
            est.fit(X_bad, y[:40])
        assert not est.__sklearn_is_fitted__()
    with pytest.raises(ValueError, match="iwd_eps"):
        IWDAdversarialTraining(iwd_eps=-1.0).fit(X[:40], y[:40])
