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
    if script.name in CLAIMS:
        CLAIMS[script.name](result.stdout)


def _deep_networks_learn_as_stated(stdout):
    # "  <network>   <test accuracy>" lines: the example's text says what these show.
    accuracy = {}
    for line in stdout.splitlines():
        name, _, value = line.strip().rpartition(" ")
        if name and value.replace(".", "", 1).isdigit():
            accuracy[name.strip()] = float(value)
    assert accuracy["logistic, Glorot"] < 0.2  # chance is 0.1: vanishing gradients
    assert accuracy["logistic, Glorot, batch norm"] >= 0.95
    assert accuracy["ReLU, He, batch norm, residual"] >= 0.9
    assert accuracy["ReLU, He, residual"] < accuracy["ReLU, He, batch norm, residual"]


# What an example's printed numbers must show, where its text makes a claim about them.
CLAIMS = {"plot_deep_networks.py": _deep_networks_learn_as_stated}
