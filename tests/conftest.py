"""BLAS threads under pytest-xdist: the workers share the cores instead of each taking all.

Each of N workers runs BLAS on ``cores // N`` threads (at least one), and so do
the processes the tests start (examples, a dask cluster), through the usual
environment variables unless they are set already. Two workers with two BLAS
threads each on two cores ran the suite in 5:10, with one each in 4:02 (busy-
waiting BLAS threads fight for the cores). scikit-learn's own conftest limits
its workers' threads in the same way. ``test_threads`` tests the thread rule
itself and lifts the limit for its module (``blas_threads_as_started``).
"""

import os

import pytest
from helpers import set_blas_threads

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _cores():
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def threads_per_worker():
    """BLAS threads for each xdist worker; None outside xdist (or with one worker)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(_cores() // workers, 1) if workers > 1 else None


@pytest.fixture(scope="session", autouse=True)
def blas_threads_per_worker():
    threads = threads_per_worker()
    if threads is None:
        yield None
        return
    unset = [name for name in THREAD_VARIABLES if name not in os.environ]
    for name in unset:
        os.environ[name] = str(threads)
    restore = set_blas_threads(threads)
    try:
        yield threads
    finally:
        restore()
        for name in unset:
            os.environ.pop(name, None)
