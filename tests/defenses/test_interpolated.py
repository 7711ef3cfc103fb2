"""Interpolated adversarial training (Lamb et al., 2019)."""
import pytest
import torch

from robustsk.defenses import InterpolatedAdversarialTraining

BOX = {"clip_min": 0.0, "clip_max": 1.0}


class PlainNet(torch.nn.Sequential):
    """A module without the features contract (no features/head)."""

    def __init__(self):
        super().__init__(torch.nn.Flatten(), torch.nn.Linear(64, 10))


def test_records_both_terms_and_their_mean(digits_small):
    X_tr, _, y_tr, _ = digits_small
    clf = InterpolatedAdversarialTraining(n_iter=2, max_epochs=1, random_state=0, **BOX)
    row = clf.fit(X_tr[:256], y_tr[:256]).history[-1]
    assert row["train_loss"] == pytest.approx((row["train_clean_loss"] + row["train_adv_loss"]) / 2,
                                              rel=1e-5)
    assert row["train_adv_loss"] > row["train_clean_loss"]


@pytest.mark.parametrize("mix", ["input", "features"])
def test_same_seed_same_weights(digits_small, mix):
    X_tr, _, y_tr, _ = digits_small
    fits = [InterpolatedAdversarialTraining(mix=mix, n_iter=2, max_epochs=2, random_state=3,
                                            **BOX).fit(X_tr[:256], y_tr[:256]) for _ in range(2)]
    for a, b in zip(fits[0].module_.parameters(), fits[1].module_.parameters()):
        assert torch.equal(a, b)
    other = InterpolatedAdversarialTraining(mix=mix, n_iter=2, max_epochs=2, random_state=4,
                                            **BOX).fit(X_tr[:256], y_tr[:256])
    assert not torch.equal(next(other.module_.parameters()), next(fits[0].module_.parameters()))


def test_features_mix_needs_a_module_with_features(digits_small):
    X_tr, _, y_tr, _ = digits_small
    X = X_tr[:64].reshape(64, 1, 8, 8)
    with pytest.raises(TypeError, match="PlainNet has no callable features"):
        InterpolatedAdversarialTraining(module=PlainNet, mix="features", max_epochs=1).fit(
            X, y_tr[:64])
    # the input mix does not need them
    InterpolatedAdversarialTraining(module=PlainNet, n_iter=1, max_epochs=1, random_state=0,
                                    **BOX).fit(X, y_tr[:64])


@pytest.mark.parametrize("param, value", [("alpha", 0.0), ("alpha", -1.0), ("mix", "hidden")])
def test_bad_parameters_refused_before_any_work(digits_small, param, value):
    X_tr, _, y_tr, _ = digits_small
    clf = InterpolatedAdversarialTraining(n_iter=1, max_epochs=1, random_state=0, **BOX)
    clf.fit(X_tr[:128], y_tr[:128])
    before = [p.detach().clone() for p in clf.module_.parameters()]
    clf.set_params(**{param: value})
    with pytest.raises(ValueError, match=f"{param}={value!r}: expected"):
        clf.fit(X_tr[:128], y_tr[:128])
    for a, b in zip(before, clf.module_.parameters()):
        assert torch.equal(a, b)
