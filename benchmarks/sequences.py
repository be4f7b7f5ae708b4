"""The sequence estimators' benchmarks: per-epoch time against PyTorch, and UCR/UEA accuracy.

    python benchmarks/run.py --workloads sequences

- An epoch of the default convolutional network, and of a GRU of 64 units
  (``pooling="last"``), on 1,000 series of 150 steps (one channel), batches
  of 32, Adam, float32 and float64: ours against the same network in PyTorch
  on the CPU (in a child process, on the same threads), the ratio ours /
  PyTorch (below 1 is faster), median of the pairs. Each side trains
  ``EPOCHS`` epochs and times each; an epoch's time is the median of all
  but the first, whose time (a fit's setup on our side: checking X,
  building the network, choosing BLAS threads; PyTorch's first-call
  warm-up on theirs) is reported next to it.
- With aeon installed (the extra ``skbackprop[series]``): the default
  classifier's test accuracy and fit time on GunPoint, ItalyPowerDemand,
  BasicMotions, ArrowHead and JapaneseVowels (their own splits), next to
  scikit-learn's MLP on the flattened series (padded with zeros where lengths
  differ) with a StandardScaler.
"""

import importlib.util
import multiprocessing
import statistics
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropSequenceClassifier

N_SERIES, N_STEPS, BATCH = 1000, 150, 32
EPOCHS = 4  # per fit: the first, then three timed as steady epochs
# The networks: keyword arguments of ours; PyTorch's is built from the same.
NETWORKS = {
    "default conv": {},
    "GRU 64": dict(conv_filters=(), kernel_sizes=(), recurrent_units=(64,), pooling="last"),
}
UCR_UEA = ("GunPoint", "ItalyPowerDemand", "BasicMotions", "ArrowHead", "JapaneseVowels")


def _data(dtype):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, N_SERIES)
    t = np.linspace(0, 1, N_STEPS)
    X = np.sin(2 * np.pi * (3 + 2 * y[:, None]) * t)[:, None, :]
    return (X + 0.5 * rng.normal(size=X.shape)).astype(dtype), y


