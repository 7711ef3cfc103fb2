"""RandomizedSmoothingClassifier: the paper's trends in sigma and n, abstention, API, errors."""
import numpy as np
import pytest
from scipy import stats
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
import torch

from robustsk.attacks import PGD
from robustsk.certify import certify
from robustsk.defenses import RandomizedSmoothingClassifier, StandardTraining


@pytest.fixture(scope="module")
def flat(digits_small):
    X_tr, X_te, y_tr, y_te = digits_small
    return X_tr.reshape(len(X_tr), -1), X_te[:40].reshape(40, -1), y_tr, y_te[:40]


def _base(seed, epochs=8):
    return StandardTraining(max_epochs=epochs, lr=0.01, random_state=seed,
                            module__hidden_units=(32,))


@pytest.fixture(scope="module", params=[0, 1])
def smoothed(request, flat):
    """Two smoothed MLPs, sigma 0.12 and 0.5, certified with n = 100 and n = 1000."""
    X_tr, X_te, y_tr, y_te = flat
    out, models = {}, {}
    for sigma in (0.12, 0.5):
        clf = RandomizedSmoothingClassifier(_base(request.param), sigma=sigma,
                                            random_state=request.param).fit(X_tr, y_tr)
        models[sigma] = clf
        for n in (100, 1000):
            out[sigma, n] = clf.certify(X_te, n=n)
    return out, y_te, models, X_te


def _cap(sigma, n, alpha=0.001):
    # all n draws on the top class: pA_lower = alpha ** (1 / n) (Cohen et al., Sec. 3.2)
    return sigma * stats.norm.ppf(alpha ** (1 / n))


def test_radii_are_capped_by_sigma_and_n(smoothed):
    out = smoothed[0]
    for (sigma, n), (labels, radius) in out.items():
        assert radius.max() <= _cap(sigma, n) + 1e-12
        assert (radius[labels == -1] == 0).all() and (radius[labels != -1] > 0).all()


def test_more_samples_fewer_abstentions_larger_radii(smoothed):
    out = smoothed[0]
    for sigma in (0.12, 0.5):
        (lab_small, rad_small), (lab_big, rad_big) = out[sigma, 100], out[sigma, 1000]
        assert (lab_big == -1).mean() <= (lab_small == -1).mean()
        assert rad_big.mean() > rad_small.mean() + 0.05


def test_larger_sigma_abstains_more_and_certifies_larger_radii(smoothed):
    out, y = smoothed[:2]
    for n in (100, 1000):
        assert (out[0.5, n][0] == -1).mean() > (out[0.12, n][0] == -1).mean() + 0.05
    # at radius 0.5 only the large sigma can certify (the small one's cap is 0.30)
    certified = {s: ((out[s, 1000][0] == y) & (out[s, 1000][1] > 0.5)).mean() for s in (0.12, 0.5)}
    assert certified[0.12] == 0 and certified[0.5] > 0.05
    assert out[0.5, 1000][1].max() > _cap(0.12, 1000)


def test_certified_points_keep_their_class_under_attack(smoothed):
    # Soundness (with probability >= 1 - alpha per example): PGD-L2 inside the certified
    # radius, against the noise-trained base, never makes PREDICT return another class
    # (PREDICT may abstain there: abstaining is not a wrong class). A weak check on these
    # data: PGD at 0.4 rarely fools even the base at certified points; above the largest
    # radii (eps 1.0) the same attack makes PREDICT answer wrong classes.
    out, y, models, X = smoothed
    clf = models[0.5]
    labels, radius = out[0.5, 1000]
    eps = 0.4
    sure = (labels == y) & (radius > eps)
    assert sure.sum() >= 5
    X_adv = PGD(eps=eps, norm=2, n_iter=20, n_restarts=2, random_state=0).generate(
        clf.base_estimator_, X[sure], y[sure])
    pred = clf.predict(X_adv)
    assert ((pred == y[sure]) | (pred == -1)).all()
    assert (pred == y[sure]).mean() > 0.5  # and mostly it still answers correctly


