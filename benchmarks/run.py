"""Training and prediction speed of skbackprop against scikit-learn's MLP, in one process.

    python benchmarks/run.py                  # every workload, 3 repeats
    python benchmarks/run.py --repeats 5 --workloads wide small-batch

Both libraries get identical data, architecture, solver, batch size and a
fixed number of epochs (tol=0 and n_iter_no_change above max_iter, so
neither stops early). Runs alternate between the libraries; the ratio is the
median over repeats of each back-to-back pair's ratio, so drift on a shared
machine hits both sides of a pair alike, and the seconds are medians. GFLOP/s
counts 6 x weights x samples per epoch (forward 2, backward 4); efficiency
is against numpy's own float32/float64 matrix-multiply peak, measured here.
If PyTorch is installed, an equivalent hand-written training loop is timed
as a third column. Results also go to benchmarks/results/*.json. The
sequence estimators' workload (``--workloads sequences``, see sequences.py)
compares one epoch with PyTorch's and reports accuracy on UCR/UEA data sets.
"""

import argparse
import gc
import importlib.util
import json
import multiprocessing
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.datasets import load_digits, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

import skbackprop
from skbackprop import BackpropClassifier, BackpropRegressor

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sequences module beside this one
import sequences  # noqa: E402

# PyTorch, if installed, is timed in a child process: its OpenMP threads keep
# spinning after each call and would slow numpy's BLAS threads in this one.
HAVE_TORCH = importlib.util.find_spec("torch") is not None

RESULTS = Path(__file__).parent / "results"
# Ratio targets (ours / scikit-learn, lower is better) from the speed issue.
TARGETS = {
    "wide float32": 0.5,
    "wide float64": 0.7,
    "small-batch float32": 0.5,
    "small-batch float64": 0.5,
    "digits": 0.6,
    "predict_proba 1 row": 1.0,
    "predict_proba 100 rows": 1.0,
    "partial_fit 100 rows": 0.7,
    "wide float64 as float32": 0.35,
    "busy neighbour, digits": 0.3,
    "busy neighbour, mid": 0.35,
    "busy neighbour, mid float32": 0.35,
    "busy neighbour, wide": 0.35,
    "parallel search": 0.5,
    "small fits": 0.5,
    "lbfgs iris": 1.0,
    "lbfgs wine": 1.0,
    "lbfgs breast_cancer": 1.0,
}
# Ours under load against ours on a quiet machine (the busy-neighbour scenario).
TARGET_LOAD_SLOWDOWN = 1.5
TARGET_EFFICIENCY = {"wide float32": 0.55}


def matmul_peak(dtype, size=2048, repeats=15):
    """numpy's best matrix-multiply GFLOP/s on this machine for ``dtype``.

    The best of several runs, not the median: a peak is what the machine can
    reach, and noise only ever slows it down.
    """
    rng = np.random.default_rng(0)
    a = rng.random((size, size)).astype(dtype)
    b = rng.random((size, size)).astype(dtype)
    a @ b
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return 2 * size**3 / min(times) / 1e9


def n_weights(layer_sizes):
    return sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:], strict=True))


def fixed_epochs(epochs):
    return dict(max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1, random_state=0)


def timed_fit(model, X, y):
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        started = time.perf_counter()
        model.fit(X, y)
        return time.perf_counter() - started


def torch_fit(X, y, hidden, batch_size, epochs, classification, lr=1e-3, l2=1e-4):
    """A plain PyTorch loop equivalent to the estimators' adam training; returns seconds."""
    import torch

    dtype = torch.float32 if X.dtype == np.float32 else torch.float64
    torch.manual_seed(0)
    X_t = torch.from_numpy(X).to(dtype)
    if classification:
        y_t = torch.from_numpy(np.unique(y, return_inverse=True)[1])
        n_out = int(y_t.max()) + 1
        loss_fn = torch.nn.CrossEntropyLoss()
    else:
        y_t = torch.from_numpy(y.reshape(len(y), -1)).to(dtype)
        n_out = y_t.shape[1]
        loss_fn = torch.nn.MSELoss()
    sizes = [X.shape[1], *hidden, n_out]
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1]).to(dtype)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=l2 / len(X))
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(X_t))
        for start in range(0, len(X_t), batch_size):
            index = order[start : start + batch_size]
            optimizer.zero_grad()
            loss_fn(model(X_t[index]), y_t[index]).backward()
            optimizer.step()
    return time.perf_counter() - started


