"""The bad inputs every public entry point must refuse clearly (or handle correctly).

Shared by ``tests/test_fuzz.py`` (which feeds them, and random arrays drawn by
hypothesis, to every estimator, attack, certificate, evaluation and statistic)
and by ``tools/make_bad_input_table.py`` (which writes the table of
``docs/guide/bad_input.rst`` from the same cases, so the page cannot go stale).

The contract (:func:`outcome`): a call either returns a correct result or
raises ``ValueError``/``TypeError`` whose message says what was expected;
never an exception of another type, never one raised inside torch.
"""
from dataclasses import dataclass
import traceback
from typing import Callable
import warnings

import numpy as np
import pandas as pd
import torch

#: words of a message that says what was expected or what to do
EXPECT_WORDS = ("expected", "expects", "expect ", "required", "must", "needs", "need ",
                "pass ", "give ", "use ", "choose from", "is not supported", "should",
                "reshape", "rescale", "not among", "instead", "at least")

#: a fit that takes a fraction of a second
CHEAP = {"max_epochs": 1, "n_iter": 1, "batch_size": 32, "random_state": 0,
         "clip_min": 0.0, "clip_max": 1.0}


class Crash(AssertionError):
    """An entry point broke the contract (wrong exception type, raised in torch, vague)."""


