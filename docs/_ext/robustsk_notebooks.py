"""Execute the tutorial notebooks once, for the test suite and the documentation.

``execute(path)`` runs one notebook of ``notebooks/`` with the same kernel,
environment and working directory as ``tests/test_notebooks.py`` has always
used, and returns the executed notebook; a cell that raises becomes a
``NotebookFailed`` whose message names the notebook and the cell.

As a Sphinx extension (``docs/conf.py``) it puts an executed copy of every
notebook into ``docs/notebooks/`` (git-ignored) before Sphinx reads the
sources, and nbsphinx renders those copies with their outputs and figures
without executing them again. When the environment variable
``ROBUSTSK_EXECUTED_NOTEBOOKS`` names a folder, notebooks found there (the
test suite's executed copies) are taken as they are instead of running again.
"""
import functools
import importlib.util
import os
from pathlib import Path
import shutil
import subprocess
import sys
import time

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
CELL_TIMEOUT = 180
EXECUTED_ENV = "ROBUSTSK_EXECUTED_NOTEBOOKS"


class NotebookFailed(RuntimeError):
    """A notebook cell raised while the notebook was executed."""


@functools.lru_cache(maxsize=None)
def has_r_with_reticulate():
    """Whether R, its package reticulate and rpy2 are installed (notebook 4 needs them)."""
    if shutil.which("Rscript") is None or importlib.util.find_spec("rpy2") is None:
        return False
    out = subprocess.run(["Rscript", "-e", "cat(requireNamespace('reticulate', quietly=TRUE))"],
                         capture_output=True, text=True)
    return out.stdout.strip().endswith("TRUE")


# notebook name -> (check, why it is skipped when the check fails)
NEEDS = {"04_robustsk_from_R.ipynb": (has_r_with_reticulate,
                                      "needs R with reticulate and rpy2")}


def notebook_paths(folder=NOTEBOOKS):
    """The tutorial notebooks, sorted by name."""
    return sorted(Path(folder).glob("*.ipynb"))


def missing_requirement(name):
    """Why notebook ``name`` cannot run here, or None when it can."""
    check, why = NEEDS.get(name, (None, None))
    if check is not None and not check():
        return why
    return None


def kernel_env():
    """The environment of the notebook kernel."""
    env = dict(os.environ)
    # The kernel imports robustsk from this checkout even when it is not pip-installed,
    # and uses this interpreter from R's reticulate (notebook 4).
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    env["RETICULATE_PYTHON"] = sys.executable
    env["OMP_NUM_THREADS"] = "1"
    return env


def execute(path, timeout=CELL_TIMEOUT):
    """Execute the notebook at ``path`` in its own folder; return ``(notebook, seconds)``.

    Raises ``NotebookFailed`` naming the notebook and the failing cell when a cell raises.
    """
    import nbclient
    from nbclient.exceptions import CellExecutionError
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    saved = dict(os.environ)
    os.environ.update(kernel_env())  # the kernel inherits this process's environment
    try:
        client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                         resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        try:
            client.execute()
        except CellExecutionError as err:
            raise NotebookFailed(f"notebook {path} raised while executing:\n{err}") from None
        return nb, time.perf_counter() - start
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _prepare(app):
    """Sphinx ``builder-inited``: executed copies of the notebooks in ``docs/notebooks``."""
    import nbformat
    from sphinx.errors import ExtensionError
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    out = Path(app.srcdir) / "notebooks"
    out.mkdir(exist_ok=True)
    given = os.environ.get(EXECUTED_ENV)
    for path in notebook_paths(app.config.robustsk_notebooks):
        target = out / path.name
        done = Path(given) / path.name if given else None
        if done is not None and done.exists():
            shutil.copyfile(done, target)
            continue
        why = missing_requirement(path.name)
        if why is not None:
            logger.info(f"{path} is rendered without outputs: it {why}")
            shutil.copyfile(path, target)
            continue
        logger.info(f"executing {path} ...")
        try:
            nb, seconds = execute(path)
        except NotebookFailed as err:
            raise ExtensionError(str(err)) from None
        nbformat.write(nb, target)
        logger.info(f"{path.name}: {seconds:.1f}s")


def setup(app):
    app.add_config_value("robustsk_notebooks", str(NOTEBOOKS), "env")
    app.connect("builder-inited", _prepare)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