def torch_times(repeats, X, y, **kwargs):
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return [pool.apply(torch_fit, (X, y), kwargs) for _ in range(repeats)]


def compare(name, make_pair, X, y, epochs, layer_sizes, repeats, score=None, torch_args=None):
    """Alternate the two libraries ``repeats`` times; return a result row."""
    times = {"ours": [], "sklearn": []}
    models = {}
    for _ in range(repeats):
        for library, model in zip(("ours", "sklearn"), make_pair(), strict=True):
            times[library].append(timed_fit(model, X, y))
            models[library] = model
    row = {"workload": name, "dtype": X.dtype.name, "epochs": epochs}
    flops = 6 * n_weights(layer_sizes) * X.shape[0] * epochs
    for library in times:
        seconds = statistics.median(times[library])
        row[f"{library}_seconds"] = seconds
        row[f"{library}_times"] = times[library]
        row[f"{library}_gflops"] = flops / seconds / 1e9
    if HAVE_TORCH and torch_args is not None:
        row["torch_seconds"] = statistics.median(
            torch_times(repeats, X, y, epochs=epochs, **torch_args)
        )
        row["torch_gflops"] = flops / row["torch_seconds"] / 1e9
    row["ratio"] = median_pair_ratio(times)
    if score is not None:
        for library, model in models.items():
            row[f"{library}_score"] = score(model)
    return row


def pair_ratios(first, second):
    """first / second for each repeat, the two timed back to back."""
    return [a / b for a, b in zip(first, second, strict=True)]


def median_pair_ratio(times):
    """Median over repeats of ours / scikit-learn, pair by pair."""
    return statistics.median(pair_ratios(times["ours"], times["sklearn"]))


def digits_workload(repeats):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    common = dict(hidden_layer_sizes=(100,), batch_size=200, solver="adam", **fixed_epochs(100))
    return compare(
        "digits",
        lambda: (BackpropClassifier(**common), MLPClassifier(**common)),
        X_train,
        y_train,
        100,
        [64, 100, 10],
        repeats,
        score=lambda model: model.score(X_test, y_test),
        torch_args=dict(hidden=(100,), batch_size=200, classification=True),
    )


def wide_data(dtype):
    X, y = make_classification(
        n_samples=100_000, n_features=100, n_informative=50, n_classes=10, random_state=0
    )
    return StandardScaler().fit_transform(X).astype(dtype), y


def wide_workload(repeats, dtype, epochs=2):
    X, y = wide_data(dtype)
    common = dict(hidden_layer_sizes=(256, 256), batch_size=256, **fixed_epochs(epochs))
    row = compare(
        f"wide {np.dtype(dtype).name}",
        lambda: (BackpropClassifier(**common), MLPClassifier(**common)),
        X,
        y,
        epochs,
        [100, 256, 256, 10],
        repeats,
        score=lambda model: model.score(X[:20_000], y[:20_000]),
        torch_args=dict(hidden=(256, 256), batch_size=256, classification=True),
    )
    return row


def wide_as_float32_workload(repeats, epochs=2):
    """float64 input trained with dtype="float32", against scikit-learn on the same input."""
    X, y = wide_data(np.float64)
    common = dict(hidden_layer_sizes=(256, 256), batch_size=256, **fixed_epochs(epochs))
    row = compare(
        "wide float64 as float32",
        lambda: (BackpropClassifier(dtype="float32", **common), MLPClassifier(**common)),
        X,
        y,
        epochs,
        [100, 256, 256, 10],
        repeats,
        score=lambda model: model.score(X[:20_000], y[:20_000]),
    )
    row["dtype"] = "float32"  # the precision ours computes in, for the efficiency column
    return row


def busy_neighbour_workload(repeats, name="digits", epochs=50):
    """A fit quiet and while another process keeps one core busy (ours against scikit-learn's)."""
    X, y, common, layer_sizes = BUSY_SCENARIOS[name](epochs)
    quiet = [timed_fit(BackpropClassifier(**common), X, y) for _ in range(repeats)]
    # The neighbour: another Python process keeping one core busy.
    neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let it start spinning
        row = compare(
            f"busy neighbour, {name}",
            lambda: (BackpropClassifier(**common), MLPClassifier(**common)),
            X,
            y,
            epochs,
            layer_sizes,
            repeats,
        )
    finally:
        neighbour.kill()
        neighbour.wait()
    row["ours_quiet_seconds"] = statistics.median(quiet)
    row["load_slowdown"] = row["ours_seconds"] / row["ours_quiet_seconds"]
    return row