def outcome(fn):
    """Run ``fn()``; return ``("ok", result)`` or ``(error type name, message)``.

    Raises :class:`Crash` for any other exception, for a ValueError or
    TypeError raised inside torch, or for a message that does not say what
    was expected.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "ok", fn()
    except (ValueError, TypeError) as err:
        frames = traceback.extract_tb(err.__traceback__)
        if frames and "/torch/" in frames[-1].filename:
            raise Crash(f"{type(err).__name__} from inside torch: {err}") from err
        msg = str(err)
        if not any(w in msg.lower() for w in EXPECT_WORDS):
            raise Crash(f"vague {type(err).__name__}: {msg!r}") from err
        return type(err).__name__, msg
    except Exception as err:  # noqa: BLE001 - the point is to catch everything else
        raise Crash(f"{type(err).__name__}: {err}") from err


@dataclass(frozen=True)
class Bad:
    """A bad (or merely unusual) input: where it goes and whether it may succeed."""

    name: str           # short id
    what: str           # how the docs describe it
    slot: str           # "X", "y", "eps" or "device"
    value: Callable     # (X, y) -> the value
    may_succeed: bool   # unusual but valid: the call must then return a correct result


def _poke(X, value):
    out = np.array(X, dtype=np.float64, copy=True)
    out.flat[3] = value
    return out


BAD_X = [
    Bad("nan", "X with a NaN", "X", lambda X, y: _poke(X, np.nan), False),
    Bad("inf", "X with an infinity", "X", lambda X, y: _poke(X, np.inf), False),
    Bad("empty", "X with 0 rows", "X", lambda X, y: X[:0], False),
    Bad("complex", "complex X", "X", lambda X, y: X.astype(np.complex64), False),
    Bad("strings", "X of strings", "X", lambda X, y: np.full(X.shape, "a", dtype=object), False),
    Bad("1d", "1-d X", "X", lambda X, y: X.reshape(len(X), -1)[:, 0], False),
    Bad("features", "X with other features than fitted", "X",
        lambda X, y: X.reshape(len(X), -1)[:, :10], False),
    Bad("none", "X=None", "X", lambda X, y: None, False),
    Bad("outside", "X outside clip_min/clip_max", "X", lambda X, y: X * 3 - 1, False),
    Bad("float16", "float16 X", "X", lambda X, y: X.astype(np.float16), True),
    Bad("bool", "bool X", "X", lambda X, y: X > 0.5, True),
    Bad("object", "numbers in an object array", "X", lambda X, y: X.astype(object), True),
    Bad("list", "nested lists", "X", lambda X, y: X.tolist(), True),
]
BAD_Y = [
    Bad("unknown", "string labels the model does not know", "y",
        lambda X, y: np.array([f"c{v}" for v in y]), False),
    Bad("float", "continuous y", "y", lambda X, y: y + 0.5, False),
    Bad("ynan", "y with a NaN", "y", lambda X, y: np.r_[np.nan, y[1:]], False),
    Bad("short", "y shorter than X", "y", lambda X, y: y[:-1], False),
    Bad("y2d", "2-column y", "y", lambda X, y: np.c_[y, y], False),
    Bad("ynone", "y=None", "y", lambda X, y: None, False),
    Bad("series", "y as a pandas Series", "y", lambda X, y: pd.Series(y), True),
    Bad("ylist", "y as a list", "y", lambda X, y: list(y), True),
]
BAD_FIT_Y = [  # only fit may see labels of its own choosing
    Bad("single", "one class only", "y", lambda X, y: np.zeros_like(y), False),
    Bad("strings", "string labels", "y", lambda X, y: np.array([f"c{v}" for v in y]), True),
]
BAD_EPS = [
    Bad("negative", "eps < 0", "eps", lambda X, y: -0.1, False),
    Bad("epsnan", "eps = NaN", "eps", lambda X, y: float("nan"), False),
    Bad("epsinf", "eps = inf", "eps", lambda X, y: float("inf"), False),
    Bad("epsstr", "eps a string", "eps", lambda X, y: "0.1", False),
    Bad("zero", "eps = 0", "eps", lambda X, y: 0.0, True),
    Bad("huge", "eps = 1e30", "eps", lambda X, y: 1e30, True),
]
BAD_DEVICE = [
    Bad("cuda", "device='cuda' without CUDA", "device", lambda X, y: "cuda", False),
    Bad("nonsense", "device='nonsense'", "device", lambda X, y: "nonsense", False),
    Bad("gpu99", "device='cuda:99'", "device", lambda X, y: "cuda:99", False),
]


def device_cases():
    """The device cases that are bad on this machine (``cuda`` is fine where CUDA is)."""
    if torch.cuda.is_available():
        return [b for b in BAD_DEVICE if b.name != "cuda"]
    return BAD_DEVICE


def small_data():
    """60 digits images of shape (1, 8, 8) in [0, 1] and their labels (10 classes)."""
    from robustsk.datasets import load_digits_images
    X, y = load_digits_images(return_X_y=True)
    return X[:60].astype(np.float32), y[:60]


# ------------------------------------------------------------------ checks of results
def check_labels(pred, classes, n):
    pred = np.asarray(pred)
    assert pred.shape == (n,), f"predictions of shape {pred.shape}, expected ({n},)"
    assert np.isin(pred, classes).all(), "a prediction outside classes_"


def check_adversarial(X_adv, X, eps, norm="inf", lo=0.0, hi=1.0, tol=1e-5):
    X_adv = np.asarray(X_adv, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64).reshape(X_adv.shape)
    assert np.isfinite(X_adv).all(), "adversarial examples with NaN or inf"
    assert X_adv.min() >= lo - tol and X_adv.max() <= hi + tol, "left the box"
    delta = (X_adv - X).reshape(len(X), -1)
    size = np.abs(delta).max(1) if norm == "inf" else np.linalg.norm(delta, axis=1)
    assert (size <= eps + tol).all(), "left the ball"


def check_fraction(value):
    assert 0.0 <= float(value) <= 1.0, f"an accuracy of {value}"


# ------------------------------------------------------------------ CLI cases
#: (options, what the docs say) of ``robustsk report``: each must exit 2 with a message
BAD_CLI = [
    (["--eps", "-1"], "negative --eps"),
    (["--eps", "nan"], "--eps nan"),
    (["--eps", "abc"], "--eps not a number"),
    (["--eps", "1.5"], "--eps above the [0, 1] pixel range (Linf)"),
    (["--eps-grid", ""], "empty --eps-grid"),
    (["--eps-grid", "0.1,-0.2"], "negative radius in --eps-grid"),
    (["--train-eps", "inf"], "--train-eps inf"),
    (["--norm", "1"], "--norm 1"),
    (["--defenses", ","], "empty --defenses"),
    (["--defenses", "madri"], "misspelt defense"),
    (["--attacks", "autoatack"], "misspelt attack"),
    (["--epochs", "0"], "--epochs 0"),
    (["--epochs", "1.5"], "--epochs not an integer"),
    (["--n-train", "1"], "--n-train 1"),
    (["--n-test", "0"], "--n-test 0"),
    (["--n-train", "5"], "--n-train below the number of classes"),
    (["--n-test", "3"], "--n-test below the number of classes"),
    (["--n-test", "1000"], "--n-test above the size of the test split"),
    (["--seed", "-1"], "negative --seed"),
    (["--seed", "99999999999999999999"], "--seed above 2**32 - 1"),
    (["--threads", "0"], "--threads 0"),
    (["--threads", "100000"], "--threads above the CPU count"),
    (["--device", "nonsense"], "--device nonsense"),
    (["--device", ""], "empty --device"),
    (["--dataset", "mnist"], "unknown --dataset"),
    (["--defenses", "cost-sensitive", "--protect-classes", "8,42"], "--protect-classes not a label"),
] + ([] if torch.cuda.is_available() else [(["--device", "cuda"], "--device cuda without CUDA")])


# ------------------------------------------------------------------ entry points
class Context:
    """Tiny fitted models shared by the cases (built once)."""

    def __init__(self):
        from robustsk.defenses import StandardTraining
        self.X, self.y = small_data()
        self.model = StandardTraining(**CHEAP).fit(self.X, self.y)
        self.other = StandardTraining(**{**CHEAP, "random_state": 1}).fit(self.X, self.y)


@dataclass(frozen=True)
class Entry:
    """A public entry point: which inputs it takes, how to call it, how to check a result."""

    name: str
    slots: tuple
    call: Callable      # (ctx, X, y, eps, device) -> result
    check: Callable     # (ctx, result, X, y, eps) -> None (asserts)
    valid: tuple = ()   # names of "bad" cases that are valid input here


def _attack_entry(name, make):
    def call(ctx, X, y, eps, device):
        return make(eps).generate(ctx.model, X, y)

    def check(ctx, X_adv, X, y, eps):
        check_adversarial(X_adv, X, ctx.model.eps if eps is None else eps)
    return Entry(f"{name}.generate", ("X", "y", "eps"), call, check)


def attack_entries():
    from robustsk import attacks as A
    makers = {
        "FGSM": lambda e: A.FGSM(eps=e), "PGD": lambda e: A.PGD(eps=e, n_iter=2),
        "RFGSM": lambda e: A.RFGSM(eps=e), "APGD": lambda e: A.APGD(eps=e, n_iter=2),
        "EarlyStoppedPGD": lambda e: A.EarlyStoppedPGD(eps=e, n_iter=2),
        "FAB": lambda e: A.FAB(eps=e, n_iter=2, n_target_classes=2),
        "WorstCase": lambda e: A.WorstCase([A.FGSM(), A.PGD(n_iter=1)], eps=e),
        "SPSA": lambda e: A.SPSA(eps=e, n_iter=1, n_samples=2),
        "Square": lambda e: A.Square(eps=e, n_iter=3),
    }
    entries = [_attack_entry(k, v) for k, v in makers.items()]

    def cw(ctx, X, y, eps, device):
        return A.CarliniWagnerL2(eps=eps, n_iter=2, n_binary_steps=1).generate(ctx.model, X, y)

    def cw_check(ctx, X_adv, X, y, eps):
        check_adversarial(X_adv, X, np.inf if eps is None else eps, norm="2")

    def spatial(ctx, X, y, eps, device):
        return A.Spatial(n_rotations=2, n_translations=1).generate(ctx.model, X, y)

    def spatial_check(ctx, X_adv, X, y, eps):
        assert np.shape(X_adv) == np.shape(np.asarray(X, dtype=float)) and np.isfinite(X_adv).all()

    def iwd(ctx, X, y, eps, device):
        return A.IWD(eps=0.3 if eps is None else eps, n_iter=1).generate(ctx.model, X, y)

    def iwd_check(ctx, X_adv, X, y, eps):
        assert np.isfinite(X_adv).all() and X_adv.min() >= -1e-5 and X_adv.max() <= 1 + 1e-5

    def linear(ctx, X, y, eps, device):
        from sklearn.linear_model import LogisticRegression
        flat = np.asarray(ctx.X).reshape(len(ctx.X), -1)
        lr = LogisticRegression(max_iter=200).fit(flat, ctx.y)
        Xf = X if X is None or np.ndim(X) < 2 or not len(X) else np.reshape(X, (len(X), -1))
        return A.LinearMinimalAttack(eps=0.1 if eps is None else eps).generate(lr, Xf, y)

    def linear_check(ctx, X_adv, X, y, eps):
        X = np.reshape(np.asarray(X, dtype=float), (len(X), -1))
        check_adversarial(X_adv, X, 0.1 if eps is None else eps, lo=-np.inf, hi=np.inf)

    return entries + [Entry("CarliniWagnerL2.generate", ("X", "y", "eps"), cw, cw_check,
                            valid=("epsinf",)),  # unbounded: the minimal adversarial example
                      Entry("Spatial.generate", ("X", "y"), spatial, spatial_check),
                      Entry("IWD.generate", ("X", "y", "eps"), iwd, iwd_check),
                      Entry("LinearMinimalAttack.generate", ("X", "y", "eps"), linear,
                            linear_check, valid=("outside",))]  # LogisticRegression: no box


def _fit_entry(name, cls):
    def call(ctx, X, y, eps, device):
        params = {**CHEAP, **({} if eps is None else {"eps": eps}),
                  **({} if device is None else {"device": device})}
        return cls(**params).fit(X, y)

    def check(ctx, est, X, y, eps):
        check_labels(est.predict(X), np.unique(np.asarray(y)), len(X))
    return Entry(f"{name}.fit", ("X", "fit_y", "eps", "device"), call, check)


def estimator_entries():
    from robustsk.defenses import RandomizedSmoothingClassifier, StandardTraining, all_defenses
    from robustsk.preemptive import PreemptiveRobustifier
    entries = [_fit_entry(name, cls) for name, cls in all_defenses().items()]

    def smoothing(ctx, X, y, eps, device):
        base = StandardTraining(**{**CHEAP, **({} if device is None else {"device": device})})
        return RandomizedSmoothingClassifier(base, n0=4, n=8, random_state=0).fit(X, y)

    def smoothing_check(ctx, est, X, y, eps):
        pred = est.predict(X)
        assert len(pred) == len(X)
        allowed = set(np.unique(np.asarray(y)).tolist()) | {est.abstain_label_}
        assert set(np.asarray(pred).tolist()) <= allowed, "a prediction outside the classes"

    def preemptive(ctx, X, y, eps, device):
        return PreemptiveRobustifier(ctx.model, delta=0.05, eps=eps, n_iter=1,
                                     attack_iter=1).fit().transform(X)

    def preemptive_check(ctx, out, X, y, eps):
        check_adversarial(out, X, 0.05)

    def predict(ctx, X, y, eps, device):
        return ctx.model.predict(X)

    def score(ctx, X, y, eps, device):
        return ctx.model.score(X, y)

    def score_adv(ctx, X, y, eps, device):
        from robustsk.attacks import PGD
        return ctx.model.score_adversarial(X, y, attack=PGD(eps=eps, n_iter=1))

    return entries + [
        Entry("RandomizedSmoothingClassifier.fit", ("X", "fit_y", "device"), smoothing,
              smoothing_check, valid=("outside",)),  # Gaussian noise leaves any box anyway
        Entry("PreemptiveRobustifier.transform", ("X", "eps"), preemptive, preemptive_check),
        Entry("RobustClassifier.predict", ("X",), predict,
              lambda ctx, p, X, y, e: check_labels(p, ctx.model.classes_, len(X)),
              valid=("outside",)),  # the box bounds attacks, not predictions
        Entry("RobustClassifier.score", ("X", "y"), score,
              lambda ctx, s, X, y, e: check_fraction(s), valid=("outside",)),
        Entry("RobustClassifier.score_adversarial", ("X", "y", "eps"), score_adv,
              lambda ctx, s, X, y, e: check_fraction(s)),
    ]


def evaluation_entries():
    from robustsk.attacks import FGSM, PGD, Square
    from robustsk.certify import certify
    from robustsk.evaluation import (
        check_gradient_masking,
        evaluate_robustness,
        transfer_attack,
        transfer_matrix,
    )

    def evaluate(ctx, X, y, eps, device):
        return evaluate_robustness(ctx.model, X, y, attacks=[FGSM()], eps=eps, random_state=0,
                                   check_masking=False)

    def evaluate_check(ctx, res, X, y, eps):
        assert ((0 <= res.robust_accuracy) & (res.robust_accuracy <= res.clean_accuracy)).all()

    def masking(ctx, X, y, eps, device):
        return check_gradient_masking(ctx.model, X, y, eps=eps, attack=PGD(n_iter=1),
                                      black_box=Square(n_iter=2), max_examples=8,
                                      random_state=0, warn=False)

    def transfer(ctx, X, y, eps, device):
        return transfer_attack(ctx.model, ctx.other, X, y, attack=FGSM(eps=eps), random_state=0)

    def matrix(ctx, X, y, eps, device):
        return transfer_matrix({"a": ctx.model, "b": ctx.other}, X, y, attack=FGSM(eps=eps),
                               random_state=0)

    def cert(ctx, X, y, eps, device):
        return certify(ctx.model, X, y, eps=0.1 if eps is None else eps)

    def cert_check(ctx, res, X, y, eps):
        assert len(res.certified) == len(X)
        if np.isfinite(res.certified_accuracy):
            check_fraction(res.certified_accuracy)

    anything = lambda ctx, r, X, y, e: None  # noqa: E731 - results checked by their own tests
    return [Entry("evaluate_robustness", ("X", "y", "eps"), evaluate, evaluate_check),
            Entry("check_gradient_masking", ("X", "y", "eps"), masking, anything),
            Entry("transfer_attack", ("X", "y", "eps"), transfer, anything),
            Entry("transfer_matrix", ("X", "y", "eps"), matrix, anything),
            Entry("certify", ("X", "y", "eps"), cert, cert_check)]


def all_entries():
    """Every entry point fed arrays, by name."""
    entries = estimator_entries() + attack_entries() + evaluation_entries()
    return {e.name: e for e in entries}


def cases_for(entry):
    """The bad inputs that apply to ``entry``."""
    cases = []
    if "X" in entry.slots:  # a fit may choose its own number of features
        cases += [b for b in BAD_X if not ("fit_y" in entry.slots and b.name == "features")]
    if "y" in entry.slots:
        cases += BAD_Y
    if "fit_y" in entry.slots:
        cases += [b for b in BAD_Y if b.name not in ("unknown",)] + BAD_FIT_Y
    if "eps" in entry.slots:
        cases += BAD_EPS
    if "device" in entry.slots:
        cases += device_cases()
    return cases


def run(ctx, entry, bad, n=12):
    """Feed ``bad`` to ``entry`` on ``n`` examples; return ``(kind, message or result)``.

    Raises :class:`Crash` (or AssertionError on a wrong result that was accepted).
    """
    X, y = ctx.X[:n], ctx.y[:n]
    args = {"X": X, "y": y, "eps": None, "device": None}
    slot = "y" if bad.slot == "y" else bad.slot
    args[slot] = bad.value(X, y)
    if slot == "X" and args["X"] is not None and len(args["X"]) != n and bad.name == "empty":
        args["y"] = y[:0]
    kind, result = outcome(lambda: entry.call(ctx, **args))
    if kind == "ok":
        if not (bad.may_succeed or bad.name in entry.valid):
            raise Crash(f"{entry.name} accepted {bad.what} ({bad.name}) and returned {result!r:.200}")
        entry.check(ctx, result, args["X"], args["y"], args["eps"])
    return kind, result