def test_certify_entry_point_and_predict(flat):
    X_tr, X_te, y_tr, y_te = flat
    clf = RandomizedSmoothingClassifier(_base(0, 4), sigma=0.25, n=200, random_state=0)
    clf.fit(X_tr, y_tr)
    res = certify(clf, X_te[:20], y_te[:20], 0.1)
    assert res.method == "smoothing" and res.norm == "2" and res.params == {}
    labels, radius = clf.certify(X_te[:20])
    np.testing.assert_array_equal(res.radius, radius)
    np.testing.assert_array_equal(res.certified, (labels == y_te[:20]) & (radius > 0.1))
    # per-example noise: a subset gets the same answers as in the full call
    sub_labels, sub_radius = clf.certify(X_te[:5])
    np.testing.assert_array_equal(sub_radius, radius[:5])
    other = clf.certify(X_te[:20], random_state=7)[1]
    assert not np.array_equal(other, radius)
    pred = clf.predict(X_te[:20])
    assert set(np.unique(pred)) <= set(clf.classes_) | {-1}
    assert clf.score(X_te[:20], y_te[:20]) == (pred == y_te[:20]).mean()


def test_abstain_label_with_string_classes(flat):
    X_tr, X_te, y_tr, _ = flat
    names = np.array(list("abcdefghij"))
    clf = RandomizedSmoothingClassifier(_base(0, 1), sigma=2.0, n=30, n0=10,
                                        abstain_label="abstain", random_state=0)
    labels, _ = clf.fit(X_tr[:200], names[y_tr[:200]]).certify(X_te[:10])
    assert set(labels) <= set(names) | {"abstain"} and "abstain" in set(labels)
    with pytest.raises(ValueError, match="abstain_label='a' is one of the class labels"):
        clf.set_params(abstain_label="a").fit(X_tr[:200], names[y_tr[:200]])
    with pytest.raises(ValueError, match="is one of the class labels"):  # numpy's str_ too
        clf.set_params(abstain_label=np.str_("a")).fit(X_tr[:200], names[y_tr[:200]])



def test_default_abstain_label_follows_the_labels(flat):
    """None picks a label of the labels' kind: strings score and sort like the labels, numbers
    keep their dtype (and avoid a class -1), bools come back in an object array."""
    X_tr, X_te, y_tr, y_te = flat
    X, y = X_tr[:150], (y_tr[:150] % 2)
    kw = {"sigma": 2.0, "n": 30, "n0": 10, "random_state": 0}
    cases = {"str": (np.array(["even", "odd"])[y], "abstain", "<U"),
             "minus-one": (np.where(y == 1, 1, -1), -2, "int"),
             "int": (y, -1, "int"),
             "bool": (y.astype(bool), -1, "object")}
    for name, (labels, expected, dtype) in cases.items():
        clf = RandomizedSmoothingClassifier(_base(0, 1), **kw).fit(X, labels)
        assert clf.abstain_label_ == expected, name
        pred = clf.predict(X_te[:20])
        assert str(pred.dtype).startswith(dtype) or pred.dtype.kind == dtype[0], (name, pred.dtype)
        assert expected in set(pred.tolist()), name  # sigma 2 and n 30: some abstain
        truth = labels[:20]
        assert clf.score(X_te[:20], truth) == np.mean([p == t for p, t in zip(pred, truth)])
    with pytest.raises(ValueError, match="does not match the labels"):
        RandomizedSmoothingClassifier(abstain_label=-1).fit(X, cases["str"][0])
    with pytest.raises(ValueError, match="does not match the labels"):
        RandomizedSmoothingClassifier(abstain_label="abstain").fit(X, y)


def test_grid_search_over_which_defense_with_string_labels(flat):
    X_tr, _, y_tr, _ = flat
    names = np.array(list("abcdefghij"))[y_tr[:120]]
    candidates = [StandardTraining(max_epochs=1, random_state=0),
                  RandomizedSmoothingClassifier(_base(0, 1), n=30, n0=10, random_state=0)]
    search = GridSearchCV(Pipeline([("clf", candidates[0])]), {"clf": candidates}, cv=2)
    search.fit(X_tr[:120], names)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_feature_names_checked_like_every_estimator(flat):
    pd = pytest.importorskip("pandas")
    X_tr, _, y_tr, _ = flat
    df = pd.DataFrame(X_tr[:100], columns=[f"px{i}" for i in range(X_tr.shape[1])])
    clf = RandomizedSmoothingClassifier(_base(0, 1), n=30, n0=10, random_state=0)
    clf.fit(df, y_tr[:100])
    assert list(clf.feature_names_in_) == list(df.columns)
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(df[df.columns[::-1]])
    with pytest.warns(UserWarning, match="valid feature names"):
        clf.predict(X_tr[:2])


