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


def test_numpy_scalars_inverted_boxes_and_a_normal_start_without_steps():
    """np.float32 settings were refused by CW, FAB, SPSA and Square ("expected a number");
    an inverted box returned points 0.98 from x at eps 0.1; pgd's Gaussian start was
    returned unprojected with n_iter=0."""
    import numpy as np
    import torch

    from robustsk.attacks import carlini_wagner_l2, fab, pgd, spsa, square
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x, y = torch.rand(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    f32 = np.float32
    carlini_wagner_l2(model, x, y, n_iter=2, n_binary_steps=1, lr=f32(0.01),
                      initial_const=f32(0.1), kappa=f32(0.0))
    fab(model, x, y, eps=0.1, n_iter=2, alpha_max=f32(0.1), eta=f32(1.05), beta=f32(0.9))
    spsa(model, x, y, eps=0.1, n_iter=1, n_samples=4, lr=f32(0.01), delta=f32(0.01))
    square(model, x, y, eps=0.1, n_iter=2, p_init=f32(0.1))
    with pytest.raises(ValueError, match=r"clip_min exceeds clip_max.*clip_min=1, clip_max=0.*clip_min <= "):
        pgd(model, x, y, eps=0.1, clip_min=1, clip_max=0)
    out = pgd(model, x, y, eps=1e-4, n_iter=0, random_start="normal", return_best=False,
              clip_min=0.0, clip_max=1.0, random_state=0)
    assert float((out - x).abs().max()) <= 1e-4 + 1e-7 and float(out.min()) >= 0.0


def test_spatial_sizes_auto_batches_and_tabular_models_take_read_only_arrays(recwarn):
    """Spatial(batch_size="auto") raised TypeError in range(); a read-only float32 array
    (a DataFrame under pandas' copy-on-write) gave torch's not-writable warning."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from robustsk.attacks import FGSM, Spatial
    from robustsk.datasets import load_digits_images
    from robustsk.defenses import StandardTraining
    X, y = load_digits_images(return_X_y=True)
    clf = StandardTraining(max_epochs=1, random_state=0, clip_min=0, clip_max=1).fit(X[:64], y[:64])
    auto = Spatial(n_rotations=3, n_translations=1, batch_size="auto").generate(clf, X[64:68],
                                                                                y[64:68])
    fixed = Spatial(n_rotations=3, n_translations=1, batch_size=2).generate(clf, X[64:68],
                                                                            y[64:68])
    np.testing.assert_array_equal(auto, fixed)
    flat = X.reshape(len(X), -1)[:100].astype(np.float32)
    lr = LogisticRegression(max_iter=300).fit(flat, y[:100])
    flat.setflags(write=False)
    FGSM(eps=0.1).generate(lr, flat, y[:100])
    assert not [w for w in recwarn if "not writable" in str(w.message)]


@pytest.mark.parametrize("name", ["pgd", "apgd", "fgsm", "rfgsm", "square", "spsa", "fab",
                                  "carlini_wagner_l2", "early_stopped_pgd", "fosc_pgd"])
def test_the_torch_functions_check_the_labels_before_any_work(name):
    """3 labels for 6 examples failed inside torch ("Expected input batch_size (6) to match
    target batch_size (3)"); int32 labels raised "expected target dtype to be Long"."""
    import torch

    import robustsk.attacks as attacks
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x, y = torch.rand(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    fn = getattr(attacks, name)
    kw = {} if name == "carlini_wagner_l2" else {"eps": 0.1}
    kw.update({"n_iter": 1} if name not in ("fgsm", "rfgsm") else {})
    if name == "spsa":
        kw["n_samples"] = 2
    if name == "carlini_wagner_l2":
        kw["n_binary_steps"] = 1
    with pytest.raises(ValueError, match=r"y has shape \(3,\) for 6 examples"):
        fn(model, x, y[:3], **kw)
    with pytest.raises(TypeError, match="y has dtype torch.float32"):
        fn(model, x, y.float(), **kw)
    assert fn(model, x, y.int(), **kw).shape == x.shape
