"""paired_correct: pivoting a tidy frame by example_id."""

import numpy as np
import pandas as pd
import pytest

from robustsk.stats import paired_correct


def _frame():
    return pd.DataFrame({
        "example_id": [2, 0, 1, 0, 1, 2], "eps": 0.1, "attack": "pgd",
        "defense": ["a", "a", "a", "b", "b", "b"], "correct": [1, 1, 0, 0, 1, 1],
    })


def test_pivot_pairs_by_example_id():
    wide = paired_correct(_frame())
    assert list(wide.columns) == ["a", "b"]
    assert list(wide.index) == [0, 1, 2]
    assert wide.loc[2].tolist() == [True, True] and wide.loc[0].tolist() == [True, False]


def test_unpaired_and_ambiguous_frames_are_rejected():
    with pytest.raises(ValueError, match="not measured under every defense"):
        paired_correct(_frame().iloc[:-1])
    with pytest.raises(ValueError, match="single eps"):
        paired_correct(pd.concat([_frame(), _frame().assign(eps=0.2)]))
    wide = paired_correct(pd.concat([_frame(), _frame().assign(eps=0.2)]), eps=0.2)
    assert wide.shape == (3, 2)
    with pytest.raises(ValueError, match="matches no row"):
        paired_correct(_frame(), eps=0.5)
    with pytest.raises(ValueError, match="lacks the column"):
        paired_correct(_frame().drop(columns="attack"))
    with pytest.raises(ValueError, match="element 0"):
        paired_correct(_frame().assign(correct=2))


@pytest.mark.parametrize("column", ["attack", "defense"])
def test_missing_attack_or_defense_labels_are_refused(column):
    """A missing defense became a level 'nan'; a missing attack was pooled with the others."""
    frame = _frame()
    frame.loc[frame.index[0], column] = None
    with pytest.raises(ValueError, match=rf"frame\['{column}'\] has 1 missing value"):
        paired_correct(frame)


@pytest.mark.parametrize("value", [-0.1, np.inf, "big"])
def test_eps_must_be_a_radius(value):
    from robustsk.stats import robustness_curve
    frame = pd.DataFrame({"example_id": np.tile(np.arange(20), 2), "eps": np.repeat([0.0, 0.1], 20),
                          "attack": "pgd", "correct": np.arange(40) % 3 > 0})
    frame["eps"] = frame["eps"].astype(object)
    frame.loc[5, "eps"] = value
    with pytest.raises(ValueError, match=r"\['eps'\] holds .*expected radii"):
        robustness_curve(frame)
