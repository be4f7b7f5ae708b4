"""The package's shape: imports run one way, and every class and function reads in one sitting.

Imports run core <- model <- estimators <- add-ons, and nothing imports in a
circle. Every import of a skbackprop module is read from the source (function-level
ones too, which a lazy import would hide from Python itself), so a circle or
an import from a lower layer up fails here, not in a user's process.
"""

import ast
from pathlib import Path

import pytest

import skbackprop

PACKAGE = Path(skbackprop.__file__).parent

# Each module's layer: it may import its own layer's modules and those below.
LAYERS = {
    "core": {
        "_activations",
        "_initializers",
        "_lbfgs",
        "_layers",
        "_layers._base",
        "_layers.dense",
        "_layers.normalized",
        "_layers.recurrent",
        "_layers.sequence",
        "_losses",
        "_network",
        "_normalization",
        "_series",
        "_solvers",
        "_threads",
        "_training",
        "_warnings",
    },
    "model": {"_fit_plan", "_model"},
    "estimators": {"_callbacks", "_docs", "_early_stopping", "_estimators", "_sequence_estimators"},
    "add-ons": {"_attribution", "_inspection_plot", "_plot", "inspection", "onnx"},
    "package": {"__init__"},
}
RANK = {module: rank for rank, modules in enumerate(LAYERS.values()) for module in modules}
# What the core must not know: the estimator API it is wrapped in.
CORE_FORBIDDEN = ("sklearn",)


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = (
            ".".join(parts[:-1]) if parts[-1] == "__init__" and len(parts) > 1 else ".".join(parts)
        )
        yield name, path


def _imports(name, source, is_package=False):
    """``(skbackprop modules, other top-level packages)`` that module ``name``'s source imports."""
    package = name.split(".") if is_package else name.split(".")[:-1]
    if name == "__init__":
        package = []
    ours, others = set(), set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = package[: len(package) - (node.level - 1)]
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            if node.module is None:  # from . import _warnings
                ours.update(".".join([*base, alias.name]) for alias in node.names)
            else:
                ours.add(target)
        elif isinstance(node, ast.ImportFrom) and node.module.startswith("skbackprop"):
            ours.add(node.module.removeprefix("skbackprop").lstrip(".") or "__init__")
        elif isinstance(node, ast.ImportFrom):
            others.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            others.update(alias.name.split(".")[0] for alias in node.names)
    return {module or "__init__" for module in ours}, others


GRAPH = {
    name: _imports(name, path.read_text(), path.name == "__init__.py") for name, path in _modules()
}


def test_every_module_has_a_layer():
    assert set(GRAPH) == set(RANK), "add the new module to a layer of LAYERS"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_run_from_higher_layers_to_lower_ones(module):
    upward = [target for target in GRAPH[module][0] if RANK.get(target, -1) > RANK[module]]
    assert not upward, f"{module} ({_layer(module)}) imports {upward} from a higher layer"


def _layer(module):
    return next(layer for layer, modules in LAYERS.items() if module in modules)


def test_no_module_imports_in_a_circle():
    def visit(module, path):
        for target in sorted(GRAPH[module][0]):
            if target in path:
                cycle = path[path.index(target) :] + [target]
                raise AssertionError(f"import circle: {' -> '.join(cycle)}")
            visit(target, [*path, target])

    for module in GRAPH:
        visit(module, [module])


@pytest.mark.parametrize("module", sorted(LAYERS["core"]))
def test_the_core_knows_nothing_of_scikit_learn(module):
    assert not set(GRAPH[module][1]) & set(CORE_FORBIDDEN)


def test_the_walk_sees_lazy_and_relative_imports():
    # 0.3's circle: the estimators reached inspection from inside a method.
    source = "from . import _warnings\ndef f():\n    from .inspection import draws\n"
    ours, _ = _imports("_estimators", source)
    assert ours == {"_warnings", "inspection"}
    ours, others = _imports("_layers.dense", "from .._network import x\nimport scipy.special\n")
    assert ours == {"_network"} and others == {"scipy"}
    assert "matplotlib" in GRAPH["_plot"][1]  # imported inside a function


# The estimators' __init__ only lists their parameters.
LONG_BY_DESIGN = {("_estimators", "__init__"), ("_sequence_estimators", "__init__")}
MAX_CLASS_LINES, MAX_FUNCTION_LINES = 450, 60


def _code_lines(node):
    """Lines of a class or function, its docstring left out (documentation is not length)."""
    lines = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        if isinstance(first.value.value, str):
            lines -= first.end_lineno - first.lineno + 1
    return lines


def _too_long(module, source):
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            limit = MAX_CLASS_LINES
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            limit = MAX_FUNCTION_LINES
        else:
            continue
        if (module, node.name) not in LONG_BY_DESIGN and _code_lines(node) > limit:
            yield f"{module}.{node.name}: {_code_lines(node)} lines (at most {limit})"


def test_no_class_over_450_lines_and_no_function_over_60():
    too_long = [line for name, path in _modules() for line in _too_long(name, path.read_text())]
    assert not too_long


def test_the_length_check_counts_code_not_docstrings():
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    assert list(_too_long("m", f"def f():\n{body}\n"))
    docstring = '    """' + "\n" * 80 + '    """\n'
    assert not list(_too_long("m", f"def f():\n{docstring}    return 1\n"))
