"""Execute the tutorial notebooks end to end and check that their figures rendered.

Needs nbclient, nbformat and ipykernel (the ``notebooks`` extra); notebook 4
also needs R, the R package reticulate and rpy2, and skips without them.
The kernel is the interpreter running pytest (no ``jupyter kernelspec
install`` needed): ipykernel provides the native ``python3`` spec.
"""
import importlib.util
import os
from pathlib import Path
import shutil
import subprocess
import sys
import time

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CELL_TIMEOUT = 180
BUDGET = 60  # seconds per notebook on one core (reported, enforced with slack)


def _has_r_with_reticulate():
    if shutil.which("Rscript") is None or importlib.util.find_spec("rpy2") is None:
        return False
    out = subprocess.run(["Rscript", "-e", "cat(requireNamespace('reticulate', quietly=TRUE))"],
                         capture_output=True, text=True)
    return out.stdout.strip().endswith("TRUE")


NEEDS = {"04_robustsk_from_R.ipynb": _has_r_with_reticulate}


def _kernel_env():
    env = dict(os.environ)
    # The kernel imports robustsk from this checkout even when it is not pip-installed,
    # and uses this interpreter from R's reticulate (notebook 4).
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    env["RETICULATE_PYTHON"] = sys.executable
    env["OMP_NUM_THREADS"] = "1"
    return env


def _pngs(nb):
    return sum("image/png" in out.get("data", {})
               for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", []))


def _errors(nb):
    return [out for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if out.get("output_type") == "error"]


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebook_runs_and_plots(name, monkeypatch, tmp_path):
    check = NEEDS.get(name)
    if check is not None and not check():
        pytest.skip(f"{name} needs R with reticulate and rpy2")
    for key, value in _kernel_env().items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}})
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    assert not _errors(nb)
    assert _pngs(nb) >= 1, f"{name} rendered no figure"
    assert elapsed < 3 * BUDGET, f"{name} took {elapsed:.0f}s (budget {BUDGET}s)"
    print(f"{name}: {elapsed:.1f}s, {_pngs(nb)} figure(s)")
