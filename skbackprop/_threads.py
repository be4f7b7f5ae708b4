"""BLAS threads chosen from the size of the matrix products.

A small network's products (a batch of 200 rows through 100 units, say) are
too small for a second BLAS thread to pay: OpenBLAS splits them anyway, and
its waiting threads spin against whatever else the machine runs. Measured on
a 2-core machine (digits, one hidden layer of 100, batches of 200): the same
fit takes 0.15 s on one thread or two when the machine is quiet, but 0.46 s
on two against 0.15 s on one while another process keeps one core busy. So
while fitting or predicting, BLAS runs on one thread when the largest
product of a call is below ``MIN_PRODUCT_FOR_THREADS`` multiply-adds, and is
left alone above it, where a second thread pays on a quiet machine (1.4x on
two layers of 256 units). On a busy machine a second thread costs even
there (2.5-4x in the same measurements): limit the threads yourself, for
example with ``threadpoolctl.threadpool_limits(1)``, when you know the
machine is shared.

The rule only ever lowers the thread count, for the duration of the call:
limits set by the user (``threadpoolctl``, ``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``) or by joblib's workers are kept, and the caller's
setting is back when the call returns, raises or is interrupted. Set the
environment variable ``SKBACKPROP_BLAS_THREADS=keep`` to leave BLAS threads
alone entirely.
"""

import contextlib
import os
import threading
from itertools import pairwise

# m * n * k of one product. OpenBLAS itself keeps products up to 65536 * 4 on
# one thread; between that and this, it would split them for nothing.
OPENBLAS_SINGLE_THREAD_PRODUCT = 65536 * 4
MIN_PRODUCT_FOR_THREADS = 2**22

_controller = None
_controller_lock = threading.Lock()


def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries, made once (it takes milliseconds)."""
    global _controller
    with _controller_lock:
        if _controller is None:
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController().select(user_api="blas")
        return _controller


def largest_product(n_rows, layer_sizes):
    """Multiply-adds of the largest product a forward or backward pass over ``n_rows`` makes."""
    return n_rows * max(fan_in * fan_out for fan_in, fan_out in pairwise(layer_sizes))


def blas_threads_for(product):
    """A context in which BLAS uses the threads a product of this size deserves.

    One thread below ``MIN_PRODUCT_FOR_THREADS`` (where BLAS would use more),
    the caller's setting otherwise.
    """
    if os.environ.get("SKBACKPROP_BLAS_THREADS", "auto") == "keep":
        return contextlib.nullcontext()
    if product <= OPENBLAS_SINGLE_THREAD_PRODUCT or product >= MIN_PRODUCT_FOR_THREADS:
        return contextlib.nullcontext()
    controller = _blas_controller()
    if all(library.num_threads <= 1 for library in controller.lib_controllers):
        return contextlib.nullcontext()
    return controller.limit(limits=1)
