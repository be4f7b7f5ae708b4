"""Helpers shared by the test modules (imported as ``helpers``: tests/ is on sys.path)."""

import ast
import importlib.util
import signal
import tracemalloc
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import ThreadpoolController

from skbackprop._threads import _BlasLibrary


def quiet_fit(model, *args, **kwargs):
    """``model.fit`` without the ConvergenceWarning of deliberately short fits."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kwargs)


def peak_allocation(function):
    """The most memory (bytes) that Python and numpy held at once while ``function()`` ran."""
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def missing_modules(code):
    """The modules that ``code`` imports and this environment lacks (``sklearn.callback``
    on a scikit-learn older than 1.9, say, or a whole optional extra)."""
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
    return sorted(name for name in names if not _importable(name))


def _importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def assert_same_weights(a, b):
    """Two fitted estimators hold the same ``coefs_`` and ``intercepts_``, bit for bit."""
    for mine, theirs in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        np.testing.assert_array_equal(mine, theirs)


def ctrl_c_after(owner, method, condition):
    """``owner.method`` wrapped to send SIGINT to this process after each call where
    ``condition(number of calls so far)`` holds: patch it in with monkeypatch or mock."""
    original, calls = getattr(owner, method), {"count": 0}

    def wrapped(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        calls["count"] += 1
        if condition(calls["count"]):
            signal.raise_signal(signal.SIGINT)
        return result

    return wrapped


def dense_network(
    layer_sizes,
    activation,
    output_activation,
    dtype,
    dropout=None,
    batch_normalization=False,
    residual=False,
    momentum=0.9,
):
    """A dense :class:`~skbackprop._network.Network` of ``layer_sizes`` units, input and output
    included (``activation``: one name, or one per hidden layer)."""
    from skbackprop._layers import dense_stack
    from skbackprop._network import Network

    layers = dense_stack(
        layer_sizes,
        activation,
        output_activation,
        dropout,
        batch_normalization=batch_normalization,
        residual=residual,
        momentum=momentum,
    )
    return Network(layers, dtype, description={"activation": activation})


def fitted(network, attribute):
    """``network``'s arrays of a fitted attribute (``"gammas_"`` ...), one per layer."""
    return network.fitted_arrays()[attribute]


def numeric_gradient(f, array, step=1e-6):
    """Central differences of ``f()`` with respect to each entry of ``array``, changed in place."""
    gradient = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + step
        up = f()
        array[index] = saved - step
        down = f()
        array[index] = saved
        gradient[index] = (up - down) / (2 * step)
    return gradient


def set_blas_threads(count):
    """Set every loaded BLAS library's thread count; returns a callable that restores them.

    Through skbackprop's own OpenBLAS calls, not ``threadpool_limits``: while a
    ``with threadpool_limits`` is open, threadpoolctl ignores OpenBLAS limits set from
    any other thread, and test_threads sets a user's limit from one.
    """
    libraries = [
        _BlasLibrary(library)
        for library in ThreadpoolController().select(user_api="blas").lib_controllers
    ]
    found = [(library, library.get_num_threads()) for library in libraries]
    for library in libraries:
        library.set_num_threads(count)

    def restore():
        for library, value in found:
            library.set_num_threads(value)

    return restore
