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


# No test of the paper's claim (IAT keeps more clean accuracy than AdversarialTraining at
# comparable PGD-20 robust accuracy): no setting tried shows it for 2 seeds with margin, let
# alone within a test's budget. Measured with benchmarks/iat_vs_at.py (default SmallCNN unless
# noted, Adam 1e-3, batch 64, training PGD n_iter=3 step eps/4, test PGD-20; digits: conftest
# split, 450 test images; Fashion-MNIST: first n train / first 500 test images):
#
#   data         n     eps   ep  alpha seed | AT clean/robust | IAT clean/robust
#   digits       600   0.1    6  1.0   0    | 0.893 / 0.596   | 0.847 / 0.573
#   digits       600   0.2    6  1.0   0    | 0.876 / 0.253   | 0.824 / 0.216
#   digits       1347  0.2    6  1.0   0    | 0.944 / 0.311   | 0.944 / 0.236
#   digits       600   0.2   15  1.0   0    | 0.949 / 0.293   | 0.953 / 0.253
#   digits       600   0.2   15  0.2   0    | 0.949 / 0.293   | 0.962 / 0.242
#   digits       1347  0.2   15  1.0   0    | 0.982 / 0.378   | 0.971 / 0.300
#   digits       600   0.25  15  1.0   0    | 0.942 / 0.147   | 0.956 / 0.120
#   digits       600   0.25  15  1.0   1    | 0.933 / 0.116   | 0.951 / 0.078
#   digits       1347  0.25  15  1.0   0    | 0.969 / 0.193   | 0.971 / 0.136
#   digits       600   0.3    6  1.0   0    | 0.747 / 0.073   | 0.860 / 0.016
#   digits       1347  0.3    6  1.0   0    | 0.867 / 0.069   | 0.931 / 0.042
#   digits       600   0.3   15  1.0   0    | 0.882 / 0.060   | 0.951 / 0.033
#   digits       600   0.3   15  1.0   1    | 0.884 / 0.031   | 0.940 / 0.016
#   digits       1347  0.3   15  1.0   0    | 0.944 / 0.080   | 0.964 / 0.027
#   fashion      500   0.1    6  1.0   0    | 0.674 / 0.464   | 0.614 / 0.396
#   fashion      1000  0.1    6  1.0   0    | 0.682 / 0.516   | 0.752 / 0.516
#   fashion      1000  0.1    6  1.0   1    | 0.686 / 0.530   | 0.722 / 0.474
#   fashion (a)  1000  0.1    6  1.0   0    | 0.656 / 0.480   | 0.728 / 0.440
#   fashion (b)  1000  0.1    6  1.0   0    | 0.698 / 0.354   | 0.654 / 0.338
#   (a) module__channels=(16, 32); (b) module__channels=(8, 16), module__hidden_units=64
#
# Clean accuracy is clearly higher only where robust accuracy is near zero for both (digits,
# eps 0.3: the robust half of the claim would be vacuous there) or on Fashion-MNIST with 1000
# images, where seed 0 shows it (+0.070 clean, equal robust) but seed 1 does not (+0.036 clean,
# -0.056 robust), at ~2-3 min of fitting per pair on one thread, beyond a unit test's budget.
#
# Compared along AT's frontier instead (AT's training eps varied so that robust accuracy
# matches; digits, 600 images, 10 epochs, n_iter=3, step eps/4 (the default), test PGD-20 at
# eps 0.2 on 450 images; benchmarks/iat_vs_at.py with settings such as {"name": "digits",
# "n_tr": 600, "n_te": 450, "eps": 0.25, "at_eps": 0.15, "test_eps": 0.2, "epochs": 10,
# "n_iter": 3, "alpha": 1.0, "seed": 0}):
#
#   seed | AT  train eps 0.10 / 0.15 / 0.20 (clean, robust) | IAT train eps 0.20 / 0.25 / 0.30
#   0    | .953,.118  .940,.202  .933,.276                  | .938,.224  .931,.280  .922,.298
#   1    | .933,.147  .933,.202  .907,.280                  | .940,.218  .929,.260  .924,.300
#
# Seed 1 puts IAT above AT's frontier (+0.017 clean at +0.020 robust against AT at 0.20),
# seed 0 on it (within 0.003): no margin beyond the 0.012 standard error of these accuracies.
