"""Attack parameters are declared once on the Attack base and validated once per call."""
import numpy as np
import pytest

from robustsk.attacks import APGD, FGSM, PGD, RFGSM, SPSA, EarlyStoppedPGD, Square
from robustsk.params import parameter_constraints

BAD = [(PGD, {"n_iter": -1}), (PGD, {"eps": -0.1}), (PGD, {"n_restarts": 0}),
       (PGD, {"batch_size": 0}), (APGD, {"n_restarts": 0}), (FGSM, {"norm": "l3"}),
       (RFGSM, {"random_state": "seed"}), (EarlyStoppedPGD, {"step_size": -1.0}),
       (Square, {"n_iter": 1.5}), (SPSA, {"batch_size": -3})]


@pytest.mark.parametrize("cls, params", BAD, ids=lambda v: getattr(v, "__name__", str(v)))
def test_bad_parameter_refused_before_any_work(cls, params, image_clf, image_data):
    _, _, X, y = image_data
    (name, value), = params.items()
    with pytest.raises(ValueError, match=rf"{cls.__name__} got {name}={value!r}: expected"):
        cls(**params).generate(image_clf, X[:5], y[:5])


def test_every_attack_shares_the_base_declarations():
    shared = parameter_constraints(PGD)
    for name in ("eps", "norm", "n_iter", "batch_size", "random_state"):
        assert name in shared
    PGD(norm=np.inf, n_iter=0)  # constructing never validates (scikit-learn's contract)
