"""Bad input, everywhere: every public entry point gives a correct result or a clear error.

hypothesis draws the bad inputs of ``tests/bad_inputs.py`` (NaN, inf, empty,
complex, strings, wrong shapes, unknown or single-class labels, bad eps, bad
devices, ...) and random arrays (shapes, dtypes, values) for every defense's
``fit``, the smoothing and pre-emptive wrappers, every attack, ``certify``,
the evaluation functions and the statistics; the contract is
:func:`bad_inputs.outcome`. Derandomized, no deadline, few examples: the
test is deterministic and takes seconds.
"""
from pathlib import Path
import sys

from bad_inputs import (
    BAD_CLI,
    Context,
    Crash,
    all_entries,
    cases_for,
    check_adversarial,
    outcome,
    run,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
import numpy as np
import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
ENTRIES = all_entries()
FUZZ = settings(derandomize=True, deadline=None, database=None, max_examples=4,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def ctx():
    return Context()


@pytest.mark.parametrize("name", sorted(ENTRIES))
@FUZZ
@given(data=st.data())
def test_bad_input_refused_or_handled(ctx, name, data):
    entry = ENTRIES[name]
    bad = data.draw(st.sampled_from(cases_for(entry)), label="bad input")
    run(ctx, entry, bad)


def _cast(values, dtype, posinf=5):
    """Float ``values`` as ``dtype``: bool by > 0.5, int64 with inf as ``posinf``."""
    if dtype == "bool":
        return values > 0.5
    if dtype == "int64":
        return np.nan_to_num(values, posinf=posinf).astype(np.int64)
    return values.astype(dtype)


def _random_X(draw):
    n = draw(st.integers(0, 4), label="n")
    shape = draw(st.sampled_from([(1, 8, 8), (64,), (8, 8), (2, 8, 8), ()]), label="shape")
    dtype = draw(st.sampled_from(["float16", "float32", "float64", "int64", "bool",
                                  "complex64"]), label="dtype")
    values = draw(hnp.arrays(np.float64, (n, *shape),
                             elements=st.sampled_from([0.0, 0.25, 1.0, np.nan, np.inf, -1.0])),
                  label="values")
    return _cast(values, dtype, posinf=2)


@pytest.mark.parametrize("name", sorted(ENTRIES))
@FUZZ
@given(data=st.data())
def test_random_arrays(ctx, name, data):
    entry = ENTRIES[name]
    X = _random_X(data.draw)
    labels = st.one_of(st.sampled_from([0, 1, 3, 9]), st.integers(-2, 12),
                       st.sampled_from(["a", "b"]))
    y = np.asarray(data.draw(st.lists(labels, min_size=len(X), max_size=len(X)), label="y"))
    eps = data.draw(st.sampled_from([None, 0.0, 0.05, 1e6]), label="eps")
    kind, result = outcome(lambda: entry.call(ctx, X, y, eps if "eps" in entry.slots else None,
                                              None))
    valid = (X.ndim == 4 and X.shape[1:] == (1, 8, 8) and len(X) > 0
             and X.dtype.kind in "fib" and np.isfinite(X).all() and X.min() >= 0
             and X.max() <= 1 and np.isin(y, ctx.model.classes_).all()
             and (y.dtype.kind in "iu") and "fit" not in name)
    if valid and name in ("RobustClassifier.predict", "certify") or \
            (valid and "generate" in name and name not in ("LinearMinimalAttack.generate",)):
        assert kind == "ok", f"{name} refused valid input: {result}"
    if kind == "ok" and "generate" in name and name.split(".")[0] in (
            "FGSM", "PGD", "APGD", "RFGSM", "FAB", "Square", "SPSA", "WorstCase"):
        check_adversarial(result, X, ctx.model.eps if eps is None else eps)


def test_pandas_inputs_fit_predict_and_attack(ctx):
    from robustsk.attacks import PGD
    from robustsk.defenses import StandardTraining
    X = pd.DataFrame(ctx.X.reshape(len(ctx.X), -1)).add_prefix("px")
    y = pd.Series(ctx.y)
    est = StandardTraining(max_epochs=1, n_iter=1, random_state=0, clip_min=0,
                           clip_max=1).fit(X, y)
    assert list(est.feature_names_in_) == list(X.columns)
    assert est.predict(X).shape == (len(X),)
    X_adv = PGD(n_iter=1, random_state=0).generate(est, X, y)
    check_adversarial(X_adv, X.to_numpy(), est.eps)
    with pytest.raises(ValueError, match="feature names"):
        est.predict(X.rename(columns={"px0": "other"}))


# ------------------------------------------------------------------ statistics
def _stats_calls():
    from robustsk import stats as S
    ok = np.array([True, False, True, True, False, True])
    return {
        "accuracy_interval": lambda v: S.accuracy_interval(v),
        "mcnemar": lambda v: S.mcnemar(v, ok[:len(v)] if hasattr(v, "__len__") else ok),
        "newcombe_paired_interval": lambda v: S.newcombe_paired_interval(v, ok),
        "paired_bootstrap": lambda v: S.paired_bootstrap(v, ok, n_resamples=20, random_state=0),
        "cochran_q": lambda v: S.cochran_q(ok, ~ok, v),
        "compare_paired": lambda v: S.compare_paired([ok, v], n_resamples=20),
        "per_class_accuracy": lambda v: S.per_class_accuracy(ok, v),
        "robust_accuracy_from_correct": lambda v: S.robust_accuracy_from_correct(ok, v),
        "clopper_pearson_bound": lambda v: S.clopper_pearson_bound(v, 6),
        "bootstrap_indices": lambda v: S.bootstrap_indices(v, 3, 0),
        "mcnemar_power": lambda v: S.mcnemar_power(v, 0.1, 0.2),
        "mcnemar_sample_size": lambda v: S.mcnemar_sample_size(v, 0.2),
    }


STATS = _stats_calls()
_vectors = st.one_of(
    st.tuples(hnp.arrays(np.float64, st.integers(0, 7),
                         elements=st.sampled_from([0, 1, 2, -1, np.nan, np.inf])),
              st.sampled_from(["bool", "int64", "float64", "float16", "complex64", "object"])
              ).map(lambda t: _cast(*t)),
    st.lists(st.sampled_from([True, False, "x", None]), max_size=7),
    st.sampled_from([None, 3, -1, 0, 1.5, float("nan"), float("inf"), "x", 10**15, True]))




@pytest.mark.parametrize("name", sorted(STATS))
@settings(derandomize=True, deadline=None, database=None, max_examples=12,
          suppress_health_check=list(HealthCheck))
@given(value=_vectors)
def test_statistics_refuse_or_handle(name, value):
    kind, result = outcome(lambda: STATS[name](value))
    if kind == "ok":
        for field in ("estimate", "power", "bound", "accuracy"):
            got = getattr(result, field, None)
            if isinstance(got, float) and np.isfinite(got):
                assert 0.0 <= got <= 1.0, f"{name} returned {field}={got}"


# ------------------------------------------------------------------ command line
@pytest.mark.parametrize("args, what", BAD_CLI, ids=[w for _, w in BAD_CLI])
def test_cli_bad_option_exits_2_with_message(args, what, capsys):
    from robustsk.report import main
    with pytest.raises(SystemExit) as exc:
        main(["report", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
    assert any(w in err.lower() for w in ("expected", "invalid choice", "use ", "give ",
                                          "is not", "did you mean")), err


@pytest.mark.skipif(torch.cuda.is_available(), reason="the page lists device='cuda' as bad")
def test_bad_input_page_is_current(ctx):
    """docs/guide/bad_input.rst is what tools/make_bad_input_table.py writes now."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import make_bad_input_table
    finally:
        sys.path.remove(str(ROOT / "tools"))
    page = (ROOT / "docs" / "guide" / "bad_input.rst").read_text(encoding="utf-8")
    assert page == make_bad_input_table.render(ctx), (
        "docs/guide/bad_input.rst is stale: run PYTHONPATH=. python tools/make_bad_input_table.py")


def test_crash_detector_catches_errors_from_torch():
    with pytest.raises(Crash, match="RuntimeError"):
        outcome(lambda: torch.nn.Linear(3, 2)(torch.zeros(2, 4)))
    with pytest.raises(Crash, match="vague"):
        outcome(lambda: (_ for _ in ()).throw(ValueError("bad")))
