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


@pytest.mark.parametrize("spelling, norm", [("Linf", "inf"), ("INF", "inf"), (" l_inf", "inf"),
                                            (np.inf, "inf"), ("L2", "2"), (np.int64(2), "2")])
def test_norm_spellings_are_those_of_the_functions(spelling, norm, image_clf, image_data):
    """The classes took only lower-case names, where check_norm (the functions) takes any case."""
    from robustsk.attacks._primitives import check_norm
    _, _, X, y = image_data
    assert check_norm(spelling) == norm
    eps = 0.1 if norm == "inf" else 0.5
    X_adv = PGD(eps=eps, norm=spelling, n_iter=2, random_state=0).generate(image_clf, X[:4], y[:4])
    delta = (X_adv.astype(np.float64) - X[:4]).reshape(4, -1)
    size = np.abs(delta).max(1) if norm == "inf" else np.linalg.norm(delta, axis=1)
    assert size.max() <= eps + 1e-6
