"""Robust accuracy, scorers, the default attack and attacks through pipelines."""
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import cross_validate
from sklearn.pipeline import Pipeline

from robustsk.attacks import FGSM, PGD, default_attack
from robustsk.defenses import StandardTraining
from robustsk.metrics import make_adversarial_scorer, robust_accuracy

BOX = {"clip_min": 0.0, "clip_max": 1.0}


@pytest.fixture(scope="module")
def model(digits_small):
    X_tr, X_te, y_tr, y_te = digits_small
    return StandardTraining(max_epochs=5, eps=0.1, random_state=0, **BOX).fit(X_tr, y_tr)


def test_robust_accuracy_below_clean(model, digits_small):
    _, X_te, _, y_te = digits_small
    clean = model.score(X_te, y_te)
    for attack in (FGSM(), PGD(n_iter=10), PGD(eps=0.0)):
        assert robust_accuracy(model, X_te, y_te, attack) <= clean
    assert robust_accuracy(model, X_te, y_te, PGD(eps=0.0)) == pytest.approx(clean)


def test_default_attack_at_least_as_strong_as_pgd20(model, digits_small):
    _, X_te, _, y_te = digits_small
    pgd20 = PGD(n_iter=20, step_size=None, random_state=0)  # step eps/4, random start
    assert pgd20.random_start == "uniform"
    default = model.score_adversarial(X_te, y_te)  # inherits the model's random_state=0
    # by construction: never weaker than PGD-20 from the same random start
    assert default <= robust_accuracy(model, X_te, y_te, pgd20)
    # and not weaker than PGD-20 from other starts either (restarts cover them)
    for s in (1, 2, 3):
        assert default <= robust_accuracy(model, X_te, y_te, pgd20.set_params(random_state=s))
    assert default_attack().get_params()  # a clonable attack object


def test_attack_params_inherit_estimator_threat_model(model, digits_small):
    _, X_te, _, y_te = digits_small
    X_adv = PGD(n_iter=5).generate(model, X_te, y_te)
    assert np.abs(X_adv - X_te).max() <= model.eps + 1e-6
    assert X_adv.min() >= 0.0 and X_adv.max() <= 1.0
    wider = PGD(n_iter=5, eps=0.3).generate(model, X_te, y_te)
    assert np.abs(wider - X_te).max() > model.eps + 1e-3


def test_scorer_through_pipeline_and_cross_validate(digits_small):
    X_tr, _, y_tr, _ = digits_small
    pipe = Pipeline([("noop", "passthrough"),
                     ("clf", StandardTraining(max_epochs=2, random_state=0, **BOX))])
    res = cross_validate(pipe, X_tr[:300], y_tr[:300], cv=2,
                         scoring={"acc": "accuracy",
                                  "robust": make_adversarial_scorer(PGD(eps=0.1, n_iter=5))})
    assert np.all(res["test_robust"] <= res["test_acc"])
    pipe.fit(X_tr[:300], y_tr[:300])
    X_adv = PGD(eps=0.1, n_iter=5).generate(pipe, X_tr[:20], y_tr[:20])
    assert np.abs(X_adv - X_tr[:20]).max() <= 0.1 + 1e-6


def test_non_differentiable_or_bad_inputs_are_explained(model, digits_small):
    X_tr, X_te, y_tr, y_te = digits_small
    flat = X_tr.reshape(len(X_tr), -1)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(flat, y_tr)
    with pytest.raises(TypeError, match="not differentiable"):
        robust_accuracy(forest, flat[:10], y_tr[:10], PGD(eps=0.1))
    with pytest.raises(ValueError, match="negative"):
        robust_accuracy(model, X_te, y_te, PGD(eps=-1.0))
    with pytest.raises(ValueError, match="norm"):
        robust_accuracy(model, X_te, y_te, PGD(norm="l7"))
    with pytest.raises(ValueError, match="outside the box"):
        robust_accuracy(model, X_te * 3, y_te, PGD())
    with pytest.warns(UserWarning, match=r"labels \[42\] that the estimator was not fitted on"):
        assert robust_accuracy(model, X_te, np.full(len(y_te), 42), PGD()) == 0.0  # as accuracy
    with pytest.raises(ValueError, match="labels"):
        robust_accuracy(model, X_te, np.full(len(y_te), "x"), PGD())
    with pytest.raises(ValueError, match="samples but y has"):
        robust_accuracy(model, X_te, y_te[:-1], PGD())
    with pytest.raises(TypeError, match="Attack"):
        make_adversarial_scorer("pgd")
    with pytest.raises(TypeError, match="per_class='yes'.*expected True"):
        model.score_adversarial(X_te, y_te, PGD(), per_class="yes")  # was accepted as True
    from sklearn.preprocessing import Normalizer  # not affine: cannot be differentiated here
    pipe = Pipeline([("norm", Normalizer()),
                     ("clf", StandardTraining(max_epochs=1))]).fit(flat[:100], y_tr[:100])
    with pytest.raises(TypeError, match="differentiable"):
        PGD(eps=0.1).generate(pipe, flat[:5], y_tr[:5])


