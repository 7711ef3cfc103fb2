"""The R package's rsk_* functions called through rpy2 leave Python with exit status 0.

reticulate inside rpy2 attaches to the running Python; without robustsk's guard
rpy2's exit handler ends R, reticulate's finalizers call Python without the GIL
and the process aborts ("Fatal Python error: PyThreadState_Get", status 134).
Skips cleanly without R, reticulate or rpy2.
"""
import os
from pathlib import Path
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[2]


sys.path.insert(0, str(ROOT / "docs" / "_ext"))  # the documentation's notebook runner
from robustsk_notebooks import has_r_with_reticulate  # noqa: E402  (notebook 4 needs it too)

SOURCE = ("for (f in sort(list.files('{src}', pattern = '[.]R$', full.names = TRUE))) source(f)"
          .format(src=(ROOT / "r_compat" / "R").as_posix()))

SCRIPTS = {
    # R started through robustsk.stats (backend="r"), then an rsk_* call
    "robustsk-started-r": f"""
from robustsk.stats._rbackend import import_robjects
ro = import_robjects()
ro.r({SOURCE!r})
print("available:", ro.r("rsk_python_available()")[0], flush=True)
""",
    # plain rpy2; reticulate imports robustsk's bridge for the work
    "plain-rpy2": f"""
import rpy2.robjects as ro
ro.r({SOURCE!r})
print("digits:", list(ro.r("dim(rsk_load_digits(n_class = 2))")), flush=True)
""",
}


@pytest.mark.skipif(not has_r_with_reticulate(), reason="needs R with reticulate, and rpy2")
@pytest.mark.parametrize("route", sorted(SCRIPTS))
def test_rsk_functions_through_rpy2_exit_cleanly(route):
    env = dict(os.environ, RETICULATE_PYTHON=sys.executable, ROBUSTSK_PYTHON=sys.executable,
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", SCRIPTS[route]], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env=env)
    assert "Fatal Python error" not in out.stderr, out.stderr[-2000:]
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert ("available: True" in out.stdout) or ("digits: [360, 65]" in out.stdout)
