"""
A Pipeline tuned with GridSearchCV
==================================

BackpropClassifier is a scikit-learn estimator: it sits in a Pipeline after a
scaler, and GridSearchCV tunes its parameters by cross-validation, in
parallel, like any other.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier

X, y = load_wine(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
pipeline = make_pipeline(StandardScaler(), BackpropClassifier(max_iter=200, random_state=0))
grid = {
    "backpropclassifier__hidden_layer_sizes": [(8,), (64,)],
    "backpropclassifier__l2": [1e-4, 1.0, 10.0],
    "backpropclassifier__learning_rate_init": [0.001, 0.01],
}
search = GridSearchCV(pipeline, grid, cv=5, n_jobs=2)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    search.fit(X_train, y_train)
print("best parameters:", search.best_params_)
print(
    f"cross-validated accuracy {search.best_score_:.3f}, test accuracy "
    f"{search.score(X_test, y_test):.3f}"
)

scores = search.cv_results_["mean_test_score"].reshape(2, 3, 2)
fig, ax = plt.subplots()
for index, units in enumerate(grid["backpropclassifier__hidden_layer_sizes"]):
    ax.plot(
        grid["backpropclassifier__l2"],
        scores[index, :, 1],
        marker="o",
        label=f"{units[0]} hidden units, lr=0.01",
    )
ax.set(xscale="log", xlabel="l2", ylabel="mean cross-validated accuracy")
ax.legend()
print("accuracy by (units, l2, lr):", np.round(scores, 3).tolist())
plt.show()
