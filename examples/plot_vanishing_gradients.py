"""
Vanishing gradients: a deep logistic network against a deep ReLU network
========================================================================

The derivative of the logistic function is at most 1/4, so every logistic
layer the error passes through on its way back shrinks it: in a deep logistic
network the first layers receive almost no gradient and barely learn. ReLU
passes the error through unchanged wherever a unit is active. The
``gradient_norms_`` that every fitted estimator records show this at a
glance, and ``GradientFlowDisplay`` draws them.
"""

import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier, GradientFlowDisplay

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    StandardScaler().fit_transform(X), y, stratify=y, random_state=0
)

fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, activation in zip(axes, ["logistic", "relu"], strict=True):
    model = BackpropClassifier(
        hidden_layer_sizes=(32,) * 6, activation=activation, max_iter=30, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    GradientFlowDisplay.from_estimator(model, ax=ax)
    first, last = model.gradient_norms_[0, 0], model.gradient_norms_[0, -1]
    ax.set_title(f"{activation}: test accuracy {model.score(X_test, y_test):.2f}")
    print(
        f"{activation:8s} first-epoch gradient RMS: first layer {first:.1e}, output layer "
        f"{last:.1e} (ratio {first / last:.1e}); test accuracy {model.score(X_test, y_test):.3f}"
    )
fig.tight_layout()
plt.show()
