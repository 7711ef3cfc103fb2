"""select_within_margin / one_standard_error_rule: choices, evidence, GridSearchCV, R parity."""

import numpy as np
import pytest

from robustsk.stats import (
    MarginSelection,
    WithinMarginSelector,
    explain_selection,
    one_standard_error_rule,
    select_within_margin,
)


def grid_results(means, fit_times, n_splits=20, seed=0, noise=0.01):
    """cv_results_ with a shared split effect, as repeated CV gives."""
    rng = np.random.default_rng(seed)
    split = rng.normal(0, 0.04, n_splits)
    res = {"params": [{"epochs": e} for e in range(1, len(means) + 1)],
           "mean_fit_time": np.asarray(fit_times, dtype=float)}
    for i in range(n_splits):
        res[f"split{i}_test_robust"] = np.asarray(means) + split[i] + rng.normal(0, noise, len(means))
    return res


def test_picks_the_cheapest_candidate_within_the_margin():
    res = grid_results([0.80, 0.795, 0.70], fit_times=[5.0, 1.0, 0.1])
    pick = select_within_margin("robust", margin=0.02, n_train=80, n_test=20)
    index = pick(res)
    sel = pick.selection_
    assert isinstance(sel, MarginSelection)
    assert sel.best_candidate == "epochs=1" and sel.best_index == 0
    assert index == 1 and sel.candidate == "epochs=2"  # cheaper than the best, within 0.02
    table = sel.table.set_index("candidate")
    assert not table.loc["epochs=3", "eligible"]  # 0.10 worse: rejected, though cheapest
    assert table.loc["epochs=3", "pvalue"] < 0.05
    assert table["chosen"].sum() == 1 and table.loc["epochs=2", "chosen"]
    assert "epochs=2" in sel.reason and "fit_time" in str(sel)


def test_larger_margin_never_shrinks_the_eligible_set():
    res = grid_results([0.80, 0.79, 0.77, 0.75], fit_times=[4, 3, 2, 1], seed=3)
    previous = set()
    for margin in (0.0, 0.01, 0.03, 0.06, 0.2):
        sel = select_within_margin("robust", margin=margin, n_train=80, n_test=20).select(res)
        eligible = set(sel.table.loc[sel.table["eligible"], "candidate"])
        assert previous <= eligible
        previous = eligible
    assert previous == {"epochs=1", "epochs=2", "epochs=3", "epochs=4"}


def test_callable_preference_and_one_se_rule():
    res = grid_results([0.80, 0.799, 0.60], fit_times=[1, 1, 1])
    pick = one_standard_error_rule("robust", prefer=lambda p: -p["epochs"])  # prefer many epochs
    assert pick(res) == 1  # epochs=3 is far below; epochs=2 within one SE
    sel = pick.selection_
    assert sel.rule == "one-se"
    assert sel.margin == pytest.approx(np.std(
        [res[f"split{i}_test_robust"][0] for i in range(20)], ddof=1) / np.sqrt(20))
    corrected = one_standard_error_rule("robust", n_train=80, n_test=20).select(res)
    assert corrected.margin > sel.margin


def test_as_gridsearch_refit_and_explain_selection():
    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True)
    cv = KFold(5, shuffle=True, random_state=0)
    train, test = next(cv.split(X))
    pick = select_within_margin(margin=0.02, prefer=lambda p: p["max_depth"], n_train=len(train),
                                n_test=len(test))
    search = GridSearchCV(DecisionTreeClassifier(random_state=0), {"max_depth": [1, 2, 3, 8]}, cv=cv,
                          refit=pick).fit(X, y)
    sel = explain_selection(search)
    assert search.best_index_ == sel.index
    assert search.best_params_ == {"max_depth": int(sel.candidate.split("=")[1])}
    assert not sel.table.loc[sel.table["candidate"] == "max_depth=1", "eligible"].item()
    assert hasattr(search, "best_estimator_")
    plain = GridSearchCV(DecisionTreeClassifier(), {"max_depth": [1, 2]}, cv=3).fit(X, y)
    with pytest.raises(TypeError, match="refit=select_within_margin"):
        explain_selection(plain)
    with pytest.raises(ValueError, match="not been fitted"):
        explain_selection(GridSearchCV(DecisionTreeClassifier(), {"max_depth": [1]}, refit=pick.__class__()))


