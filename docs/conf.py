"""Sphinx configuration of robustsk's documentation site.

Build it from the repository root with
``python -m sphinx -W --keep-going -b html docs docs/_build/html``
(``tests/test_docs_site.py`` runs the same build in the test suite).
"""
import os
from pathlib import Path
import sys

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE / "_ext"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import robustsk  # noqa: E402

project = "robustsk"
author = "robustsk developers"
copyright = "robustsk developers"
release = version = robustsk.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "nbsphinx",
    "robustsk_notebooks",
    "robustsk_api",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "_ext", "**.ipynb_checkpoints"]
html_theme = "pydata_sphinx_theme"
html_title = f"robustsk {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}

# A broken cross-reference to robustsk is an error (-W); references to the libraries
# robustsk builds on resolve without network access only with intersphinx, so they are
# let through as plain text.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|sklearn|skorch|numpy|np|pandas|pd|scipy|statsmodels|matplotlib|"
               r"cvxpy|geomloss|rpy2|nbformat|collections|typing|enum|dataclasses|"
               r"abc|argparse|builtins|pathlib)(\..*)?"),
    (r"py:.*", r"(int|float|str|bool|dict|list|tuple|object|callable|None|Exception|"
               r"UserWarning|RuntimeWarning|ValueError|TypeError|RuntimeError|Warning|"
               r"NamedTuple|Enum)"),
]

autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"
# An override without its own docstring (forward, train_step_single) shows no
# docstring of torch's or skorch's; robustsk_api leaves it out.
autodoc_inherit_docstrings = False
autodoc_member_order = "bysource"
autodoc_default_options = {"show-inheritance": True}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# A public object without a docstring fails the build: robustsk_api checks it.

# The notebooks come executed from robustsk_notebooks (once per build, or the test
# suite's copies); nbsphinx renders them as they are.
nbsphinx_execute = "never"
nbsphinx_allow_errors = False

# -- API pages: one per group of public modules, listing everything in ``__all__`` --
import robustsk_api  # noqa: E402

API_PAGES = robustsk_api.write_pages(HERE / "api")
