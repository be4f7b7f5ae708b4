"""Every script in examples/ runs to completion (they are documentation that must not rot)."""

from pathlib import Path

import pytest
from helpers import missing_modules
from warm_python import run_script

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda path: path.name)
def test_example_runs(script, tmp_path):
    missing = missing_modules(script.read_text())
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (an optional extra)")
    code, stdout, stderr = run_script(script, cwd=tmp_path, timeout=120)
    assert code == 0, stderr[-2000:] or f"exit code {code}"
    assert stdout.strip()
    if script.name in CLAIMS:
        CLAIMS[script.name](stdout)


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


def _quantile_intervals_cover_what_they_claim(stdout):
    values = {}
    for line in stdout.splitlines():
        if line.startswith("level "):
            level, _, rest = line.removeprefix("level ").partition(":")
            values[float(level)] = float(rest.split()[0])
        elif line.startswith("held-out coverage"):
            values["coverage"] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("mean interval width where x < 2"):
            values["narrow"] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("mean interval width where x > 8"):
            values["wide"] = float(line.rsplit(" ", 1)[1])
    for level in (0.05, 0.5, 0.95):
        assert abs(values[level] - level) <= 0.03, (level, values[level])
    assert abs(values["coverage"] - 0.9) <= 0.03
    assert values["wide"] > 3 * values["narrow"]  # the band widens with the noise


def _last_number(stdout, start):
    line = next(line for line in stdout.splitlines() if line.startswith(start))
    return float(line.rsplit(" ", 1)[1].rstrip("%"))


def _mc_dropout_widens_in_the_gap(stdout):
    assert _last_number(stdout, "ratio") >= 2  # the target


def _attributions_are_complete_and_agree_with_permutation(stdout):
    gap_line = next(line for line in stdout.splitlines() if "completeness gap" in line)
    assert float(gap_line.split("gap ")[1].split("%")[0]) < 1.0
    assert _last_number(stdout, "rank correlation of the pixels") > 0.5


def _is_number(word):
    try:
        float(word)
    except ValueError:
        return False
    return True


def _table(stdout, n_keys=None):
    """``{row's name: its first number}`` of a table below a header line.

    A row is named by its first ``n_keys`` words, or (None) all words before its
    first number.
    """
    rows = {}
    for line in stdout.splitlines()[1:]:
        words = line.split()
        n = n_keys if n_keys is not None else next(i for i, w in enumerate(words) if _is_number(w))
        rows[tuple(words[:n])] = float(words[n])
    return rows


def _convolutions_beat_the_flattened_mlp(stdout):
    accuracy = {row[:2]: value for row, value in _table(stdout).items()}  # (set, model)
    # The targets for the defaults (GunPoint 0.97 over 3 seeds; one seed here).
    assert accuracy["GunPoint", "sequence"] >= 0.96
    assert accuracy["BasicMotions", "sequence"] >= 0.95
    for name in ("GunPoint", "BasicMotions"):
        assert accuracy[name, "sequence"] > accuracy[name, "MLP"]


def _truncation_costs_what_the_text_says(stdout):
    r2 = _table(stdout, 2)
    assert r2["gru", "None"] >= 0.9  # full BPTT learns the sum
    assert r2["gru", "None"] > r2["gru", "10"] > r2["gru", "5"] > r2["gru", "1"]
    assert r2["gru", "5"] < 0.8 and r2["gru", "1"] < 0.5  # the first marker is out of reach
    assert r2["elman", "None"] < 0.2  # the gradient vanishes through tanh


# What an example's printed numbers must show, where its text makes a claim about them.
CLAIMS = {
    "plot_classifying_time_series.py": _convolutions_beat_the_flattened_mlp,
    "plot_truncated_bptt.py": _truncation_costs_what_the_text_says,
    "plot_uncertainty.py": _mc_dropout_widens_in_the_gap,
    "plot_why_this_prediction.py": _attributions_are_complete_and_agree_with_permutation,
    "plot_deep_networks.py": _deep_networks_learn_as_stated,
    "plot_quantile_intervals.py": _quantile_intervals_cover_what_they_claim,
}


@pytest.mark.parametrize("warm", [True, False], ids=["fork server", "new interpreter"])
@pytest.mark.parametrize(
    "body, expected_code, expected_stderr",
    [
        ("", 0, ""),
        ("raise ValueError('boom')", 1, "ValueError: boom"),
        ("sys.exit(3)", 3, ""),
        ("sys.exit('a message')", 1, "a message"),
    ],
)
def test_the_runner_reports_what_python_would(tmp_path, body, expected_code, expected_stderr, warm):
    script = tmp_path / "script.py"
    lines = ["import os, sys", "print(__name__, os.getcwd())"]
    lines += ["print('to stderr', file=sys.stderr)", body]
    script.write_text("\n".join(lines) + "\n")
    folder = tmp_path / "cwd"
    folder.mkdir()
    code, stdout, stderr = run_script(script, cwd=folder, timeout=60, warm=warm)
    assert code == expected_code
    assert stdout == f"__main__ {folder}\n"
    assert stderr.startswith("to stderr\n") and expected_stderr in stderr


@pytest.mark.parametrize("warm", [True, False], ids=["fork server", "new interpreter"])
def test_the_runner_kills_a_script_that_runs_too_long(tmp_path, warm):
    script = tmp_path / "script.py"
    script.write_text("import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    code, stdout, _ = run_script(script, cwd=tmp_path, timeout=1, warm=warm)
    assert code is None and stdout == "started\n"