def test_generate_keeps_dtype_and_shape(model, digits_small):
    _, X_te, _, y_te = digits_small
    X64 = X_te[:10].astype(np.float64)
    X_adv = PGD(n_iter=3).generate(model, X64, y_te[:10])
    assert X_adv.dtype == np.float64 and X_adv.shape == X64.shape
    X_copy = X64.copy()
    FGSM().generate(model, X64, y_te[:10])
    np.testing.assert_array_equal(X64, X_copy)


def test_per_class_robust_accuracy(model, digits_small):
    _, X_te, _, y_te = digits_small
    attack = PGD(n_iter=5, random_state=0)
    per_class = robust_accuracy(model, X_te, y_te, attack, per_class=True)
    assert per_class.name == "robust_accuracy" and per_class.index.name == "class"
    assert per_class.index.tolist() == sorted(set(y_te.tolist()))
    correct = model.predict(attack.generate(model, X_te, y_te)) == y_te
    for label, acc in per_class.items():
        assert acc == pytest.approx(correct[y_te == label].mean())
    counts = np.bincount(y_te)[per_class.index]
    assert np.average(per_class, weights=counts) == pytest.approx(
        robust_accuracy(model, X_te, y_te, attack))


def test_score_adversarial_per_class_with_string_labels(digits_small):
    X_tr, X_te, y_tr, y_te = digits_small
    names = np.array(list("abcdefghij"))
    clf = StandardTraining(max_epochs=1, random_state=0, **BOX).fit(X_tr[:200], names[y_tr[:200]])
    attack = PGD(eps=0.0, n_iter=1)
    per_class = clf.score_adversarial(X_te[:60], names[y_te[:60]], attack, per_class=True)
    assert set(per_class.index) <= set("abcdefghij")
    assert per_class.between(0, 1).all()
    assert isinstance(clf.score_adversarial(X_te[:60], names[y_te[:60]], attack), float)


def test_labels_unseen_in_fit_count_as_errors(digits_small):
    """A fold's label that its training folds lacked counts as misclassified, as in
    ``accuracy_score``, instead of failing the scorer (cross_validate gave NaN)."""
    X_tr, X_te, y_tr, y_te = digits_small
    seen = y_tr < 5
    clf = StandardTraining(max_epochs=2, random_state=0, **BOX).fit(X_tr[seen], y_tr[seen])
    attack = PGD(eps=0.1, n_iter=3, random_state=0)
    known = y_te < 5
    with pytest.warns(UserWarning, match=r"not fitted on.*count as misclassified"):
        acc = robust_accuracy(clf, X_te, y_te, attack)
    expected = robust_accuracy(clf, X_te[known], y_te[known], attack) * known.mean()
    assert acc == pytest.approx(expected)
    assert acc <= clf.score(X_te, y_te)
    with pytest.warns(UserWarning, match="not fitted on"):
        per_class = robust_accuracy(clf, X_te, y_te, attack, per_class=True)
    assert (per_class[per_class.index >= 5] == 0).all()
    with pytest.warns(UserWarning, match="not fitted on"):
        res = cross_validate(clf, X_te, y_te, cv=[(np.flatnonzero(known[:100]), np.arange(100, 150))],
                             error_score="raise", scoring={"robust": make_adversarial_scorer(attack)})
    assert np.isfinite(res["test_robust"]).all()
    # a fold of unseen labels only (sorted labels, KFold): 0, as accuracy_score gives
    unseen = ~known
    with pytest.warns(UserWarning, match="not fitted on"):
        assert robust_accuracy(clf, X_te[unseen], y_te[unseen], attack) == 0.0
    with pytest.raises(ValueError):  # labels of another kind stay an error
        robust_accuracy(clf, X_te[:5], np.array(list("abcde")), attack)