def test_bad_input():
    with pytest.raises(ValueError, match="margin must be a non-negative"):
        select_within_margin("robust", margin=-0.01, n_train=8, n_test=2)
    with pytest.raises(ValueError, match="n_train and n_test"):
        select_within_margin("robust", margin=0.01)
    with pytest.raises(ValueError, match="prefer"):
        select_within_margin("robust", prefer="speed", n_train=8, n_test=2)
    assert isinstance(select_within_margin(n_train=8, n_test=2), WithinMarginSelector)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("rule", ["margin", "one-se"])
def test_parity_with_r(r_backend, seed, rule):
    from robustsk.stats._rbackend import r_call

    res = grid_results([0.80, 0.79, 0.78, 0.72], fit_times=[4.0, 3.0, 1.0, 0.5], seed=seed, noise=0.02)
    if rule == "margin":
        sel = select_within_margin("robust", margin=0.015, n_train=80, n_test=20).select(res)
    else:
        sel = one_standard_error_rule("robust", n_train=80, n_test=20).select(res)
    matrix = np.vstack([res[f"split{i}_test_robust"] for i in range(20)])
    r = r_call("select_within_margin", matrix, res["mean_fit_time"], margin=0.015, rule=rule,
               n_train=80, n_test=20)
    assert int(r["index"]) - 1 == sel.index
    np.testing.assert_allclose(r["table"]["pvalue"], sel.table["pvalue"], atol=1e-10)
    np.testing.assert_allclose(r["table"]["shortfall"], sel.table["shortfall"], atol=1e-12)
    assert r["table"]["eligible"].tolist() == sel.table["eligible"].tolist()
    assert float(r["margin"]) == pytest.approx(sel.margin, abs=1e-12)


@pytest.mark.parametrize("size", [-5, 0, "90", 2.5, True])
def test_fold_sizes_refused_when_the_rule_is_made(size):
    """Before GridSearchCV fits anything, not in its refit step."""
    from robustsk.stats import one_standard_error_rule, select_within_margin
    with pytest.raises(ValueError, match="n_train must be a positive integer"):
        select_within_margin(margin=0.01, n_train=size, n_test=10)
    with pytest.raises(ValueError, match="n_test must be a positive integer"):
        one_standard_error_rule(n_train=90, n_test=size)


@pytest.mark.parametrize("make", [
    lambda: select_within_margin("robust", margin=0.01, n_train=80, n_test=20),
    lambda: one_standard_error_rule("robust"),
])
def test_a_single_candidate_is_the_choice(make):
    pick = make()
    assert pick(grid_results([0.8], fit_times=[1])) == 0
    sel = pick.selection_
    assert sel.index == sel.best_index == 0 and sel.candidate == "epochs=1"
    assert len(sel.table) == 1 and sel.table["chosen"].item() and sel.table["eligible"].item()
    assert "only candidate" in sel.reason


def _with_failures(res, failed):
    for key in [k for k in res if k.startswith("split")]:
        res[key] = np.asarray(res[key], dtype=float).copy()
        res[key][failed] = np.nan
    return res


