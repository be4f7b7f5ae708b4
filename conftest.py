"""Collection rules for the whole suite: tests/ and the docstring examples in skbackprop/."""

import importlib.util
import os

# scikit-learn's check_array_api_input (run through parametrize_with_checks) needs
# scipy's array-API mode, which must be switched on before scipy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

# Plots render off screen (the docstring examples draw figures too).
os.environ.setdefault("MPLBACKEND", "Agg")

# Docstring examples of optional parts run only where their extra is installed.
collect_ignore = []
if importlib.util.find_spec("matplotlib") is None:
    collect_ignore += ["skbackprop/_plot.py", "skbackprop/_inspection_plot.py"]
