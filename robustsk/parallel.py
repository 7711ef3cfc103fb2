"""torch's thread budget inside joblib's worker processes.

scikit-learn runs ``GridSearchCV(n_jobs=k)`` and ``cross_validate(n_jobs=k)``
in joblib's loky worker processes and gives each a share of the CPUs: joblib
exports ``OMP_NUM_THREADS`` (``cpu_count() // k`` unless the user set it) to
the workers, and torch reads it when it is imported there. A worker lives on
across calls, though, and anything that ran in it before (a report with
``--threads``, user code) may have changed torch's thread count: k workers with
all cores each oversubscribe the machine many times over, and tiny networks then
run several times slower. ``fit``, ``score_adversarial`` and
``evaluate_robustness`` therefore set torch's intra-op threads to the worker's
budget when they run in a child process that has one.
"""
import multiprocessing
import os

import torch

__all__ = ["worker_thread_budget", "limit_worker_threads"]


def worker_thread_budget():
    """torch threads this process should use: ``OMP_NUM_THREADS`` in a worker process, else None.

    Returns
    -------
    n_threads : int or None
        None in the main process (the user's own setting stands) or where the
        worker has no valid ``OMP_NUM_THREADS``.
    """
    if multiprocessing.parent_process() is None:
        return None
    try:
        n_threads = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return n_threads if n_threads >= 1 else None


def limit_worker_threads():
    """In a worker process, set torch's intra-op threads to :func:`worker_thread_budget`.

    Returns
    -------
    n_threads : int
        torch's intra-op threads afterwards.

    Examples
    --------
    >>> import torch
    >>> limit_worker_threads() == torch.get_num_threads()  # the main process: unchanged
    True
    """
    budget = worker_thread_budget()
    if budget is not None and torch.get_num_threads() != budget:
        torch.set_num_threads(budget)
    return torch.get_num_threads()
