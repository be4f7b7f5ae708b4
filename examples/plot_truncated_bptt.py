"""
Truncated backpropagation through time
======================================

The adding problem (Hochreiter and Schmidhuber, 1997): each series has two
channels, 20 random values in ``[0, 1]`` and a marker that is 1 at two steps,
one in the first half and one in the second; the target is the sum of the two
marked values. Predicting it needs the first marked value, read 10 to 19 steps
before the series ends, where a recurrent layer's state is read
(``pooling="last"``). Always predicting the mean scores R^2 = 0.

A recurrent layer learns to keep the first marked value only if the gradient
of its last output reaches back to the first marked step. ``bptt_truncate=k``
sends it back ``k`` steps. Full backpropagation through time (``None``) lets a
GRU learn the sum (R^2 near 1). With ``k = 10`` the gradient reaches only the
markers exactly 10 steps back; with ``k`` below 10 it reaches none, and the
model can use only what the state ``k`` steps back already happens to carry of
the first value, a constant to the gradient: R^2 falls towards 0.5, the share of
the variance that the second marked value, inside the window, explains. With
``k = 1`` even the second value, up to 9 steps back, is out of reach. An Elman
cell gets the full gradient too, but multiplied through ``tanh'`` and ``W_hh``
at every step it vanishes over ten steps, and it learns nothing in the same
epochs.

The table gives each model's R^2 on 500 held-out series and its fit time in
seconds (40 epochs of Adam on 1,000 series, one layer of 24 units).
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skbackprop import BackpropSequenceRegressor


def adding_problem(n_series, n_steps, rng):
    values = rng.uniform(0, 1, (n_series, n_steps))
    markers = np.zeros((n_series, n_steps))
    rows = np.arange(n_series)
    markers[rows, rng.integers(0, n_steps // 2, n_series)] = 1
    markers[rows, rng.integers(n_steps // 2, n_steps, n_series)] = 1
    return np.stack([values, markers], axis=1), (values * markers).sum(axis=1)


rng = np.random.default_rng(0)
X_train, y_train = adding_problem(1000, 20, rng)
X_test, y_test = adding_problem(500, 20, rng)

print(f"{'cell':6} {'bptt_truncate':>13} {'R^2':>7} {'fit (s)':>8}")
scores = {}
for cell, truncations in [("gru", (None, 10, 5, 1)), ("elman", (None,))]:
    for k in truncations:
        model = BackpropSequenceRegressor(
            conv_filters=(),
            kernel_sizes=(),
            recurrent_units=(24,),
            pooling="last",
            cell=cell,
            bptt_truncate=k,
            batch_normalization=False,
            max_iter=40,
            random_state=0,
        )
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        scores[cell, k] = model.score(X_test, y_test)
        print(f"{cell:6} {str(k):>13} {scores[cell, k]:7.3f} {seconds:8.1f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
labels = ["None (full)", "10", "5", "1"]
ax.bar(labels, [scores["gru", k] for k in (None, 10, 5, 1)], label="GRU")
ax.axhline(scores["elman", None], color="tab:red", linestyle="--", label="Elman, full BPTT")
ax.set_xlabel("bptt_truncate")
ax.set_ylabel("test R^2")
ax.set_title("The adding problem: the first marker is 10 to 19 steps back")
ax.legend()
fig.tight_layout()
plt.show()
