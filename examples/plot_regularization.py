"""
L1, L2 and dropout against overfitting
======================================

A wide network trained long on few rows memorises them: training accuracy
reaches 100% while test accuracy falls behind. An L2 penalty shrinks all
weights, an L1 penalty drives many of them to (near) zero, and dropout trains
the network with random units switched off so that no unit can rely on
another. Each is set alone here; a moderate dose narrows the gap between
training and test accuracy, while too strong a penalty (l2=30) underfits.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    StandardScaler().fit_transform(X), y, train_size=300, stratify=y, random_state=0
)
settings = {
    "none": dict(l2=0.0),
    "l2=3": dict(l2=3.0),
    "l2=30": dict(l2=30.0),
    "l1=0.3": dict(l2=0.0, l1=0.3),
    "dropout=0.5": dict(l2=0.0, dropout=0.5),
}
results = {}
for name, params in settings.items():
    model = BackpropClassifier(
        hidden_layer_sizes=(256,),
        learning_rate_init=0.005,
        max_iter=150,
        tol=0,
        n_iter_no_change=150,
        random_state=0,
        **params,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    weights = model.coefs_[0]
    results[name] = (model.score(X_train, y_train), model.score(X_test, y_test))
    print(
        f"{name:12s} train {results[name][0]:.3f}  test {results[name][1]:.3f}  "
        f"|W1| mean {np.abs(weights).mean():.3f}, near zero {np.mean(np.abs(weights) < 1e-3):.0%}"
    )

fig, ax = plt.subplots()
positions = np.arange(len(results))
ax.bar(positions - 0.2, [train for train, _ in results.values()], width=0.4, label="train")
ax.bar(positions + 0.2, [test for _, test in results.values()], width=0.4, label="test")
ax.set_xticks(positions, list(results))
ax.set(ylim=(0.8, 1.01), ylabel="accuracy", title="300 training rows, 256 hidden units")
ax.legend()
plt.show()
