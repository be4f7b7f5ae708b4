"""
Why does the network predict that?
==================================

A network trained by backpropagation can differentiate its output with
respect to its input for the price of one backward pass.
:func:`skbackprop.inspection.integrated_gradients` uses that to attribute each
prediction to the input features: the gradient averaged along the path from a
baseline (here the blank image, all zeros) to the digit, times the pixel's
value. The attributions of a digit add up to its predicted probability minus
the blank image's, and the printed completeness gap says how closely they do.

The maps show, for a few test digits, the pixels that raised the predicted
class's probability (red) and those that lowered it (blue). Averaged over the
test set, the mean absolute attribution of each pixel ranks the pixels much as
scikit-learn's permutation importance does; the printed rank correlation
(Spearman, 1 for the same order) measures that agreement, and the timings what
each costs per row. If SHAP is installed, its model-agnostic
``KernelExplainer`` is timed and compared on a few rows as well: it estimates
each row's attributions from a few hundred evaluations of the model against a
background sample rather than the blank image, so on 64 pixels its per-row
ranking agrees only loosely, at several hundred times the cost.
"""

import importlib.util
import time

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import spearmanr
from sklearn.datasets import load_digits
from sklearn.inspection import permutation_importance
from sklearn.model_selection import train_test_split

from skbackprop import BackpropClassifier
from skbackprop.inspection import AttributionDisplay, integrated_gradients

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0, stratify=y)
model = BackpropClassifier(
    hidden_layer_sizes=(128,), activation="tanh", tol=1e-3, max_iter=300, random_state=0
).fit(X_train, y_train)
print(f"test accuracy: {model.score(X_test, y_test):.3f}")

start = time.perf_counter()
result = integrated_gradients(model, X_test, return_gap=True)
per_row = (time.perf_counter() - start) / len(X_test)
relative_gap = np.abs(result.gap) / np.abs(result.outputs - result.baseline_outputs)
print(
    f"integrated gradients: {1e3 * per_row:.2f} ms per row, median completeness gap "
    f"{100 * np.median(relative_gap):.2f}% of F(x) - F(blank)"
)

start = time.perf_counter()
permutation = permutation_importance(model, X_test, y_test, n_repeats=5, random_state=0)
print(
    f"permutation importance: {1e3 * (time.perf_counter() - start) / len(X_test):.2f} ms "
    "per row (global only)"
)
ours = np.abs(result.attributions).mean(axis=0)
agreement = spearmanr(ours, permutation.importances_mean).statistic
print(
    f"rank correlation of the pixels' importance, integrated gradients vs permutation: "
    f"{agreement:.2f}"
)

if importlib.util.find_spec("shap") is not None:
    import shap

    rows = X_test[:5]
    explainer = shap.KernelExplainer(model.predict_proba, shap.sample(X_train, 100, random_state=0))
    start = time.perf_counter()
    values = np.asarray(explainer.shap_values(rows, nsamples=500, silent=True))
    print(f"SHAP KernelExplainer: {1e3 * (time.perf_counter() - start) / len(rows):.0f} ms per row")
    # Each row's values for its predicted class (rows, features, classes in recent SHAP).
    predicted, index = model.predict(rows), np.arange(len(rows))
    if values.shape[0] == len(rows):
        theirs = values[index, :, predicted]
    else:
        theirs = values[predicted, index]
    ours_rows = integrated_gradients(model, rows)
    pairs = zip(ours_rows, theirs, strict=True)
    agreement = np.mean([spearmanr(a, b).statistic for a, b in pairs])
    print(f"rank correlation with SHAP per row (mean over 5 rows): {agreement:.2f}")
else:
    print("SHAP is not installed: its KernelExplainer comparison is skipped")

display = AttributionDisplay.from_estimator(model, X_test[:6], image_shape=(8, 8))
display.figure_.suptitle("Test digits (top) and their integrated gradients (bottom)")
plt.show()
