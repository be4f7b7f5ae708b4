"""Every Python code block of README.md and the docs' pages runs as written."""

import re
import warnings
from pathlib import Path

import pytest
from helpers import missing_modules
from sklearn.exceptions import ConvergenceWarning

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks(path):
    text = path.read_text()
    if path.suffix == ".md":
        return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    # reStructuredText: an indented block after ".. code-block:: python".
    blocks = re.findall(r"^\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text, flags=re.M)
    return [re.sub(r"^    ", "", block, flags=re.M) for block in blocks]


BLOCKS = [
    pytest.param(path, index, code, id=f"{path.name}-{index}")
    for path in (
        ROOT / "README.md",
        ROOT / "doc" / "getting_started.rst",
        ROOT / "doc" / "user_guide.md",
        ROOT / "doc" / "coming_from_mlp.md",
        ROOT / "doc" / "adding_a_layer.md",
    )
    for index, code in enumerate(_python_blocks(path))
]


def test_the_readme_has_python_blocks_to_run():
    names = {param.values[0].name for param in BLOCKS}
    assert names == {"README.md", "getting_started.rst", "user_guide.md", "adding_a_layer.md"}
    assert sum(param.values[0].name == "README.md" for param in BLOCKS) >= 2


@pytest.mark.parametrize("path, index, code", BLOCKS)
def test_code_block_runs_as_written(path, index, code, tmp_path, monkeypatch, capsys):
    missing = missing_modules(code)
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (an optional extra)")
    # Each block on its own, in an empty folder, as a reader pasting it would run it.
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        exec(compile(code, f"{path.name} block {index}", "exec"), {"__name__": "__main__"})


def test_the_porting_page_names_every_option_the_estimators_have():
    """coming_from_mlp.md keeps up with the code: every parameter, and every name a string
    parameter takes (activations, solvers, losses, schedules)."""
    from skbackprop import BackpropClassifier, BackpropRegressor
    from skbackprop._activations import HIDDEN_ACTIVATIONS
    from skbackprop._solvers import SOLVERS

    page = (ROOT / "doc" / "coming_from_mlp.md").read_text()
    parameters = set(BackpropClassifier().get_params()) | set(BackpropRegressor().get_params())
    missing = sorted(name for name in parameters if f"`{name}" not in page)
    assert not missing, f"parameters the porting page does not name: {missing}"
    names = [*HIDDEN_ACTIVATIONS, *SOLVERS, "lbfgs", "cosine", "invscaling", "adaptive"]
    names += BackpropRegressor._parameter_constraints["loss"][0].options
    missing = sorted(name for name in names if f'"{name}"' not in page)
    assert not missing, f"names the porting page does not list: {missing}"
    assert "TypeError" in page and "X_val" in page


def test_the_docs_index_names_what_0_3_added():
    summary = (ROOT / "doc" / "index.rst").read_text().lower()
    features = ("adamw", "cosine", "warm-up", "quantile", "huber", "inspection", "validation set")
    for feature in features:
        assert feature in summary, feature


# What sphinx-gallery 0.17-0.20 writes into sg_execution_times.rst (shortened); CI also
# checks the built pages for remote scripts.
EXECUTION_TIMES_PAGE = """
.. _sphx_glr_auto_examples_sg_execution_times:

Computation times
=================
**00:01.500** total execution time for 1 file **from auto_examples**:

.. container::

  .. raw:: html

    <style scoped>
    <link href="https://cdn.datatables.net/1.13.6/css/dataTables.bootstrap5.min.css" />
    </style>
    <script src="https://code.jquery.com/jquery-3.7.0.js"></script>
    <script type="text/javascript" class="init">
    $(document).ready( function () {
        $('table.sg-datatable').DataTable({order: [[1, 'desc']]});
    } );
    </script>

  .. list-table::
   :header-rows: 1
   :class: table table-striped sg-datatable

   * - Example
     - Time
     - Mem (MB)
   * - :ref:`sphx_glr_auto_examples_plot_a.py` (``plot_a.py``)
     - 00:01.500
     - 10.0
"""


def test_the_execution_times_pages_load_nothing_from_the_network():
    """doc/conf.py strips sphinx-gallery's CDN scripts from its execution-times pages."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("doc_conf", ROOT / "doc" / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    source = [EXECUTION_TIMES_PAGE]
    conf.offline_execution_times(None, "auto_examples/index", source)
    assert source == [EXECUTION_TIMES_PAGE]  # other pages are left alone
    conf.offline_execution_times(None, "auto_examples/sg_execution_times", source)
    assert "https://" not in source[0] and "<script" not in source[0]
    table = EXECUTION_TIMES_PAGE[EXECUTION_TIMES_PAGE.index("  .. list-table::") :]
    assert source[0].endswith(table)
