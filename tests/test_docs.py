"""Every docstring example of robustsk and every code block of README.rst runs as written."""
import doctest
import importlib
from pathlib import Path
import pkgutil
import re

import pytest

import robustsk

ROOT = Path(__file__).resolve().parents[1]
# robustsk.stats has its own doctest runner (tests/stats/test_stats_docs.py).
MODULES = sorted(name for _, name, _ in pkgutil.walk_packages(robustsk.__path__, "robustsk.")
                 if not name.startswith("robustsk.stats") and not name.endswith("__main__"))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    result = doctest.testmod(module, optionflags=flags, verbose=False)
    assert result.failed == 0, f"{result.failed} doctest failure(s) in {name}"


def readme_blocks():
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    blocks = []
    for match in re.finditer(r"^\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text, re.M):
        lines = [line[4:] for line in match.group(1).splitlines()]
        blocks.append("\n".join(lines).strip() + "\n")
    return blocks


def test_readme_has_code_blocks():
    assert len(readme_blocks()) >= 3


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_readme_code_blocks_run_in_order():
    namespace = {"__name__": "readme"}
    for i, block in enumerate(readme_blocks()):
        try:
            exec(compile(block, f"README.rst block {i + 1}", "exec"), namespace)
        except Exception as err:  # the block's number makes the failure findable
            raise AssertionError(f"README.rst code block {i + 1} failed: {err!r}\n{block}") from err
