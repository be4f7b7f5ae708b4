"""
Quickstart: BackpropClassifier against scikit-learn's MLPClassifier on digits
=============================================================================

Both networks get the same standardized split of the digits data, the same
architecture (one hidden layer of 100 ReLU units), the same solver (Adam,
learning rate 0.001), the same batch size (200) and exactly the same number
of epochs (the stopping rule is switched off, so neither stops early).

For each model the script prints:

- ``accuracy``: the share of the held-out test digits it classifies right;
- ``fit time``: the median wall-clock seconds of five identical fits (this
  machine may be busy with other work: the median is what a typical fit
  takes, and the range shows how much single runs vary);
- ``epochs``: the passes over the training data each fit made.

The last line divides skbackprop's median fit time by scikit-learn's:
below 1 means skbackprop trained faster on the same work.

Threads: this network's matrix products are small, so skbackprop runs BLAS
on one thread while it fits (a second thread gains nothing here and slows
fits down next to other busy processes); scikit-learn's MLP leaves BLAS at
its default, one thread per core.
"""

import statistics
import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier

EPOCHS = 50
REPEATS = 5
# No early stop: tol=0 and a patience as long as the run, in both libraries.
SAME_BUDGET = dict(max_iter=EPOCHS, tol=0.0, n_iter_no_change=EPOCHS, random_state=0)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

models = {
    "skbackprop BackpropClassifier": BackpropClassifier(**SAME_BUDGET),
    "scikit-learn MLPClassifier": MLPClassifier(**SAME_BUDGET),
}


def median_fit_seconds(model):
    """Median and range of REPEATS fits of the scaled model; returns the last fitted pipeline."""
    seconds = []
    for _ in range(REPEATS):
        pipeline = make_pipeline(StandardScaler(), model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            started = time.perf_counter()
            pipeline.fit(X_train, y_train)
            seconds.append(time.perf_counter() - started)
    return pipeline, statistics.median(seconds), min(seconds), max(seconds)


print(f"digits: {X_train.shape[0]} training rows, {X_test.shape[0]} test rows")
print(f"{EPOCHS} epochs each, fit time = median of {REPEATS} fits (range)\n")
print(f"{'model':32s} {'accuracy':>9s} {'fit time':>9s} {'range':>14s} {'epochs':>7s}")
medians = {}
for name, model in models.items():
    pipeline, median, fastest, slowest = median_fit_seconds(model)
    medians[name] = median
    accuracy = pipeline.score(X_test, y_test)
    spread = f"{fastest:.2f}-{slowest:.2f}s"
    print(f"{name:32s} {accuracy:9.4f} {median:8.2f}s {spread:>14s} {model.n_iter_:7d}")

ours, theirs = medians.values()
print(f"\nskbackprop's median fit time is {ours / theirs:.2f}x scikit-learn's (below 1 is faster).")