def _our_epochs(options, X, y):
    """Seconds of each epoch of one fit of ``EPOCHS`` epochs (the schedule marks their starts)."""
    starts = []

    def rate(epoch):  # called as each epoch begins
        starts.append(time.perf_counter())
        return 0.01

    model = BackpropSequenceClassifier(
        **options,
        batch_size=BATCH,
        learning_rate=rate,
        max_iter=EPOCHS,
        n_iter_no_change=EPOCHS + 1,
        shuffle=True,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        started = time.perf_counter()
        model.fit(X, y)
        ended = time.perf_counter()
    # The first epoch's time runs from the call, so that it includes the fit's setup.
    return list(np.diff([started, *starts[1:], ended]))


def torch_epochs(options, X, y):
    """Seconds of each of ``EPOCHS`` epochs of PyTorch's network (run in a child process)."""
    import torch

    dtype = torch.float32 if X.dtype == np.float32 else torch.float64
    torch.manual_seed(0)
    X_t, y_t = torch.from_numpy(X).to(dtype), torch.from_numpy(y)
    if options.get("recurrent_units"):
        units = options["recurrent_units"][0]
        recurrent = torch.nn.GRU(X.shape[1], units, batch_first=True).to(dtype)
        head = torch.nn.Linear(units, 2).to(dtype)

        def forward(batch):
            return head(recurrent(batch.transpose(1, 2))[0][:, -1])

        parameters = [*recurrent.parameters(), *head.parameters()]
    else:
        layers, channels = [], X.shape[1]
        for filters, taps in zip((64, 64, 64), (7, 5, 3), strict=True):
            layers += [
                torch.nn.Conv1d(channels, filters, taps, padding="same"),
                torch.nn.BatchNorm1d(filters),
                torch.nn.ReLU(),
            ]
            channels = filters
        body = torch.nn.Sequential(*layers).to(dtype)
        head = torch.nn.Linear(channels, 2).to(dtype)

        def forward(batch):
            return head(body(batch).mean(dim=2))

        parameters = [*body.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    seconds = []
    for _ in range(EPOCHS):
        started = time.perf_counter()
        order = torch.randperm(len(X_t))
        for start in range(0, len(X_t), BATCH):
            index = order[start : start + BATCH]
            optimizer.zero_grad()
            loss_fn(forward(X_t[index]), y_t[index]).backward()
            optimizer.step()
        seconds.append(time.perf_counter() - started)
    return seconds


def epoch_rows(repeats, have_torch):
    rows = []
    for dtype in (np.float32, np.float64):
        X, y = _data(dtype)
        for name, options in NETWORKS.items():
            ours, theirs = [], []
            for _ in range(repeats):
                ours.append(_our_epochs(options, X, y))
                if have_torch:
                    with multiprocessing.get_context("spawn").Pool(1) as pool:
                        theirs.append(pool.apply(torch_epochs, (options, X, y)))
            rows.append(_epoch_row(name, dtype, ours, theirs))
    return rows


def _epoch_row(name, dtype, ours, theirs):
    """The row of one network: medians of the steady epochs, and of the first ones."""

    def steady(epochs):
        return statistics.median(epochs[1:])

    row = {
        "workload": f"epoch, {name}",
        "dtype": np.dtype(dtype).name,
        "sequence_seconds": statistics.median(steady(fit) for fit in ours),
        "sequence_first_epoch_seconds": statistics.median(fit[0] for fit in ours),
    }
    if theirs:
        row["torch_seconds"] = statistics.median(steady(fit) for fit in theirs)
        row["torch_first_epoch_seconds"] = statistics.median(fit[0] for fit in theirs)
        row["torch_ratio"] = statistics.median(
            steady(a) / steady(b) for a, b in zip(ours, theirs, strict=True)
        )
        row["torch_first_epoch_ratio"] = statistics.median(
            a[0] / b[0] for a, b in zip(ours, theirs, strict=True)
        )
    return row


def _flattened(X, n_steps=None):
    """Series as rows for an MLP: (channels * steps) columns, padded with zeros."""
    if isinstance(X, list):
        n_steps = n_steps or max(series.shape[1] for series in X)
        padded = np.zeros((len(X), X[0].shape[0], n_steps))
        for row, series in enumerate(X):
            padded[row, :, : min(series.shape[1], n_steps)] = series[:, :n_steps]
        X = padded
    return X.reshape(len(X), -1), X.shape[2]


def ucr_rows(repeats):
    if importlib.util.find_spec("aeon") is None:
        return [{"workload": "UCR/UEA", "skipped": "needs aeon (skbackprop[series])"}]
    from aeon.datasets import load_classification

    rows = []
    for name in UCR_UEA:
        X, y = load_classification(name, split="train")
        X_test, y_test = load_classification(name, split="test")
        flat, n_steps = _flattened(X)
        flat_test, _ = _flattened(X_test, n_steps)
        row = {"workload": f"UCR/UEA {name}"}
        for label, model, train, test in [
            ("sequence", BackpropSequenceClassifier(random_state=0), X, X_test),
            (
                "mlp",
                make_pipeline(StandardScaler(), MLPClassifier(max_iter=1000, random_state=0)),
                flat,
                flat_test,
            ),
        ]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                started = time.perf_counter()
                model.fit(train, y)
                row[f"{label}_seconds"] = time.perf_counter() - started
            row[f"{label}_score"] = model.score(test, y_test)
        rows.append(row)
    return rows


def print_row(row):
    """Print a row of this module's workloads; False for another module's row."""
    name = row["workload"]
    if "skipped" in row:
        print(f"{name:28s} skipped: {row['skipped']}", flush=True)
    elif "sequence_score" in row:
        print(
            f"{name:28s} accuracy {row['sequence_score']:.3f} in {row['sequence_seconds']:.1f}s, "
            f"scikit-learn's MLP on the flattened series {row['mlp_score']:.3f} in "
            f"{row['mlp_seconds']:.1f}s",
            flush=True,
        )
    elif "sequence_seconds" in row:
        line = f"{name:28s} {row['dtype']:8s} ours {row['sequence_seconds']:.3f}s"
        if "torch_ratio" in row:
            met = "met" if row["torch_ratio"] <= 1.0 else "MISSED"
            line += (
                f", PyTorch {row['torch_seconds']:.3f}s, ratio {row['torch_ratio']:.2f} "
                f"[<=1.0: {met}]; first epoch, with the setup, {row['torch_first_epoch_ratio']:.2f}"
            )
        print(line, flush=True)
    else:
        return False
    return True
