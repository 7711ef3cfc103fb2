"""Determinism on CPU: the same random_state gives bit-identical results.

Fits, predictions, ``score_adversarial``, evaluations and the report's CSVs
repeat exactly; attacks draw one random stream per example, so the batch size
of an evaluation changes nothing. torch's CPU kernels may round an example's
logits differently in batches of different sizes (their blocking depends on
the batch), so the batch-size tests attack a network that computes each
example alone: what they check is robustsk's part, exactly, on any machine.
"""
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
import torch

from robustsk.attacks import APGD, FAB, PGD, Square, WorstCase, default_attack
from robustsk.defenses import AdversarialTraining, StandardTraining
from robustsk.evaluation import evaluate_robustness

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def data(digits):
    X_tr, X_te, y_tr, y_te = digits
    return X_tr[:200], y_tr[:200], X_te[:70], y_te[:70]


class OneByOne(torch.nn.Module):
    """``net`` applied to each example alone: its output for an example does not
    depend on the batch around it, to the last bit, whatever the kernels do."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.cat([self.net(x[i:i + 1]) for i in range(len(x))])


@pytest.fixture(scope="module")
def clf(data):
    X, y, _, _ = data
    fitted = StandardTraining(max_epochs=2, random_state=0, clip_min=0, clip_max=1).fit(X, y)
    fitted.module_ = OneByOne(fitted.module_)
    return fitted


def test_same_random_state_same_weights_and_predictions(data):
    X, y, X_te, _ = data
    est = AdversarialTraining(max_epochs=1, n_iter=2, random_state=3, clip_min=0, clip_max=1)
    a, b = clone(est).fit(X, y), clone(est).fit(X, y)
    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.history[-1]["train_loss"] == b.history[-1]["train_loss"]
    np.testing.assert_array_equal(a.predict_proba(X_te), b.predict_proba(X_te))
    c = clone(est).set_params(random_state=4).fit(X, y)  # the test can fail
    assert not all(torch.equal(sa[k], v) for k, v in c.module_.state_dict().items())


@pytest.mark.parametrize("make", [
    lambda b: PGD(n_iter=3, batch_size=b),
    lambda b: APGD(n_iter=3, batch_size=b),
    lambda b: Square(n_iter=15, batch_size=b),
], ids=["PGD", "APGD", "Square"])
def test_score_adversarial_independent_of_batch_size(clf, data, make):
    _, _, X, y = data
    small = clf.score_adversarial(X, y, attack=make(32))
    large = clf.score_adversarial(X, y, attack=make(500))
    assert small == large
    np.testing.assert_array_equal(make(32).generate(clf, X, y), make(500).generate(clf, X, y))
    assert clf.score_adversarial(X, y, attack=make(32)) == small  # and repeats


def test_attacks_on_shrinking_subsets_agree_to_the_last_bits(clf, data):
    """FAB and restarts attack the survivors only: a subset of 1 or 2 rows takes
    another path through torch's CPU kernels, whose last bit may differ (README,
    "Determinism"). The scores agree; the examples to float32 rounding."""
    _, _, X, y = data
    for make in (lambda b: FAB(n_iter=3, n_target_classes=2, batch_size=b),
                 lambda b: PGD(n_iter=3, n_restarts=2, batch_size=b)):
        assert clf.score_adversarial(X, y, attack=make(32)) == \
            clf.score_adversarial(X, y, attack=make(500))
        np.testing.assert_allclose(make(32).generate(clf, X, y), make(500).generate(clf, X, y),
                                   rtol=0, atol=1e-6)


def test_default_attack_independent_of_batch_size(clf, data):
    _, _, X, y = data

    def worst(batch):
        inner = [clone(a).set_params(batch_size=batch) for a in default_attack(10).attacks]
        for a in inner:  # a short default: the same three attacks, fewer steps
            a.set_params(n_iter=3)
        return WorstCase(inner, batch_size=batch)
    assert clf.score_adversarial(X, y, attack=worst(16)) == \
        clf.score_adversarial(X, y, attack=worst(500))


def test_evaluate_robustness_repeats_and_ignores_batch_size(clf, data):
    _, _, X, y = data

    def run(batch):
        attacks = [PGD(n_iter=3, batch_size=batch), Square(n_iter=10, batch_size=batch)]
        res = evaluate_robustness(clf, X, y, attacks=attacks, eps=[0.05, 0.1], random_state=0,
                                  check_masking=False, batch_size=batch)
        return res.frame, res.summary.drop(columns="seconds")
    (f1, s1), (f2, s2) = run(16), run(500)
    pd.testing.assert_frame_equal(f1, f2)
    pd.testing.assert_frame_equal(s1, s2)
    f3, _ = run(16)
    pd.testing.assert_frame_equal(f1, f3)


def _csvs(folder):
    out = {}
    for path in sorted(folder.glob("*.csv")):
        frame = pd.read_csv(path)
        timing = [c for c in frame.columns if "seconds" in c or c.endswith("_time")]
        out[path.name] = frame.drop(columns=timing)
    return out


def test_report_csvs_identical_across_runs(tmp_path, capsys):
    from robustsk.report import main
    options = ["report", "--defenses", "standard,fast", "--attacks", "pgd", "--epochs",
               "1", "--n-train", "60", "--n-test", "20", "--eps-grid", "0,0.1",
               "--no-masking-checks", "--quiet", "--seed", "5"]
    for run in ("a", "b"):
        assert main([*options, "--output", str(tmp_path / run)]) == 0
    capsys.readouterr()
    a, b = _csvs(tmp_path / "a"), _csvs(tmp_path / "b")
    assert set(a) == set(b) and {"results.csv", "per_example.csv"} <= set(a)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)
