"""Let a process that runs R through rpy2, with reticulate inside it, exit cleanly.

The R package's ``rsk_*`` functions use reticulate; called through rpy2 they
attach to this very Python, and rpy2's exit handler then crashes the process
(exit status 134) after all work is done. :func:`guard_r_exit` registers the
exit step that avoids it. Shared by :mod:`robustsk.stats` (its R backend) and
the module the R package imports, so it lives in neither.
"""
import atexit

__all__ = ["guard_r_exit"]

_REGISTERED = []


def guard_r_exit():
    """Register (once) the exit step that skips rpy2's R shutdown when reticulate is inside.

    Called by :mod:`robustsk.stats`' R backend after rpy2 has started R, so
    that it runs before rpy2's own exit handler (atexit runs the last
    registered first), and by ``robustsk._r_bridge`` when reticulate imports
    it into a process where rpy2 runs R (the R package used through rpy2
    without :mod:`robustsk.stats`).
    """
    if not _REGISTERED:
        atexit.register(_end_r_without_reticulate_crash)
        _REGISTERED.append(True)


def _end_r_without_reticulate_crash():
    """At exit: skip rpy2's R shutdown when reticulate started Python inside this process.

    The R package's ``rsk_*`` functions use reticulate, which, called through
    rpy2, attaches to this very Python. rpy2's exit handler then ends R, R
    runs reticulate's finalizers, and they call Python without holding the GIL:
    "Fatal Python error: PyThreadState_Get", exit status 134, after all work
    is done. In that case R is not shut down (the operating system frees it);
    only its session's temporary folder is removed, as R would have done.
    """
    try:
        import rpy2.rinterface as ri
        from rpy2.rinterface_lib import embedded
        import rpy2.robjects as ro

        if not embedded.isready():
            return
        inside = ro.r('"reticulate" %in% loadedNamespaces() && '
                      'isTRUE(reticulate::py_available(initialize = FALSE))')[0]
        if inside:
            ro.r("unlink(tempdir(), recursive = TRUE)")
            atexit.unregister(ri.endr)
    except Exception:  # at exit, never raise: R then ends as rpy2 would end it
        pass