def test_score_based_attacks_on_a_scikit_learn_base_fail_clearly(flat):
    from sklearn.linear_model import LogisticRegression

    from robustsk.attacks import Square
    from robustsk.metrics import robust_accuracy
    X_tr, X_te, y_tr, y_te = flat
    clf = RandomizedSmoothingClassifier(LogisticRegression(max_iter=200), n=30, n0=10,
                                        random_state=0).fit(X_tr[:100], y_tr[:100])
    with pytest.raises(TypeError, match="neither predict_proba nor decision_function"):
        robust_accuracy(clf, X_te[:5], y_te[:5], Square(eps=0.3, n_iter=2))
    with pytest.raises(TypeError, match="Smooth a robustsk estimator"):
        clf.score_adversarial(X_te[:5], y_te[:5], PGD(eps=0.5, n_iter=2))


def test_score_adversarial_attacks_the_soft_smoothed_classifier(flat):
    X_tr, X_te, y_tr, y_te = flat
    clf = RandomizedSmoothingClassifier(_base(0, 2), sigma=0.25, n=100, n0=10, random_state=0)
    clf.fit(X_tr[:200], y_tr[:200])
    robust = clf.score_adversarial(X_te[:10], y_te[:10], PGD(eps=1.0, n_iter=3))
    assert 0.0 <= robust <= clf.score(X_te[:10], y_te[:10])


def test_clone_and_grid_search_over_sigma(flat):
    X_tr, _, y_tr, _ = flat
    clf = RandomizedSmoothingClassifier(_base(0, 2), sigma=0.25, n=30, n0=10, random_state=0)
    params = clf.get_params()
    assert params["sigma"] == 0.25 and params["base_estimator__max_epochs"] == 2
    copy = clone(clf).set_params(sigma=0.5, base_estimator__max_epochs=1)
    assert copy.sigma == 0.5 and copy.base_estimator.max_epochs == 1 and clf.sigma == 0.25
    search = GridSearchCV(clf, {"sigma": [0.1, 0.5]}, cv=2).fit(X_tr[:200], y_tr[:200])
    assert search.best_params_["sigma"] in (0.1, 0.5)
    # trained epoch by epoch on fresh noise, its max_epochs kept (schedules read it)
    assert search.best_estimator_.base_estimator_.max_epochs == 2
    assert len(search.best_estimator_.base_estimator_.history) == 2


@pytest.mark.parametrize("params, match", [
    ({"sigma": 0.0}, "sigma"),
    ({"sigma": -1.0}, "sigma"),
    ({"n0": 200, "n": 100}, "n0=200 exceeds n=100"),
    ({"alpha": 0.0}, "alpha"),
    ({"alpha": 1.0}, "alpha"),
    ({"n": 0}, "n="),
    ({"random_state": -1}, "random_state=-1"),
])
def test_bad_parameters_fail_before_training(flat, params, match):
    X_tr, _, y_tr, _ = flat
    clf = RandomizedSmoothingClassifier(_base(0, 1), **params)
    with pytest.raises(ValueError, match=match):
        clf.fit(X_tr[:50], y_tr[:50])
    assert not hasattr(clf, "base_estimator_")


def test_bad_certify_arguments_fail_before_sampling(flat):
    X_tr, X_te, y_tr, y_te = flat
    clf = RandomizedSmoothingClassifier(_base(0, 1), n=50, n0=10).fit(X_tr[:100], y_tr[:100])
    with pytest.raises(ValueError, match="n0=100 exceeds n=50"):
        clf.certify(X_te, n0=100)
    with pytest.raises(ValueError, match="alpha"):
        certify(clf, X_te, y_te, 0.1, alpha=1.5)
    with pytest.raises(ValueError, match="random_state"):
        clf.certify(X_te, random_state="x")
    with pytest.raises(ValueError, match="random_state=-5: expected None or an int >= 0"):
        clf.certify(X_te, random_state=-5)
    with pytest.raises(ValueError, match="X has 10 features, but .* expecting 64"):
        clf.certify(X_te[:, :10])