def _busy_digits(epochs):
    X, y = load_digits(return_X_y=True)
    common = dict(hidden_layer_sizes=(100,), batch_size=200, **fixed_epochs(epochs))
    return StandardScaler().fit_transform(X), y, common, [64, 100, 10]


def _busy_mid(epochs, dtype=np.float64):
    """MNIST-sized: 784-100-100-100-10 logistic, plain SGD, batches of 60 (300 steps an epoch)."""
    rng = np.random.default_rng(0)
    X, y = rng.random((18_000, 784)).astype(dtype), rng.integers(0, 10, 18_000)
    common = dict(
        hidden_layer_sizes=(100, 100, 100),
        activation="logistic",
        solver="sgd",
        learning_rate_init=0.01,
        momentum=0.0,
        batch_size=60,
        **fixed_epochs(epochs),
    )
    return X, y, common, [784, 100, 100, 100, 10]


def _busy_wide(epochs):
    """The wide workload in float64, where fits measure (float32 fits keep the size rule)."""
    X, y = wide_data(np.float64)
    common = dict(hidden_layer_sizes=(256, 256), batch_size=256, **fixed_epochs(epochs))
    return X, y, common, [100, 256, 256, 10]


BUSY_SCENARIOS = {
    "digits": _busy_digits,
    "mid": _busy_mid,
    "mid float32": lambda epochs: _busy_mid(epochs, np.float32),
    "wide": _busy_wide,
}


