"""The benchmark script the README documents still runs, on data small enough for a test.

Speed itself is never asserted here (shared machines are noisy): this checks
that the table and the JSON come out, with a ratio per workload.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "run.py"


@pytest.fixture
def benchmark(monkeypatch):
    spec = importlib.util.spec_from_file_location("benchmark_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def small_wide_data(dtype):
        X, y = make_classification(
            n_samples=600, n_features=100, n_classes=10, n_informative=20, random_state=0
        )
        return X.astype(dtype), y

    real_peak = module.matmul_peak
    monkeypatch.setattr(module, "wide_data", small_wide_data)
    monkeypatch.setattr(module, "matmul_peak", lambda dtype: real_peak(dtype, size=128, repeats=2))
    monkeypatch.setattr(module, "HAVE_TORCH", False)
    return module


def _fewer_calls(workload):
    return lambda repeats: workload(repeats, calls=5)


def test_the_scenarios_users_meet_print_their_rows(benchmark, monkeypatch, tmp_path, capsys):
    # Few epochs and fits: this checks the rows come out, not the speed.
    monkeypatch.setitem(
        benchmark.WORKLOADS, "busy", lambda r: [benchmark.busy_neighbour_workload(r, epochs=2)]
    )
    monkeypatch.setitem(
        benchmark.WORKLOADS, "search", lambda r: [benchmark.parallel_search_workload(r, epochs=2)]
    )
    monkeypatch.setitem(
        benchmark.WORKLOADS,
        "small-fits",
        lambda r: [benchmark.small_fits_workload(r, n_fits=2, epochs=2)],
    )
    out = tmp_path / "results.json"
    workloads = ["busy", "search", "small-fits"]
    monkeypatch.setattr(
        "sys.argv", ["run.py", "--repeats", "1", "--workloads", *workloads, "--json", str(out)]
    )
    benchmark.main()
    printed = capsys.readouterr().out
    for name in ["busy neighbour, digits", "parallel search", "small fits"]:
        line = next(line for line in printed.splitlines() if line.startswith(name))
        assert "ratio<=" in line
    assert "under load x" in printed
    rows = {row["workload"]: row for row in json.loads(out.read_text())["results"]}
    busy = rows["busy neighbour, digits"]
    assert busy["load_slowdown"] == pytest.approx(busy["ours_seconds"] / busy["ours_quiet_seconds"])


def test_benchmark_prints_the_table_and_writes_json(benchmark, monkeypatch, tmp_path, capsys):
    out = tmp_path / "results.json"
    workloads = ["wide", "small-batch", "diagnostics", "latency", "solvers", "activations"]
    workloads += ["losses", "inspection", "layers", "streaming"]
    monkeypatch.setattr(benchmark, "latency_workload", _fewer_calls(benchmark.latency_workload))
    monkeypatch.setitem(benchmark.WORKLOADS, "latency", benchmark.latency_workload)
    monkeypatch.setitem(
        benchmark.WORKLOADS, "streaming", lambda r: benchmark.streaming_workload(r, rounds=1)
    )
    monkeypatch.setitem(
        benchmark.WORKLOADS, "layers", lambda r: benchmark.layers_workload(r, n_predict=2000)
    )
    monkeypatch.setitem(
        benchmark.WORKLOADS,
        "inspection",
        lambda r: benchmark.inspection_workload(r, n_rows=200, shap_rows=1),
    )
    monkeypatch.setattr(
        "sys.argv", ["run.py", "--repeats", "2", "--workloads", *workloads, "--json", str(out)]
    )
    benchmark.main()
    printed = capsys.readouterr().out
    names = ["wide float32", "wide float64", "wide float64 as float32", "small-batch float32"]
    for name in [*names, "small-batch float64"]:
        line = next(line for line in printed.splitlines() if line.startswith(name))
        assert "pairs" in line and ("met" in line or "MISSED" in line)
    assert "gradient norms, wide" in printed
    for name in ["rmsprop vs adam", "adagrad vs adam"]:
        assert "ratio<=1.1" in next(line for line in printed.splitlines() if line.startswith(name))
    for name in ["elu vs relu", "gelu vs relu", "silu vs relu", "softplus vs relu", "huber vs"]:
        assert "ratio<=1.15" in next(line for line in printed.splitlines() if line.startswith(name))
    for name in ["batch_normalization vs plain", "residual vs plain"]:
        line = next(line for line in printed.splitlines() if line.startswith(name))
        assert "per epoch" in line and "predict ratio" in line and "<=30%" in line
    assert "for 200 rows at 50 steps" in printed
    for name in ["predict_proba 1 row", "predict_proba 100 rows", "partial_fit 100 rows"]:
        line = next(line for line in printed.splitlines() if line.startswith(name))
        assert "us per call" in line and ("met" in line or "MISSED" in line)
    assert "ratio<=0.7" in next(line for line in printed.splitlines() if "partial_fit" in line)

    results = json.loads(out.read_text())
    assert set(results["peak_gflops"]) == {"float32", "float64"}
    timed = [row for row in results["results"] if "ratio" in row and "latency" not in row]
    assert {row["workload"] for row in results["results"]} >= {"rmsprop vs adam", "adagrad vs adam"}
    assert len(timed) == 5
    for row in timed:
        assert len(row["ours_times"]) == len(row["sklearn_times"]) == 2
        expected = np.median(np.divide(row["ours_times"], row["sklearn_times"]))
        assert row["ratio"] == pytest.approx(expected)
        assert 0 < row["efficiency"] and 0 <= row["ours_score"] <= 1


def test_the_sequence_workload_prints_epoch_and_accuracy_rows(benchmark, monkeypatch, capsys):
    sequences = benchmark.sequences
    monkeypatch.setattr(sequences, "N_SERIES", 40)
    monkeypatch.setattr(sequences, "N_STEPS", 20)
    monkeypatch.setattr(sequences, "UCR_UEA", ("BasicMotions",))
    rows = benchmark.WORKLOADS["sequences"](1)
    for row in rows:
        benchmark.print_row(row)
    printed = capsys.readouterr().out
    for name in ["epoch, default conv", "epoch, GRU 64"]:
        lines = [line for line in printed.splitlines() if line.startswith(name)]
        assert len(lines) == 2 and all("ours" in line for line in lines)  # float32, float64
    # Without aeon (the minimum-versions run) the accuracy row says why it is missing.
    with_aeon = "UCR/UEA BasicMotions" in printed and "accuracy" in printed
    assert with_aeon or "skipped: needs aeon" in printed
