"""Every docstring example of robustsk and every code block of README.rst runs as written."""
import ast
import doctest
import importlib
import inspect
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


def test_every_module_with_examples_is_doctested():
    """Every module whose docstrings hold an example runs here or in tests/stats."""
    runner = (ROOT / "tests" / "stats" / "test_stats_docs.py").read_text(encoding="utf-8")
    stats = ast.literal_eval(re.search(r"^MODULES = (\[.*?\])", runner, re.S | re.M).group(1))
    covered = set(MODULES) | {f"robustsk.stats.{name}" for name in stats}
    missed = [name for _, name, _ in pkgutil.walk_packages(robustsk.__path__, "robustsk.")
              if not name.endswith("__main__")
              and ">>>" in inspect.getsource(importlib.import_module(name))
              and name not in covered]
    assert not missed, f"docstring examples that no test runs: {missed}"


def readme_blocks(with_prose=False):
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    blocks, end = [], 0
    for match in re.finditer(r"^\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text, re.M):
        lines = [line[4:] for line in match.group(1).splitlines()]
        code = "\n".join(lines).strip() + "\n"
        blocks.append((text[end:match.start()], code) if with_prose else code)
        end = match.end()
    return blocks


def test_readme_has_code_blocks():
    assert len(readme_blocks()) >= 3


def test_readme_code_blocks_state_their_cost():
    """The paragraph before every code block says what running it costs."""
    for i, (prose, _) in enumerate(readme_blocks(with_prose=True)):
        paragraph = prose.strip().split("\n\n")[-1]
        assert re.search(r"about\s+\d+\s+s\s+of\s+CPU", paragraph), \
            f"README.rst code block {i + 1}: the paragraph before it does not state its cost " \
            f"('about N s of CPU'):\n{paragraph}"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("i", range(len(readme_blocks())))
def test_readme_code_block_runs_alone(i):
    """Each block runs as written in a fresh interpreter namespace (it defines what it uses)."""
    block = readme_blocks()[i]
    namespace = {"__name__": "readme"}
    try:
        exec(compile(block, f"README.rst block {i + 1}", "exec"), namespace)
    except Exception as err:  # the block's number makes the failure findable
        raise AssertionError(f"README.rst code block {i + 1} failed: {err!r}\n{block}") from err


def test_statistics_r_page_says_which_functions_take_backend():
    """docs/guide/statistics_r.rst: the functions said to lack ``backend=`` are exactly those."""
    import robustsk.stats as stats
    text = (ROOT / "docs" / "guide" / "statistics_r.rst").read_text()
    intro, table = text.split("\n" + "=" * 39 + "  ", 1)  # the border of the table
    names = set(re.findall(r"^:func:`(\w+)`", table, flags=re.M))
    assert len(names) > 10, "no table of functions found"
    without = sorted(name for name in names
                     if "backend" not in inspect.signature(getattr(stats, name)).parameters)
    assert "All but two take" in intro and len(without) == 2, without
    for name in without:
        assert f":func:`~robustsk.stats.{name}`" in intro and "no ``backend``" in intro, name
