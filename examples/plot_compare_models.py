"""
BackpropClassifier, MLPClassifier and LogisticRegression in cross-validation
============================================================================

Five-fold cross-validation on the breast cancer and digits data of three
scaled models: skbackprop's network, scikit-learn's MLPClassifier with the
same architecture, and a logistic regression as the linear baseline.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_validate
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier

models = {
    "BackpropClassifier": BackpropClassifier(hidden_layer_sizes=(100,), random_state=0),
    "MLPClassifier": MLPClassifier(hidden_layer_sizes=(100,), random_state=0),
    "LogisticRegression": LogisticRegression(max_iter=1000),
}
datasets = {"breast cancer": load_breast_cancer, "digits": load_digits}
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, (data_name, load) in zip(axes, datasets.items(), strict=True):
    X, y = load(return_X_y=True)
    means = []
    for name, model in models.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = cross_validate(make_pipeline(StandardScaler(), model), X, y, cv=5, n_jobs=2)
        accuracy = result["test_score"]
        means.append(accuracy.mean())
        print(
            f"{data_name:14s} {name:19s} accuracy {accuracy.mean():.4f} +- {accuracy.std():.4f}, "
            f"fit {np.mean(result['fit_time']):.2f}s"
        )
    ax.bar(list(models), means, color=["tab:blue", "tab:orange", "tab:grey"])
    ax.set(ylim=(min(means) - 0.03, 1.0), title=data_name, ylabel="mean accuracy")
    ax.tick_params(axis="x", labelrotation=15)
fig.tight_layout()
plt.show()
