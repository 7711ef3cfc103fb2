"""skorch callbacks keep working during adversarial training; RobustAccuracy."""
import numpy as np
import pytest
from skorch.callbacks import Checkpoint, EarlyStopping, LRScheduler, ProgressBar
from skorch.dataset import ValidSplit

from robustsk.attacks import FGSM
from robustsk.callbacks import RobustAccuracy
from robustsk.defenses import TRADES, AdversarialTraining


def test_robust_accuracy_column_and_early_stopping(digits_small):
    X_tr, _, y_tr, _ = digits_small
    clf = AdversarialTraining(
        max_epochs=6, n_iter=3, random_state=0, clip_min=0, clip_max=1,
        train_split=ValidSplit(0.25, random_state=0),
        callbacks=[RobustAccuracy(attack=FGSM()),
                   EarlyStopping(monitor="valid_robust_acc", lower_is_better=False,
                                 patience=1, threshold=0.5)])
    clf.fit(X_tr[:300], y_tr[:300])
    accs = clf.history[:, "valid_robust_acc"]
    assert all(0.0 <= a <= 1.0 for a in accs)
    assert len(clf.history) < 6  # stopped early: a threshold of 0.5 is never met twice
    # robust accuracy never exceeds clean validation accuracy in the same epoch
    assert all(r <= c + 1e-9 for r, c in zip(accs, clf.history[:, "valid_acc"]))


def test_robust_accuracy_needs_a_split(tabular):
    X, y = tabular
    with pytest.raises(ValueError, match="train_split"):
        AdversarialTraining(max_epochs=1, callbacks=[RobustAccuracy()]).fit(X, y)


def test_schedules_checkpoints_and_progress_work(tmp_path, tabular):
    X, y = tabular
    clf = TRADES(max_epochs=3, n_iter=2, random_state=0,
                 callbacks=[("sched", LRScheduler("StepLR", step_size=1, gamma=0.1)),
                            Checkpoint(monitor="train_loss_best", dirname=str(tmp_path)),
                            ProgressBar()])
    clf.fit(X, y)
    assert clf.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.1 ** 3)
    assert (tmp_path / "params.pt").exists()
    assert np.isfinite(clf.history[:, "train_loss"]).all()
