"""Collection rules for the whole suite: tests/ and the docstring examples in skbackprop/."""

import importlib.util
import os
import signal
import threading

import pytest

# scikit-learn's check_array_api_input (run through parametrize_with_checks) needs
# scipy's array-API mode, which must be switched on before scipy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

# Plots render off screen (the docstring examples draw figures too).
os.environ.setdefault("MPLBACKEND", "Agg")

# Docstring examples of optional parts run only where their extra is installed.
collect_ignore = []
if importlib.util.find_spec("matplotlib") is None:
    collect_ignore += ["skbackprop/_plot.py", "skbackprop/_inspection_plot.py"]


@pytest.fixture(autouse=True)
def _sigint_delivered():
    """Ctrl-C as an interactive session has it, however the suite was started.

    A shell starts background jobs (``nohup pytest &``) with SIGINT ignored,
    and Python keeps it ignored; the Ctrl-C tests send SIGINT to this process
    and expect KeyboardInterrupt, as a user at a terminal gets. Put Python's
    handler back for each test and restore what was there after it.
    """
    found = signal.getsignal(signal.SIGINT)
    if found is not signal.SIG_IGN or threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, found)