@pytest.mark.parametrize("make", [
    lambda: select_within_margin("robust", margin=0.02, n_train=80, n_test=20),
    lambda: one_standard_error_rule("robust", n_train=80, n_test=20),
])
def test_failed_candidates_are_left_out(make):
    """error_score=np.nan: NaN split scores; scikit-learn ranks such candidates last."""
    res = grid_results([0.80, 0.795, 0.70, 0.5], fit_times=[5.0, 1.0, 0.1, 0.01])
    res = _with_failures(res, [3])
    res["split4_test_robust"][2] = np.nan  # one failed split is enough
    pick = make()
    assert pick(res) == 1
    table = pick.selection_.table.set_index("candidate")
    assert table["left_out"].tolist() == [False, False, True, True]
    assert not table.loc[["epochs=3", "epochs=4"], "eligible"].any()
    assert "Left out" in pick.selection_.reason and "epochs=3, epochs=4" in pick.selection_.reason
    # every candidate but one failed: that one is chosen
    assert make()(_with_failures(grid_results([0.8, 0.9, 0.7], [1, 1, 1]), [1, 2])) == 0
    with pytest.raises(ValueError, match="every candidate .* error_score='raise'"):
        make()(_with_failures(grid_results([0.8, 0.9], [1, 1]), [0, 1]))


def test_failed_fits_in_gridsearch():
    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True)
    cv = KFold(3, shuffle=True, random_state=0)
    pick = one_standard_error_rule(prefer=lambda p: p["max_depth"])
    with pytest.warns(Warning):
        search = GridSearchCV(DecisionTreeClassifier(random_state=0), {"max_depth": [-1, 2, 4]}, cv=cv,
                              error_score=np.nan, refit=pick).fit(X, y)
    assert search.best_index_ == explain_selection(search).index != 0
    assert explain_selection(search).table.set_index("candidate").loc["max_depth=-1", "left_out"]


def test_fit_time_ignores_a_slow_first_fit():
    """The first fit in a process pays one-off lazy imports; that split must not decide the cost."""
    cheap, dear = np.array([1.5, 0.03, 0.03]), np.array([0.12, 0.13, 0.12])  # seconds per split
    res = grid_results([0.80, 0.80], fit_times=[cheap.mean(), dear.mean()], n_splits=3)
    res["std_fit_time"] = np.array([cheap.std(), dear.std()])  # as GridSearchCV stores it (ddof=0)
    pick = select_within_margin("robust", margin=1.0, n_train=80, n_test=20)
    assert pick(res) == 0
    assert pick.selection_.table.set_index("candidate")["cost"].to_dict() == pytest.approx(
        {"epochs=1": 0.03, "epochs=2": dear.mean() - dear.std() / np.sqrt(2)})
    assert "prefer=lambda params" in pick.selection_.reason
    runs = {"a": {"test_score": 0.8 + np.arange(3) / 100, "fit_time": cheap},
            "b": {"test_score": 0.8 + np.arange(3) / 100, "fit_time": dear}}
    sel = one_standard_error_rule().select(runs)
    assert sel.candidate == "a" and sel.table.set_index("candidate").loc["a", "cost"] == 0.03


@pytest.mark.parametrize("sizes", [{"n_train": 20}, {"n_test": 10}])
def test_one_se_refuses_half_the_fold_sizes(sizes):
    with pytest.raises(ValueError, match="needs both .* Pass both, or neither"):
        one_standard_error_rule(**sizes)


def test_parity_with_r_when_a_candidate_failed(r_backend):
    from robustsk.stats._rbackend import r_call

    res = _with_failures(grid_results([0.80, 0.79, 0.78, 0.72], [4.0, 3.0, 1.0, 0.5], seed=1, noise=0.02), [2])
    sel = select_within_margin("robust", margin=0.015, n_train=80, n_test=20).select(res)
    matrix = np.vstack([res[f"split{i}_test_robust"] for i in range(20)])
    r = r_call("select_within_margin", matrix, res["mean_fit_time"], margin=0.015, n_train=80, n_test=20)
    assert int(r["index"]) - 1 == sel.index
    assert r["table"]["left_out"].tolist() == sel.table["left_out"].tolist()
    assert (np.asarray(r["table"]["index"]) - 1).tolist() == sel.table["index"].tolist()