def test_a_refused_refit_keeps_the_seed_and_the_certificates(flat):
    """random_state=None draws a new seed each fit: a fit the base refuses keeps the old one."""
    X_tr, X_te, y_tr, _ = flat
    clf = RandomizedSmoothingClassifier(_base(0, 1), n=30, n0=10).fit(X_tr[:100], y_tr[:100])
    seed, before = clf.random_seed_, clf.certify(X_te[:10])
    clf.set_params(base_estimator__eps=-1.0)
    with pytest.raises(ValueError, match="eps"):
        clf.fit(X_tr[:100], y_tr[:100])
    clf.set_params(base_estimator__eps=0.1)
    after = clf.certify(X_te[:10])
    assert clf.random_seed_ == seed
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])


def test_noise_training_keeps_the_base_schedule_and_max_epochs(flat):
    """Epoch by epoch on fresh noise, yet the base's max_epochs stays, so schedules in
    fractions of it run as in a plain fit; without noise training the base is fitted as is."""
    from robustsk.defenses import DynamicAdversarialTraining
    X_tr, _, y_tr, _ = flat
    X, y = X_tr[:150], y_tr[:150]
    kw = {"eps": 0.1, "n_iter": 4, "max_epochs": 4, "clip_min": 0.0, "clip_max": 1.0,
          "random_state": 0, "batch_size": 150}
    smoothed = RandomizedSmoothingClassifier(DynamicAdversarialTraining(**kw), sigma=0.1,
                                             random_state=0).fit(X, y)
    base = smoothed.base_estimator_
    plain = DynamicAdversarialTraining(**kw).fit(X, y)
    assert base.max_epochs == 4 and len(base.history) == 4
    assert [base.current_c(e) for e in range(4)] == [plain.current_c(e) for e in range(4)]
    assert base.current_c(1) > 0  # the schedule did not jump to its end
    clean = RandomizedSmoothingClassifier(_base(0, 2), noise_training=False,
                                          random_state=0).fit(X, y).base_estimator_
    alone = _base(0, 2).fit(X, y)
    for a, b in zip(clean.module_.parameters(), alone.module_.parameters()):
        assert torch.equal(a, b)


def test_score_checks_labels_before_the_monte_carlo_predictions(flat, monkeypatch):
    X_tr, X_te, y_tr, y_te = flat
    clf = RandomizedSmoothingClassifier(_base(0, epochs=1), n0=4, n=8, random_state=0)
    clf.fit(X_tr[:200], y_tr[:200])
    monkeypatch.setattr(type(clf), "predict", lambda *a, **k: pytest.fail("predicted"))
    with pytest.raises(ValueError, match=r"y holds string labels .* classes of "
                                         r"RandomizedSmoothingClassifier are numeric"):
        clf.score(X_te, y_te.astype(str))
    with pytest.raises(ValueError, match="X has 40 samples but y has 39"):
        clf.score(X_te, y_te[:39])


def test_a_checkpoint_in_a_noise_trained_base_is_refused_before_any_work(flat, tmp_path):
    """Its per-epoch noisy fits wrote checkpoints that no rerun could resume ("a fit of
    other data"): the second run of the same script failed."""
    from robustsk.callbacks import TrainingCheckpoint
    X_tr, _, y_tr, _ = flat
    base = StandardTraining(max_epochs=2, random_state=0,
                            callbacks=[TrainingCheckpoint(tmp_path)])
    with pytest.raises(ValueError, match="cannot resume.*noise_training=False"):
        RandomizedSmoothingClassifier(base, random_state=0).fit(X_tr[:60], y_tr[:60])
    assert not any(tmp_path.iterdir())
    for _ in range(2):  # clean training resumes: the second fit loads the first's epochs
        clf = RandomizedSmoothingClassifier(base, noise_training=False, n=20, n0=10,
                                            random_state=0).fit(X_tr[:60], y_tr[:60])
    assert len(clf.base_estimator_.history) == 2
