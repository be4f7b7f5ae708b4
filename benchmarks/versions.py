"""skbackprop against another checkout of itself, back to back: did a change cost speed?

    python benchmarks/versions.py /path/to/other/checkout [--rounds 7]

Runs each workload in a fresh process, alternating this checkout and the other
one, ``--rounds`` times, and prints each one's median time and the ratio of the
medians (this / other; below 1 is faster). Alternating in the same minutes is
what makes a few percent measurable on a shared machine. BLAS runs on one
thread, so the thread rule's choices do not enter the comparison.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

# Each workload: setup code, then the statement timed (best of `number` runs per process).
WORKLOADS = {
    "one-row predict": (
        "m = BackpropClassifier((100,), max_iter=5, random_state=0).fit(X, y); row = X[:1]",
        "m.predict(row)",
        2000,
    ),
    "one-row predict_proba, tiny": (
        "m = BackpropClassifier((8,), max_iter=5, random_state=0).fit(X[:, :8], y); "
        "row = X[:1, :8]",
        "m.predict_proba(row)",
        2000,
    ),
    "tiny network epoch": (
        "m = BackpropClassifier((8,), max_iter=1, batch_size=16, random_state=0)",
        "m.fit(X[:400, :8], y[:400])",
        20,
    ),
    "batches of 32, 5 epochs": (
        "m = BackpropClassifier((64,), batch_size=32, max_iter=5, random_state=0)",
        "m.fit(X, y)",
        5,
    ),
    "digits 20 epochs": (
        "m = BackpropClassifier((100,), max_iter=20, random_state=0)",
        "m.fit(X, y)",
        3,
    ),
    "deep bn residual dropout 5 epochs": (
        "m = BackpropClassifier((64,) * 4, batch_normalization=True, residual=True, "
        "dropout=0.1, max_iter=5, random_state=0)",
        "m.fit(X, y)",
        3,
    ),
    "partial_fit 100 rows": (
        "m = BackpropClassifier((100,), random_state=0); "
        "m.partial_fit(X[:100], y[:100], classes=np.arange(10))",
        "m.partial_fit(X[100:200], y[100:200])",
        200,
    ),
    "predict 100k rows": (
        "m = BackpropClassifier((100,), max_iter=5, random_state=0).fit(X, y); "
        "big = np.tile(X, (56, 1))",
        "m.predict(big)",
        3,
    ),
    "input gradients 1000 rows": (
        "from skbackprop.inspection import integrated_gradients; "
        "m = BackpropClassifier((100,), activation='tanh', max_iter=5, random_state=0).fit(X, y)",
        "integrated_gradients(m, X[:1000], n_steps=50)",
        3,
    ),
}

RUNNER = """
import json, sys, time, warnings
import numpy as np
from threadpoolctl import threadpool_limits
from sklearn.datasets import load_digits
from skbackprop import BackpropClassifier
warnings.simplefilter("ignore")
X, y = load_digits(return_X_y=True)
X = X / 16.0
setup, statement, number = json.loads(sys.argv[1])
with threadpool_limits(1):
    exec(setup)
    code = compile(statement, "<timed>", "exec")
    exec(code)  # warm
    times = []
    for _ in range(number):
        start = time.perf_counter()
        exec(code)
        times.append(time.perf_counter() - start)
print(json.dumps(min(times)))
"""


def _time(checkout, workload):
    env = {**os.environ, "PYTHONPATH": str(checkout), "SKBACKPROP_BLAS_THREADS": "size"}
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, json.dumps(workload)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other checkout's root directory")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    args = parser.parse_args()
    print(f"{'workload':36} {'this (s)':>11} {'other (s)':>11} {'this/other':>10}")
    for name in args.workloads:
        mine, theirs = [], []
        for _ in range(args.rounds):
            mine.append(_time(HERE, WORKLOADS[name]))
            theirs.append(_time(args.other.resolve(), WORKLOADS[name]))
        a, b = statistics.median(mine), statistics.median(theirs)
        print(f"{name:36} {a:11.6f} {b:11.6f} {a / b:10.3f}", flush=True)


if __name__ == "__main__":
    main()
