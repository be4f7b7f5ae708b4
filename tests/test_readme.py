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
    )
    for index, code in enumerate(_python_blocks(path))
]


def test_the_readme_has_python_blocks_to_run():
    names = {param.values[0].name for param in BLOCKS}
    assert names == {"README.md", "getting_started.rst", "user_guide.md"}
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
