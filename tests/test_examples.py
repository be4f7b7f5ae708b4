"""Every script in examples/ runs to completion (they are documentation that must not rot)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import missing_modules

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda path: path.name)
def test_example_runs(script, tmp_path):
    missing = missing_modules(script.read_text())
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (an optional extra)")
    environment = {**os.environ, "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip()
