"""Run the R package's own testthat suite (skips cleanly without R)."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _has_r_package(name):
    if shutil.which("Rscript") is None:
        return False
    out = subprocess.run(["Rscript", "-e", f"cat(requireNamespace('{name}', quietly=TRUE))"],
                         capture_output=True, text=True)
    return out.stdout.strip().endswith("TRUE")


@pytest.mark.skipif(not _has_r_package("testthat"), reason="needs R with testthat")
def test_r_compat_testthat_suite():
    script = ("res <- testthat::test_dir('r_compat/tests/testthat', reporter='summary', "
              "stop_on_failure=TRUE); invisible(res)")
    import sys
    env = dict(os.environ, RETICULATE_PYTHON=sys.executable, ROBUSTSK_PYTHON=sys.executable,
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    out = subprocess.run(["Rscript", "-e", script], cwd=ROOT, capture_output=True, text=True,
                         timeout=600, env=env)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
