"""
Stochastic, mini-batch and full-batch gradient descent
======================================================

``batch_size`` decides how many rows each gradient step averages over: 1 is
stochastic gradient descent (many noisy steps per epoch), the number of rows
or more is full-batch gradient descent (one exact step per epoch), and values
in between are mini-batches. Per epoch, small batches make more progress;
per second, mini-batches use the matrix-multiply hardware best.
"""

import time
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    StandardScaler().fit_transform(X), y, stratify=y, random_state=0
)
fig, ax = plt.subplots()
for batch_size, label in [
    (1, "stochastic (1)"),
    (32, "mini-batch (32)"),
    (len(X_train), f"full batch ({len(X_train)})"),
]:
    model = BackpropClassifier(
        hidden_layer_sizes=(32,),
        solver="sgd",
        learning_rate_init=0.01,
        batch_size=batch_size,
        max_iter=30,
        tol=0,
        n_iter_no_change=30,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        started = time.perf_counter()
        model.fit(X_train, y_train)
        seconds = time.perf_counter() - started
    ax.plot(range(1, model.n_iter_ + 1), model.loss_curve_, label=label)
    print(
        f"{label:22s} {seconds:5.2f}s, {model.t_ // batch_size:6d} steps, "
        f"test accuracy {model.score(X_test, y_test):.3f}"
    )
ax.set(xlabel="epoch", ylabel="training loss", yscale="log", title="Batch size, plain SGD")
ax.legend()
plt.show()
