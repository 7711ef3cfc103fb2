"""The documentation site builds with warnings as errors, and bad input fails it by name.

``test_site_builds`` runs the documented command
(``python -m sphinx -W --keep-going -b html docs docs/_build/html``) into a
temporary folder, rendering the notebooks that ``executed_notebooks`` already
ran for tests/test_notebooks.py, so no notebook runs twice. The other tests
build tiny projects with the same extensions and check that a broken
cross-reference, a missing docstring and a notebook that raises each fail the
build with a message naming the file.
"""
import os
from pathlib import Path
import subprocess
import sys
import textwrap
import time

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")
pytest.importorskip("nbsphinx")
pytest.importorskip("pydata_sphinx_theme")

ROOT = Path(__file__).resolve().parents[1]
EXT = ROOT / "docs" / "_ext"


def sphinx_build(source, out, *, env=None, timeout=900):
    """Run sphinx-build as CI does; return (returncode, its output)."""
    full_env = dict(os.environ, OMP_NUM_THREADS="1")
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(EXT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    full_env.update(env or {})
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
           "-d", str(out / ".doctrees"), str(source), str(out / "html")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout,
                          cwd=ROOT)
    return proc.returncode, proc.stdout + proc.stderr


def test_site_builds(executed_notebooks, tmp_path):
    for name in ("nbformat", "nbclient", "ipykernel"):  # the notebooks extra
        pytest.importorskip(name)
    rendered = []
    for path in executed_notebooks.module.notebook_paths():
        if executed_notebooks.module.missing_requirement(path.name) is None:
            try:
                executed_notebooks(path.name)
            except executed_notebooks.module.NotebookFailed as err:
                pytest.fail(f"the documentation renders {path}, which raised:\n{err}")
            rendered.append(path.stem)
    start = time.perf_counter()
    code, output = sphinx_build(
        ROOT / "docs", tmp_path,
        env={executed_notebooks.module.EXECUTED_ENV: str(executed_notebooks.folder)})
    print(f"sphinx-build: {time.perf_counter() - start:.0f}s")
    assert code == 0, f"sphinx-build -W failed (exit {code}):\n{output}"
    html = tmp_path / "html"
    for page in ["index", "api/defenses", "api/generated/robustsk.defenses.TRADES",
                 "guide/getting_started", "guide/bad_input", "notebooks/01_first_defense"]:
        assert (html / f"{page}.html").exists(), page
    # the executed notebooks are rendered with their figures
    for stem in rendered:
        assert list((html / "_images").glob(f"notebooks_{stem}_*.png")), f"{stem}: no figure"


TINY_CONF = """
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "numpydoc", "robustsk_api"]
nitpicky = True
autodoc_inherit_docstrings = False
numpydoc_show_class_members = False
"""


def _tiny_project(tmp_path, module_source):
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(TINY_CONF)
    (src / "index.rst").write_text("Probe\n=====\n\n.. automodule:: robustsk_docs_probe\n"
                                   "   :members:\n   :undoc-members:\n")
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "robustsk_docs_probe.py").write_text(textwrap.dedent(module_source))
    return src, {"PYTHONPATH": os.pathsep.join([str(lib), str(ROOT), str(EXT)])}


def test_broken_reference_and_missing_docstring_fail_naming_the_file(tmp_path):
    src, env = _tiny_project(tmp_path, '''
        """A module whose docstrings refer to robustsk names."""


        def good():
            """Link to :func:`robustsk.certify.certify` and :mod:`robustsk.attacks.pgd`."""


        def broken():
            """See :func:`robustsk.attacks.no_such_attack`."""


        class Undocumented:
            pass
    ''')
    code, output = sphinx_build(src, tmp_path / "out", env=env)
    lines = (tmp_path / "lib" / "robustsk_docs_probe.py").read_text().splitlines()
    line = lines.index("class Undocumented:") + 1
    assert code != 0
    # a name that does not exist: the docstring's file, the object and the target
    assert "robustsk_docs_probe.py:docstring of robustsk_docs_probe.broken" in output, output
    assert "robustsk.attacks.no_such_attack" in output, output
    # names that exist (public, or a submodule without a page) are no error
    assert "robustsk.certify.certify" not in output and "attacks.pgd" not in output, output
    # a public object without a docstring: its file and line
    assert f"robustsk_docs_probe.py:{line}: public class robustsk_docs_probe.Undocumented " \
           "has no docstring" in output, output
    assert "good has no" not in output and "broken has no" not in output, output


def test_notebook_that_raises_fails_naming_it(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_code_cell("raise ValueError('probe')")])
    nbformat.write(nb, notebooks / "99_broken.ipynb")
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(f'extensions = ["robustsk_notebooks"]\n'
                                 f'robustsk_notebooks = {str(notebooks)!r}\n')
    (src / "index.rst").write_text("Probe\n=====\n")
    code, output = sphinx_build(src, tmp_path / "out", env={"PYTHONPATH": str(EXT)})
    assert code != 0
    assert "99_broken.ipynb" in output and "ValueError" in output and "probe" in output, output
