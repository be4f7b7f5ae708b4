"""Helpers shared by the test modules (imported as ``helpers``: tests/ is on sys.path)."""

import ast
import importlib.util
import warnings

from sklearn.exceptions import ConvergenceWarning


def quiet_fit(model, *args, **kwargs):
    """``model.fit`` without the ConvergenceWarning of deliberately short fits."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kwargs)


def missing_modules(code):
    """The top-level modules that ``code`` imports and this environment lacks."""
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return sorted(name for name in names if importlib.util.find_spec(name) is None)
