"""Run a script as ``python script.py`` would, without paying for its imports each time.

A fresh interpreter per example spent about 2 s of every run importing numpy,
scipy, scikit-learn, matplotlib and skbackprop. Here a multiprocessing fork
server imports them once (per pytest process) and each script runs in a new
child forked from it, so a script still gets a process of its own: nothing it
does reaches the test process or the next script. The examples' tests went
from 79 s to 56 s on two xdist workers. The server is a new interpreter, not a
fork of the test process, whose other threads (xdist's) a fork would not copy.
Where there is no fork server (Windows), a script runs in a new interpreter.
"""

import atexit
import multiprocessing
import os
import runpy
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path

# What every example imports; anything else a script imports itself, as it would.
PRELOAD = [
    "numpy",
    "scipy.special",
    "sklearn.datasets",
    "sklearn.model_selection",
    "sklearn.neural_network",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "matplotlib.pyplot",
    "skbackprop",
    "skbackprop.inspection",
]

_context = None


def _server():
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def _run(script, cwd, stdout_path, stderr_path):
    """In the child: stdout and stderr to files, the script as ``__main__``, then exit as
    the interpreter does."""
    for fd, path in ((1, stdout_path), (2, stderr_path)):
        file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(file, fd)
        os.close(file)
    os.chdir(cwd)
    # No display: what MPLBACKEND=Agg gives ``python script.py``, here after the import.
    os.environ["MPLBACKEND"] = "Agg"
    if "matplotlib" in sys.modules:
        sys.modules["matplotlib"].use("Agg")
    sys.argv = [script]
    sys.path.insert(0, str(Path(script).parent))  # as python puts the script's folder first
    code = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exit:
        code = _exit_code(exit)
    except BaseException:
        traceback.print_exc()
        code = 1
    # A multiprocessing child skips the interpreter's shutdown, where libraries stop
    # what they started (joblib's worker processes, which the child would otherwise
    # wait for forever): the same two steps, in the interpreter's order.
    threading._shutdown()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _exit_code(exit):
    if exit.code is None or isinstance(exit.code, int):
        return exit.code or 0
    print(exit.code, file=sys.stderr)
    return 1


def run_script(script, cwd, timeout, warm=None):
    """Run ``script`` in ``cwd``; return ``(exit code, stdout, stderr)``.

    A script that raises exits with 1 and its traceback on stderr, as under
    ``python``. One that runs longer than ``timeout`` seconds is killed and
    reported as exit code None. ``warm`` (default: where the platform has a
    fork server, not on Windows) runs it in a child of the fork server; else
    in a new interpreter.
    """
    if warm is None:
        warm = "forkserver" in multiprocessing.get_all_start_methods()
    if not warm:
        return _run_cold(script, cwd, timeout)
    with tempfile.TemporaryDirectory() as folder:
        stdout_path, stderr_path = Path(folder, "stdout"), Path(folder, "stderr")
        child = _server().Process(
            target=_run, args=(str(script), str(cwd), str(stdout_path), str(stderr_path))
        )
        child.start()
        child.join(timeout)
        code = child.exitcode
        if code is None:
            child.kill()
            child.join()
        read = lambda path: path.read_text() if path.exists() else ""  # noqa: E731
        return code, read(stdout_path), read(stderr_path)


def _run_cold(script, cwd, timeout):
    environment = {**os.environ, "MPLBACKEND": "Agg"}
    command = [sys.executable, str(script)]
    with subprocess.Popen(
        command, cwd=cwd, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as child:
        try:
            stdout, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            stdout, stderr = child.communicate()
            return None, stdout, stderr
        return child.returncode, stdout, stderr
