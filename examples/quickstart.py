"""
Quickstart: BackpropClassifier against scikit-learn's MLPClassifier on digits
=============================================================================

Both networks get the same standardized split of the digits data, the same
architecture (one hidden layer of 100 ReLU units), the same solver (Adam) and
the same budget of epochs. The script prints test accuracy and fit time.
"""

import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

models = {
    "skbackprop BackpropClassifier": BackpropClassifier(max_iter=200, random_state=0),
    "scikit-learn MLPClassifier": MLPClassifier(max_iter=200, random_state=0),
}

print(f"digits: {X_train.shape[0]} training rows, {X_test.shape[0]} test rows\n")
print(f"{'model':32s} {'accuracy':>9s} {'fit time':>9s} {'epochs':>7s}")
for name, model in models.items():
    pipeline = make_pipeline(StandardScaler(), model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        started = time.perf_counter()
        pipeline.fit(X_train, y_train)
        seconds = time.perf_counter() - started
    accuracy = pipeline.score(X_test, y_test)
    print(f"{name:32s} {accuracy:9.4f} {seconds:8.2f}s {model.n_iter_:7d}")
