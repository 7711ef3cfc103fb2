"""The Examples sections of robustsk.stats run and give what they show."""

import doctest
import importlib

import pytest

import robustsk.stats as rs

MODULES = ["interval", "clopper_pearson", "robust_accuracy", "mcnemar", "cochran", "bootstrap",
           "curve", "_frame", "cv_compare", "selection", "defense_comparison", "power",
           "per_class"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"robustsk.stats.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_public_names_are_documented():
    for name in rs.__all__:
        obj = getattr(rs, name)
        assert obj.__doc__ and obj.__doc__.strip(), name
    for func in (rs.accuracy_interval, rs.mcnemar, rs.cochran_q, rs.paired_bootstrap,
                 rs.robustness_curve, rs.robust_accuracy_from_correct, rs.compare_cv_results,
                 rs.select_within_margin, rs.one_standard_error_rule, rs.compare_paired,
                 rs.compare_defenses, rs.mcnemar_power, rs.mcnemar_sample_size,
                 rs.per_class_accuracy, rs.clopper_pearson_bound):
        for section in ("Parameters", "Returns", "References", "Examples"):
            assert section in func.__doc__, (func.__name__, section)
        assert "backend" in func.__doc__
