"""evaluate_robustness(verbose=1) reports its progress; verbose=0 prints nothing."""
import pytest

from robustsk.attacks import FGSM, PGD
from robustsk.defenses import StandardTraining
from robustsk.evaluation import evaluate_robustness

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_progress_lines(digits, capsys):
    X_tr, X_te, y_tr, y_te = digits
    clf = StandardTraining(max_epochs=1, random_state=0, clip_min=0.0, clip_max=1.0)
    clf.fit(X_tr[:150], y_tr[:150])
    kw = dict(attacks={"FGSM": FGSM(), "PGD": PGD(n_iter=2)}, eps=0.1, random_state=0,
              check_masking=False)
    evaluate_robustness(clf, X_te[:20], y_te[:20], **kw)
    assert capsys.readouterr().out == ""
    evaluate_robustness(clf, X_te[:20], y_te[:20], verbose=1, **kw)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(line.startswith("[evaluate_robustness]") for line in lines)
    assert "FGSM: attacking" in lines[0] and "PGD: done in" in lines[3]
    assert "robust accuracy so far" in lines[3]