def concurrent_predict_workload(repeats, n_threads=8, trials=100):
    """8 threads predicting from one model: thread counts kept and serial bits, in every trial."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_info

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    common = dict(hidden_layer_sizes=(256,), batch_size=200, **fixed_epochs(5))
    ours, theirs = BackpropClassifier(**common).fit(X, y), MLPClassifier(**common).fit(X, y)
    batches = [X[: 50 + 25 * (i % 40)] for i in range(64)]
    counts = [info["num_threads"] for info in threadpool_info()]
    serial = [ours.predict_proba(batch) for batch in batches]
    identical, times = 0, {"ours": [], "sklearn": []}
    for _ in range(trials):
        for name, model in (("ours", ours), ("sklearn", theirs)):
            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=n_threads) as pool:
                got = list(pool.map(model.predict_proba, batches))
            times[name].append(time.perf_counter() - start)
            if name == "ours":
                same = all(np.array_equal(a, b) for a, b in zip(got, serial, strict=True))
                identical += same and counts == [i["num_threads"] for i in threadpool_info()]
    return {
        "workload": "concurrent predict",
        "ours_seconds": statistics.median(times["ours"]),
        "sklearn_seconds": statistics.median(times["sklearn"]),
        "ratio": median_pair_ratio(times),
        "ours_times": times["ours"],
        "sklearn_times": times["sklearn"],
        "note": f"{identical} of {trials} trials bit-identical to serial, thread counts kept",
    }


def parallel_search_workload(repeats, epochs=30):
    """GridSearchCV(n_jobs=2), 8 candidates x 3 folds on digits: wall time of the search."""
    from sklearn.model_selection import GridSearchCV

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    grid = {
        "hidden_layer_sizes": [(50,), (100,)],
        "learning_rate_init": [1e-3, 1e-2],
        "batch_size": [100, 200],
    }
    common = fixed_epochs(epochs)

    def search(model):
        return GridSearchCV(model, grid, cv=3, n_jobs=2)

    # Start joblib's worker processes (and their imports) before timing anything.
    for model in (BackpropClassifier(**common), MLPClassifier(**common)):
        timed_fit(search(model), X, y)
    row = compare(
        "parallel search",
        lambda: (search(BackpropClassifier(**common)), search(MLPClassifier(**common))),
        X,
        y,
        epochs,
        [64, 100, 10],
        repeats,
    )
    for library in ("ours", "sklearn"):  # 24 fits of several sizes: no GFLOP/s to speak of
        del row[f"{library}_gflops"]
    return row


def small_fits_workload(repeats, n_fits=20, epochs=100):
    """20 fits on iris- and wine-sized data, as cross-validation and check_estimator make."""
    from sklearn.datasets import load_iris, load_wine

    datasets = [load_iris(return_X_y=True), load_wine(return_X_y=True)]
    datasets = [(StandardScaler().fit_transform(X), y) for X, y in datasets]
    common = dict(hidden_layer_sizes=(100,), **fixed_epochs(epochs))
    times = {"ours": [], "sklearn": []}
    for _ in range(repeats):
        for library, estimator in (("ours", BackpropClassifier), ("sklearn", MLPClassifier)):
            seconds = 0.0
            for index in range(n_fits):
                X, y = datasets[index % 2]
                seconds += timed_fit(estimator(**common), X, y)
            times[library].append(seconds)
    row = {"workload": "small fits", "dtype": "float64", "epochs": epochs}
    for library in times:
        row[f"{library}_seconds"] = statistics.median(times[library])
        row[f"{library}_times"] = times[library]
    row["ratio"] = median_pair_ratio(times)
    return row


def small_batch_workload(repeats, dtype, epochs=1):
    X, y = wide_data(dtype)
    common = dict(hidden_layer_sizes=(64,), batch_size=32, **fixed_epochs(epochs))
    return compare(
        f"small-batch {np.dtype(dtype).name}",
        lambda: (BackpropClassifier(**common), MLPClassifier(**common)),
        X,
        y,
        epochs,
        [100, 64, 10],
        repeats,
        score=lambda model: model.score(X[:20_000], y[:20_000]),
        torch_args=dict(hidden=(64,), batch_size=32, classification=True),
    )


def regression_workload(repeats, epochs=2):
    X, y = make_regression(
        n_samples=110_000, n_features=50, n_informative=30, noise=5.0, random_state=0
    )
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    X_train, X_test, y_train, y_test = X[:100_000], X[100_000:], y[:100_000], y[100_000:]
    common = dict(hidden_layer_sizes=(128, 64), batch_size=256, **fixed_epochs(epochs))
    return compare(
        "regression",
        lambda: (BackpropRegressor(**common), MLPRegressor(**common)),
        X_train,
        y_train,
        epochs,
        [50, 128, 64, 1],
        repeats,
        score=lambda model: model.score(X_test, y_test),
        torch_args=dict(hidden=(128, 64), batch_size=256, classification=False),
    )


def predict_workload(repeats, n_rows=1_000_000):
    X, y = wide_data(np.float32)
    common = dict(hidden_layer_sizes=(256, 256), batch_size=256, **fixed_epochs(1))
    models = {
        "ours": BackpropClassifier(**common),
        "sklearn": MLPClassifier(**common),
    }
    for model in models.values():
        timed_fit(model, X, y)
    rows = np.random.default_rng(0).standard_normal((n_rows, 100), dtype=np.float32)
    row = {"workload": "predict", "dtype": "float32", "rows": n_rows}
    flops = 2 * n_weights([100, 256, 256, 10]) * n_rows
    times = {library: [] for library in models}
    for _ in range(repeats):
        for library, model in models.items():
            gc.collect()
            started = time.perf_counter()
            model.predict_proba(rows)
            times[library].append(time.perf_counter() - started)
    for library, model in models.items():
        gc.collect()
        tracemalloc.start()
        model.predict_proba(rows)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        seconds = statistics.median(times[library])
        row[f"{library}_seconds"] = seconds
        row[f"{library}_times"] = times[library]
        row[f"{library}_rows_per_second"] = n_rows / seconds
        row[f"{library}_gflops"] = flops / seconds / 1e9
        row[f"{library}_peak_mib"] = peak / 2**20
    row["ratio"] = median_pair_ratio(times)
    return row


def latency_workload(repeats, calls=300):
    """Seconds per predict_proba call on 1 and on 100 rows: a model serving requests.

    A digits model (one hidden layer of 100), each side called ``calls`` times
    in a row per repeat; per-call time is dominated by fixed overhead (input
    validation, setting up the forward pass), not by the matrix products.
    """
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    common = dict(hidden_layer_sizes=(100,), **fixed_epochs(5))
    models = {"ours": BackpropClassifier(**common), "sklearn": MLPClassifier(**common)}
    for model in models.values():
        timed_fit(model, X, y)
    rows = []
    for n_rows in (1, 100):
        batch = X[:n_rows]
        times = {library: [] for library in models}
        for _ in range(repeats):
            for library, model in models.items():
                started = time.perf_counter()
                for _ in range(calls):
                    model.predict_proba(batch)
                times[library].append((time.perf_counter() - started) / calls)
        name = f"predict_proba {n_rows} row{'s' if n_rows > 1 else ''}"
        row = {"workload": name, "dtype": "float64", "rows": n_rows, "latency": True}
        for library in models:
            row[f"{library}_seconds"] = statistics.median(times[library])
            row[f"{library}_times"] = times[library]
        row["ratio"] = median_pair_ratio(times)
        rows.append(row)
    return rows


def streaming_workload(repeats, chunk_rows=100, rounds=5):
    """Seconds per partial_fit call on 100-row chunks of digits: a model learning from a stream.

    Momentum SGD on both sides (scikit-learn's ``solver="sgd"`` is Nesterov
    momentum 0.9, as ours); each 100-row chunk is one batch, where our ``l2``
    equals scikit-learn's ``alpha``. Per-call time is mostly fixed overhead
    (validation, target encoding, storing the fitted state), not arithmetic.
    """
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    classes = np.unique(y)
    chunks = [(X[i : i + chunk_rows], y[i : i + chunk_rows]) for i in range(0, 1700, chunk_rows)]
    times = {"ours": [], "sklearn": []}
    for _ in range(repeats):
        for library in times:
            if library == "ours":
                model = BackpropClassifier(solver="momentum", l2=1e-4, random_state=0)
            else:
                model = MLPClassifier(solver="sgd", alpha=1e-4, random_state=0)
            model.partial_fit(*chunks[0], classes=classes)
            started = time.perf_counter()
            for _ in range(rounds):
                for X_chunk, y_chunk in chunks:
                    model.partial_fit(X_chunk, y_chunk)
            times[library].append((time.perf_counter() - started) / (rounds * len(chunks)))
    row = {"workload": "partial_fit 100 rows", "dtype": "float64", "rows": 100, "latency": True}
    for library in times:
        row[f"{library}_seconds"] = statistics.median(times[library])
        row[f"{library}_times"] = times[library]
    row["ratio"] = median_pair_ratio(times)
    return [row]


def lbfgs_workload(repeats):
    """solver="lbfgs" on iris, wine and breast cancer against scikit-learn's lbfgs."""
    from sklearn.datasets import load_breast_cancer, load_iris, load_wine

    rows = []
    for load in (load_iris, load_wine, load_breast_cancer):
        X, y = load(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        common = dict(solver="lbfgs", hidden_layer_sizes=(50,), max_iter=200, random_state=0)
        # Equal penalties: our l2 is alpha * n_samples / batch_size, alpha for a full batch.
        ours = dict(l2=1e-4, **common)
        name = f"lbfgs {load.__name__.removeprefix('load_')}"
        row = compare(
            name,
            lambda ours=ours, common=common: (
                BackpropClassifier(**ours),
                MLPClassifier(alpha=1e-4, **common),
            ),
            X_train,
            y_train,
            200,
            [X.shape[1], 50, len(set(y))],
            repeats,
            score=lambda model, X_test=X_test, y_test=y_test: model.score(X_test, y_test),
        )
        for library in ("ours", "sklearn"):  # iterations, not epochs: no GFLOP/s
            del row[f"{library}_gflops"]
        rows.append(row)
    return rows


def variants_workload(repeats, baseline, variants, target, epochs=1, regressor=False):
    """Each variant's fit time against the baseline's on the wide network (ours only).

    ``baseline`` and each of ``variants`` are ``(name, parameters)``; times alternate
    between them, and the ratio is the median of each repeat's pair.
    """
    X, y = wide_data(np.float32)
    if regressor:  # a real-valued target from the same rows
        y = X[:, :10].sum(axis=1)
    Estimator = BackpropRegressor if regressor else BackpropClassifier
    common = dict(hidden_layer_sizes=(256, 256), batch_size=256, **fixed_epochs(epochs))
    everything = [baseline, *variants]
    times = {name: [] for name, _ in everything}
    for _ in range(repeats):
        for name, params in everything:
            times[name].append(timed_fit(Estimator(**common, **params), X, y))
    base = baseline[0]
    return [
        {
            "workload": f"{name} vs {base}",
            "seconds": statistics.median(times[name]),
            "baseline": base,
            "baseline_seconds": statistics.median(times[base]),
            "ratio_to_baseline": statistics.median(pair_ratios(times[name], times[base])),
            "target": target,
        }
        for name, _ in variants
    ]


def solvers_workload(repeats):
    """RMSProp, AdaGrad and AdamW against Adam (AdamW's target is issue 19's 1.15)."""
    rows = variants_workload(
        repeats,
        ("adam", {"solver": "adam"}),
        [(name, {"solver": name}) for name in ("rmsprop", "adagrad")],
        target=1.1,
    )
    adamw = [("adamw", {"solver": "adamw", "l2": 0.01})]
    return rows + variants_workload(repeats, ("adam", {"solver": "adam"}), adamw, target=1.15)


def losses_workload(repeats):
    """The identity-output losses against the squared error (regressors)."""
    variants = [
        ("absolute_error", {"loss": "absolute_error"}),
        ("huber", {"loss": "huber"}),
        ("quantile", {"loss": "quantile", "quantile": 0.9}),
        ("3 quantiles", {"loss": "quantile", "quantile": (0.05, 0.5, 0.95)}),
    ]
    baseline = ("squared_error", {"loss": "squared_error"})
    return variants_workload(repeats, baseline, variants, target=1.15, regressor=True)


def inspection_workload(repeats, n_rows=1000, n_steps=50, shap_rows=5):
    """Integrated gradients of 1,000 digits rows at 50 steps; SHAP's KernelExplainer if there."""
    from skbackprop.inspection import integrated_gradients

    X, y = load_digits(return_X_y=True)
    X = X / 16
    model = BackpropClassifier(hidden_layer_sizes=(100,), **fixed_epochs(30)).fit(X, y)
    rows = np.resize(X, (n_rows, X.shape[1]))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        integrated_gradients(model, rows, n_steps=n_steps)
        times.append(time.perf_counter() - start)
    row = {"workload": "integrated gradients", "seconds": statistics.median(times), "target": 2.0}
    row.update(rows=n_rows, steps=n_steps)
    if importlib.util.find_spec("shap") is not None:
        import shap

        explainer = shap.KernelExplainer(model.predict_proba, shap.sample(X, 100, random_state=0))
        start = time.perf_counter()
        explainer.shap_values(rows[:shap_rows], silent=True)
        row["shap_seconds_per_row"] = (time.perf_counter() - start) / shap_rows
    return [row]


def activations_workload(repeats):
    """The smooth activations against relu."""
    names = ("elu", "gelu", "silu", "softplus")
    variants = [(name, {"activation": name}) for name in names]
    return variants_workload(repeats, ("relu", {"activation": "relu"}), variants, target=1.15)


TARGET_LAYER_OVERHEAD = 0.3  # per epoch, against the plain network
TARGET_FOLDED_PREDICT = 1.1  # batch normalization folded away: a plain network's cost


def layers_workload(repeats, epochs=1, n_predict=100_000):
    """batch_normalization and residual against the plain wide network (ours only).

    Fit time per epoch, and predict_proba time, each as the median of the
    pairs' ratios to the plain network's.
    """
    X, y = wide_data(np.float32)
    rows_to_predict = np.resize(X, (n_predict, X.shape[1]))
    common = dict(hidden_layer_sizes=(256, 256), batch_size=256, **fixed_epochs(epochs))
    options = {
        "plain": {},
        "batch_normalization": dict(batch_normalization=True),
        "residual": dict(residual=True),
    }
    fit_times = {name: [] for name in options}
    predict_times = {name: [] for name in options}
    for _ in range(repeats):
        for name, settings in options.items():
            model = BackpropClassifier(**common, **settings)
            fit_times[name].append(timed_fit(model, X, y) / epochs)
            gc.collect()
            started = time.perf_counter()
            model.predict_proba(rows_to_predict)
            predict_times[name].append(time.perf_counter() - started)
    return [
        {
            "workload": f"{name} vs plain",
            "seconds": statistics.median(fit_times[name]),
            "plain_seconds": statistics.median(fit_times["plain"]),
            "fit_overhead": statistics.median(pair_ratios(fit_times[name], fit_times["plain"])) - 1,
            "predict_ratio": statistics.median(
                pair_ratios(predict_times[name], predict_times["plain"])
            ),
        }
        for name in ("batch_normalization", "residual")
    ]


def diagnostics_workload(repeats):
    """What recording gradient_norms_ costs: fits with it against fits without."""
    from skbackprop._training import Trainer

    X, y = wide_data(np.float32)
    record = Trainer._record_gradient_norms

    def skip(trainer):
        trainer._n_batches += 1

    rows = []
    for name, hidden, batch_size in [("small-batch", (64,), 32), ("wide", (256, 256), 256)]:
        times = {"with": [], "without": []}
        for _ in range(repeats):
            for mode, method in (("with", record), ("without", skip)):
                Trainer._record_gradient_norms = method
                model = BackpropClassifier(
                    hidden_layer_sizes=hidden, batch_size=batch_size, **fixed_epochs(1)
                )
                times[mode].append(timed_fit(model, X, y))
        Trainer._record_gradient_norms = record
        seconds = {mode: statistics.median(values) for mode, values in times.items()}
        overhead = statistics.median(pair_ratios(times["with"], times["without"])) - 1
        rows.append({"workload": f"gradient norms, {name}", **seconds, "overhead": overhead})
    return rows


WORKLOADS = {
    "digits": lambda repeats: [digits_workload(repeats)],
    "wide": lambda repeats: [
        wide_workload(repeats, np.float32),
        wide_workload(repeats, np.float64),
        wide_as_float32_workload(repeats),
    ],
    "regression": lambda repeats: [regression_workload(repeats)],
    "small-batch": lambda repeats: [
        small_batch_workload(repeats, np.float32),
        small_batch_workload(repeats, np.float64),
    ],
    "predict": lambda repeats: [predict_workload(repeats)],
    "latency": latency_workload,
    "streaming": streaming_workload,
    "busy": lambda repeats: [
        busy_neighbour_workload(repeats, "digits"),
        busy_neighbour_workload(repeats, "mid", epochs=1),
        busy_neighbour_workload(repeats, "mid float32", epochs=1),
        busy_neighbour_workload(repeats, "wide", epochs=1),
    ],
    "concurrent": lambda repeats: [concurrent_predict_workload(repeats)],
    "search": lambda repeats: [parallel_search_workload(repeats)],
    "small-fits": lambda repeats: [small_fits_workload(repeats)],
    "solvers": solvers_workload,
    "activations": activations_workload,
    "losses": losses_workload,
    "inspection": inspection_workload,
    "layers": layers_workload,
    "lbfgs": lbfgs_workload,
    "diagnostics": diagnostics_workload,
    "sequences": lambda repeats: [
        *sequences.epoch_rows(repeats, HAVE_TORCH),
        *sequences.ucr_rows(repeats),
    ],
}


def print_row(row):
    if sequences.print_row(row):
        return
    name = row["workload"]
    if "overhead" in row:
        print(
            f"{name:28s} median with {row['with']:.3f}s, without {row['without']:.3f}s; "
            f"median of the pairs: {100 * row['overhead']:+.1f}% of fit time",
            flush=True,
        )
        return
    if "fit_overhead" in row:
        met = "met" if row["fit_overhead"] <= TARGET_LAYER_OVERHEAD else "MISSED"
        line = (
            f"{name:28s} {row['seconds']:.3f}s vs plain {row['plain_seconds']:.3f}s per epoch, "
            f"{100 * row['fit_overhead']:+.0f}% [<={100 * TARGET_LAYER_OVERHEAD:.0f}%: {met}]; "
            f"predict ratio {row['predict_ratio']:.2f}"
        )
        if name.startswith("batch_normalization"):
            met = "met" if row["predict_ratio"] <= TARGET_FOLDED_PREDICT else "MISSED"
            line += f" [<={TARGET_FOLDED_PREDICT}: {met}]"
        print(line, flush=True)
        return
    if row["workload"] == "integrated gradients":
        met = "met" if row["seconds"] <= row["target"] else "MISSED"
        size = f"{row['rows']:,} rows at {row['steps']} steps"
        line = f"{name:22s} {row['seconds']:.3f}s for {size}  [<=2s: {met}]"
        if "shap_seconds_per_row" in row:
            line += f"; SHAP KernelExplainer {row['shap_seconds_per_row']:.3f}s per row"
        print(line, flush=True)
        return
    if "ratio_to_baseline" in row:
        met = "met" if row["ratio_to_baseline"] <= row["target"] else "MISSED"
        print(
            f"{name:22s} {row['seconds']:.3f}s vs {row['baseline']} "
            f"{row['baseline_seconds']:.3f}s, ratio {row['ratio_to_baseline']:.2f}  "
            f"[ratio<={row['target']}: {met}]",
            flush=True,
        )
        return
    if row.get("latency"):
        line = (
            f"{name:22s} {1e6 * row['ours_seconds']:6.1f} us vs {1e6 * row['sklearn_seconds']:6.1f}"
            f" us per call  ratio {row['ratio']:.2f}"
        )
        ratios = pair_ratios(row["ours_times"], row["sklearn_times"])
        met = "met" if row["ratio"] <= TARGETS[name] else "MISSED"
        target = f"ratio<={TARGETS[name]}: {met}"
        print(f"{line}  pairs {min(ratios):.2f}-{max(ratios):.2f}  [{target}]", flush=True)
        return
    line = (
        f"{name:20s} {row['ours_seconds']:8.3f} {row['sklearn_seconds']:8.3f} {row['ratio']:6.2f}"
    )
    if "efficiency" in row:
        line += (
            f" {row['ours_gflops']:7.1f} {row['sklearn_gflops']:7.1f} "
            f"{100 * row['efficiency']:5.1f}%"
        )
    else:
        line += f" {'':7s} {'':7s} {'':6s}"
    ratios = pair_ratios(row["ours_times"], row["sklearn_times"])
    line += f"  pairs {min(ratios):.2f}-{max(ratios):.2f}"
    if "ours_score" in row:
        line += f"  score {row['ours_score']:.4f} vs {row['sklearn_score']:.4f}"
    if "ours_peak_mib" in row:
        line += (
            f"  {row['ours_rows_per_second'] / 1e6:.2f}M vs "
            f"{row['sklearn_rows_per_second'] / 1e6:.2f}M rows/s, peak "
            f"{row['ours_peak_mib']:.0f} vs {row['sklearn_peak_mib']:.0f} MiB"
        )
    if "torch_seconds" in row:
        line += f"  torch {row['torch_seconds']:.3f}s"
    if "note" in row:
        line += f"  {row['note']}"
    verdicts = []
    if "load_slowdown" in row:
        line += (
            f"  ours quiet {row['ours_quiet_seconds']:.3f}s, under load x{row['load_slowdown']:.2f}"
        )
        met = row["load_slowdown"] <= TARGET_LOAD_SLOWDOWN
        verdicts.append(f"load<=x{TARGET_LOAD_SLOWDOWN}: {'met' if met else 'MISSED'}")
    if name in TARGETS:
        verdicts.append(
            f"ratio<={TARGETS[name]}: {'met' if row['ratio'] <= TARGETS[name] else 'MISSED'}"
        )
    if name in TARGET_EFFICIENCY:
        met = row["efficiency"] >= TARGET_EFFICIENCY[name]
        verdicts.append(f"peak>={TARGET_EFFICIENCY[name]:.0%}: {'met' if met else 'MISSED'}")
    if verdicts:
        line += "  [" + "; ".join(verdicts) + "]"
    print(line, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    args = parser.parse_args()
    global HAVE_TORCH
    HAVE_TORCH = HAVE_TORCH and not args.no_torch

    peaks = {np.float32: matmul_peak(np.float32), np.float64: matmul_peak(np.float64)}
    rows = []
    for name in args.workloads:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.extend(WORKLOADS[name](args.repeats))
    # The peak again at the end, keeping the better, in case the machine was busy at the start.
    peaks = {dtype: max(peak, matmul_peak(dtype)) for dtype, peak in peaks.items()}
    for row in rows:
        if "ours_gflops" in row:
            row["efficiency"] = row["ours_gflops"] / peaks[np.dtype(row["dtype"]).type]
    print(
        f"skbackprop {skbackprop.__version__}, scikit-learn {sklearn.__version__}, numpy "
        f"{np.__version__}, torch {'in a child process' if HAVE_TORCH else 'not installed'}; "
        f"matmul peak {peaks[np.float32]:.0f} GFLOP/s float32, {peaks[np.float64]:.0f} float64; "
        f"{args.repeats} alternating runs: median seconds, median of the pairs' ratios"
    )
    print(
        f"{'workload':20s} {'ours s':>8s} {'sklearn':>8s} {'ratio':>6s} {'GFLOP/s':>7s} "
        f"{'sklearn':>7s} {'peak':>6s}"
    )
    for row in rows:
        print_row(row)
    path = args.json or RESULTS / time.strftime("%Y%m%d-%H%M%S.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "machine": platform.platform(),
                "versions": {
                    "skbackprop": skbackprop.__version__,
                    "sklearn": sklearn.__version__,
                    "numpy": np.__version__,
                },
                "peak_gflops": {"float32": peaks[np.float32], "float64": peaks[np.float64]},
                "repeats": args.repeats,
                "results": rows,
            },
            indent=2,
        )
    )
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
