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


def _stdout(cell):
    return "".join(out.get("text", "") for out in cell.get("outputs", [])
                   if out.get("output_type") == "stream")


def test_review_notebook_attack_reaches_every_radius(executed_notebooks):
    """Notebook 3: the margin drops by eps * ||w||_1, as its text says; PGD = closed form.

    The notebook itself asserts that PGD with steps of eps / 8 equals the exact
    criterion (margin > eps * ||w||_1) at every radius of its grid; 40 steps of
    size 1 cannot move a pixel by more than 40 and fail that above eps 40.
    """
    import re
    name = "03_review_experiment.ipynb"
    why = executed_notebooks.module.missing_requirement(name)
    if why is not None:
        pytest.skip(f"{name} {why}")
    nb, _ = executed_notebooks(name)
    assert not _errors(nb)
    source = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    assert "assert_array_equal(table[\"Python, steps of eps/8\"]" in source
    last = [cell for cell in nb.cells if cell.cell_type == "code"][-1]
    found = re.search(r"dropped by (-?[\d.]+); eps \* \|\|w\|\|_1 = (-?[\d.]+)", _stdout(last))
    assert found, _stdout(last)
    assert found.group(1) == found.group(2)


def test_first_notebook_prose_matches_its_numbers(executed_notebooks):
    """Notebook 1: the text after the baseline claims no more than the printed accuracies show."""
    import re
    name = "01_first_defense.ipynb"
    nb, _ = executed_notebooks(name)
    index = next(i for i, cell in enumerate(nb.cells)
                 if cell.cell_type == "code" and "baseline.score_adversarial" in cell.source)
    printed = _stdout(nb.cells[index])
    clean = float(re.search(r"clean accuracy\s+([\d.]+)", printed).group(1))
    robust = float(re.search(r"robust accuracy\s+([\d.]+)", printed).group(1))
    text = nb.cells[index + 1].source.lower()
    assert robust < clean and "lowers it" in text
    if robust > clean / 2:  # "most of it" would need the attack to take more than half
        assert "destroys" not in text and "most of" not in text, text
    for number in re.findall(r"\d+\.\d+", text):  # e.g. eps, named in the code; no results
        assert number in nb.cells[index].source, f"{number} in the prose is not in the cell"
