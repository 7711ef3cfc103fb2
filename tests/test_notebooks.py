"""Execute the tutorial notebooks end to end and check that their figures rendered.

Needs nbclient, nbformat and ipykernel (the ``notebooks`` extra); notebook 4
also needs R, the R package reticulate and rpy2, and skips without them.
The kernel is the interpreter running pytest (no ``jupyter kernelspec
install`` needed): ipykernel provides the native ``python3`` spec. Each
notebook runs once per session (the ``executed_notebooks`` fixture of
conftest.py, code in docs/_ext/robustsk_notebooks.py); the documentation
build of tests/test_docs_site.py renders the same executed copies.
"""
from pathlib import Path

import pytest

pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
BUDGET = 60  # seconds per notebook on one core (reported, enforced with slack)


def _pngs(nb):
    return sum("image/png" in out.get("data", {})
               for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", []))


def _errors(nb):
    return [out for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if out.get("output_type") == "error"]


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebook_runs_and_plots(name, executed_notebooks):
    why = executed_notebooks.module.missing_requirement(name)
    if why is not None:
        pytest.skip(f"{name} {why}")
    nb, elapsed = executed_notebooks(name)
    assert not _errors(nb)
    assert _pngs(nb) >= 1, f"{name} rendered no figure"
    assert elapsed < 3 * BUDGET, f"{name} took {elapsed:.0f}s (budget {BUDGET}s)"
    print(f"{name}: {elapsed:.1f}s, {_pngs(nb)} figure(s)")
