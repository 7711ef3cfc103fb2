"""compare_cv_results: scikit-learn's gallery example, R golden values, parity, bad input."""

import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import numpy as np
import pandas as pd
import pytest

from robustsk.stats import CVComparison, compare_cv_results, cv_scores

STATS_SETTINGS = settings(max_examples=15, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def gallery_search():
    # scikit-learn's gallery example "Statistical comparison of models using grid
    # search" (examples/model_selection/plot_grid_search_stats.py), its own data.
    from sklearn.datasets import make_moons
    from sklearn.model_selection import GridSearchCV, RepeatedStratifiedKFold
    from sklearn.svm import SVC

    X, y = make_moons(noise=0.352, random_state=1, n_samples=100)
    param_grid = [{"kernel": ["linear"]}, {"kernel": ["poly"], "degree": [2, 3]}, {"kernel": ["rbf"]}]
    cv = RepeatedStratifiedKFold(n_splits=10, n_repeats=10, random_state=0)
    search = GridSearchCV(SVC(random_state=0), param_grid=param_grid, scoring="roc_auc", cv=cv).fit(X, y)
    train, test = next(cv.split(X, y))
    return search, len(train), len(test)


def test_matches_the_sklearn_gallery_example(gallery_search):
    search, n_train, n_test = gallery_search
    assert (n_train, n_test) == (90, 10)
    # the example's right-tailed test and Bonferroni adjustment
    res = compare_cv_results(search.cv_results_, n_train=n_train, n_test=n_test,
                             alternative="greater", p_adjust="bonferroni")
    assert isinstance(res, CVComparison)
    assert res.summary["candidate"].tolist() == ["kernel=rbf", "kernel=linear", "degree=3, kernel=poly",
                                                 "degree=2, kernel=poly"]
    first = res.pairwise.iloc[0]
    # printed by the example: "Corrected t-value: 0.750 / Corrected p-value: 0.227"
    assert round(first["statistic"], 3) == 0.750
    assert round(first["pvalue"], 3) == 0.227
    naive = compare_cv_results(search.cv_results_, alternative="greater", correction="none")
    # "Uncorrected t-value: 2.611 / Uncorrected p-value: 0.005"
    assert round(naive.pairwise.iloc[0]["statistic"], 3) == 2.611
    assert round(naive.pairwise.iloc[0]["pvalue"], 3) == 0.005
    # its credible intervals, from the text: 50% [0.000977, 0.019023], 95% [-0.016445, 0.036445]
    post = res.posterior("kernel=rbf", "kernel=linear")
    np.testing.assert_allclose(post.interval(0.5), [0.000977, 0.019023], atol=5e-7)
    np.testing.assert_allclose(post.interval(0.95), [-0.016445, 0.036445], atol=5e-7)
    assert (first["low"], first["high"]) == pytest.approx(post.interval(0.95), abs=1e-12)
    # "rbf has approximately a 6.8% chance of being worse than linear, and a 1.8% chance of
    # being worse than 3_poly; rbf and linear have a 43% probability of being practically
    # equivalent, while rbf and 3_poly have a 10% chance of being so."
    rows = res.pairwise.set_index(["candidate_a", "candidate_b"])
    assert round(rows.loc[("kernel=rbf", "kernel=linear"), "p_worse"], 3) == 0.068
    assert round(rows.loc[("kernel=rbf", "degree=3, kernel=poly"), "p_worse"], 3) == 0.018
    assert round(rows.loc[("kernel=rbf", "kernel=linear"), "p_rope"], 2) == 0.43
    assert round(rows.loc[("kernel=rbf", "degree=3, kernel=poly"), "p_rope"], 2) == 0.10
    # "after correcting for multiple comparisons, the only model that significantly differs
    # from the others is '2_poly'"
    involves_2poly = (res.pairwise.candidate_b == "degree=2, kernel=poly")
    assert (res.pairwise["reject"] == involves_2poly).all()
    assert (res.pairwise.loc[involves_2poly, "p_better"] > 0.999).all()
    # Holm (the default) rejects the same pairs here, two-sided
    holm = compare_cv_results(search.cv_results_, n_train=n_train, n_test=n_test)
    assert (holm.pairwise["reject"] == involves_2poly).all()


def test_golden_values_from_r(golden):
    scores = golden("cv_scores.csv")
    want = golden("cv_compare.csv")
    runs = {c: {"test_score": scores[c].to_numpy()} for c in scores.columns}
    for (correction, alternative), part in want.groupby(["correction", "alternative"]):
        res = compare_cv_results(runs, n_train=100, n_test=20, correction=correction,
                                 alternative=alternative, rope=0.01)
        got = res.pairwise.reset_index(drop=True)
        part = part.reset_index(drop=True)
        assert got["candidate_a"].tolist() == part["candidate_a"].tolist()
        assert got["candidate_b"].tolist() == part["candidate_b"].tolist()
        for col in ("difference", "std_error", "statistic", "pvalue", "low", "high", "p_better",
                    "p_rope", "p_worse"):
            np.testing.assert_allclose(got[col], part[col], rtol=1e-9, atol=1e-12, err_msg=col)
        np.testing.assert_allclose(got["pvalue_adjusted"], part["pvalue_holm"], rtol=1e-9, atol=1e-12)


def test_correction_widens_and_cross_validate_input():
    rng = np.random.default_rng(1)
    fold = rng.normal(0, 0.05, 20)
    runs = {"x": {"test_score": 0.7 + fold + rng.normal(0, 0.01, 20), "fit_time": np.ones(20)},
            "y": {"test_score": 0.69 + fold + rng.normal(0, 0.01, 20), "fit_time": np.ones(20) * 3}}
    nb = compare_cv_results(runs, n_train=80, n_test=20)
    naive = compare_cv_results(runs, correction="none")
    assert nb.pairwise["std_error"].iloc[0] > naive.pairwise["std_error"].iloc[0]
    assert nb.pairwise["pvalue"].iloc[0] > naive.pairwise["pvalue"].iloc[0]
    assert nb.summary["mean_fit_time"].tolist() == [1.0, 3.0]
    probs = nb.pairwise[["p_better", "p_rope", "p_worse"]].sum(axis=1)
    np.testing.assert_allclose(probs, 1.0)
    scores, info, scoring = cv_scores(runs)
    assert scores.shape == (20, 2) and scoring == "score"


def test_bad_input_names_what_to_pass():
    runs = {"a": {"test_score": np.r_[0.1, 0.2, 0.3]}, "b": {"test_score": np.r_[0.2, 0.2, 0.1]}}
    with pytest.raises(ValueError, match="per-split test scores"):
        compare_cv_results({"params": [{"C": 1}, {"C": 2}], "mean_test_score": [0.5, 0.6]}, n_train=9, n_test=1)
    with pytest.raises(ValueError, match="single candidate"):
        compare_cv_results({"test_score": np.r_[0.1, 0.2], "fit_time": np.r_[1, 1]}, n_train=9, n_test=1)
    with pytest.raises(ValueError, match="single candidate"):
        compare_cv_results({"params": [{"C": 1}], "split0_test_score": [0.5], "split1_test_score": [0.6]},
                           n_train=9, n_test=1)
    with pytest.raises(ValueError, match="n_train and n_test"):
        compare_cv_results(runs)
    with pytest.raises(ValueError, match="rope must be a non-negative"):
        compare_cv_results(runs, n_train=9, n_test=1, rope=-0.01)
    with pytest.raises(ValueError, match="different numbers of splits"):
        compare_cv_results({"a": {"test_score": np.r_[0.1, 0.2]}, "b": {"test_score": np.r_[0.1, 0.2, 0.3]}},
                           n_train=9, n_test=1)
    multi = {"params": [{"C": 1}, {"C": 2}], "split0_test_a": [1, 2], "split0_test_b": [1, 2]}
    with pytest.raises(ValueError, match="several metrics"):
        compare_cv_results(multi, correction="none")


@STATS_SETTINGS
@given(seed=st.integers(0, 10_000), k=st.integers(2, 4), n_splits=st.integers(3, 12),
       alternative=st.sampled_from(["two-sided", "greater", "less"]),
       p_adjust=st.sampled_from(["holm", "BH", "none"]))
def test_parity_with_r(r_backend, seed, k, n_splits, alternative, p_adjust):
    rng = np.random.default_rng(seed)
    base = np.linspace(0.9, 0.6, k) + rng.normal(0, 1e-3, k)
    matrix = base + rng.normal(0, 0.03, (n_splits, 1)) + rng.normal(0, 0.02, (n_splits, k))
    runs = {f"m{j}": {"test_score": matrix[:, j]} for j in range(k)}
    kw = dict(n_train=50, n_test=10, alternative=alternative, p_adjust=p_adjust, rope=0.02)
    py = compare_cv_results(runs, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = compare_cv_results(runs, backend=r_backend, **kw)
    pd.testing.assert_frame_equal(py.pairwise, r.pairwise, check_exact=False, atol=1e-8, rtol=0)
