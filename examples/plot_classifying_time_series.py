"""
Classifying time series
=======================

:class:`~skbackprop.BackpropSequenceClassifier` with its default settings
(three convolution blocks of 64 filters, kernels 7, 5 and 3, batch
normalization, average pooling over time, Adam) against scikit-learn's
``MLPClassifier`` on the flattened series, on two data sets of the UCR/UEA
archive that aeon bundles (the extra ``skbackprop[series]``), each with its own
train/test split:

- GunPoint: 50 training series of 150 steps, one channel (a hand drawing a
  gun, or pointing a finger);
- BasicMotions: 40 training series of 100 steps, six channels (accelerometer
  and gyroscope: walking, resting, running, badminton).

The table gives the test accuracy (the share of test series classified right)
and the fit time in seconds on this machine. The convolution blocks see the
same shape wherever it occurs in the series; the flattened MLP must learn it at
each position apart, which takes more data than these sets have.

The plot shows one GunPoint test series and where the prediction came from:
the absolute gradient of the predicted class's probability with respect to
each timepoint (:func:`skbackprop.inspection.input_gradients`).
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from aeon.datasets import load_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropSequenceClassifier
from skbackprop.inspection import input_gradients

print(f"{'data set':14} {'model':22} {'accuracy':>8} {'fit (s)':>8}")
models = {}
for name in ("GunPoint", "BasicMotions"):
    X_train, y_train = load_classification(name, split="train")
    X_test, y_test = load_classification(name, split="test")
    candidates = {
        "sequence (default)": (BackpropSequenceClassifier(random_state=0), X_train, X_test),
        "MLP on flattened": (
            make_pipeline(StandardScaler(), MLPClassifier(max_iter=1000, random_state=0)),
            X_train.reshape(len(X_train), -1),
            X_test.reshape(len(X_test), -1),
        ),
    }
    for label, (model, train, test) in candidates.items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(train, y_train)
        seconds = time.perf_counter() - start
        print(f"{name:14} {label:22} {model.score(test, y_test):8.3f} {seconds:8.1f}")
    models[name] = candidates["sequence (default)"][0]

X_test, y_test = load_classification("GunPoint", split="test")
model = models["GunPoint"]
series = X_test[:1]
predicted = model.predict(series)[0]
gradient = np.abs(input_gradients(model, series)[0, 0])

fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7, 5))
top.plot(series[0, 0])
top.set_title(f"A GunPoint test series (class {y_test[0]}), predicted class {predicted}")
bottom.fill_between(np.arange(series.shape[2]), gradient, color="tab:red")
bottom.set_title("|d P(predicted class) / d x(t)|: where the prediction came from")
bottom.set_xlabel("timepoint")
fig.tight_layout()
plt.show()
