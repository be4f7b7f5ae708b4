"""
Solvers compared: SGD, momentum, Adam, RMSProp, AdaGrad and L-BFGS
====================================================================

The same network on the same data, trained by each solver with a step size
suited to it. Plain gradient descent follows the gradient; momentum
accumulates a velocity that carries it through flat regions and damps
oscillation across narrow valleys; RMSProp scales each weight's step by a
running root-mean-square of its gradient, Adam adds momentum and bias
correction to that, and AdaGrad divides by the root of the sum of every
squared gradient so far, so its steps shrink as training goes on. L-BFGS
works on the whole training set at once, building a curvature estimate from
its last steps; on data this small it gets furthest in the fewest steps.
The plot shows the training loss per epoch (per iteration for L-BFGS; log
scale): lower sooner is faster progress. The script prints each solver's final training loss and its
accuracy on held-out digits.
"""

import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    StandardScaler().fit_transform(X), y, stratify=y, random_state=0
)
solvers = {
    "sgd, lr=0.05": dict(solver="sgd", learning_rate_init=0.05),
    "momentum, lr=0.01": dict(solver="momentum", learning_rate_init=0.01),
    "adam, lr=0.001": dict(solver="adam", learning_rate_init=0.001),
    "rmsprop, lr=0.001": dict(solver="rmsprop", learning_rate_init=0.001),
    "adagrad, lr=0.01": dict(solver="adagrad", learning_rate_init=0.01),
    # Full batch: each point of its curve is one L-BFGS iteration, not an epoch of batches.
    "lbfgs (iterations)": dict(solver="lbfgs"),
}
fig, ax = plt.subplots()
for name, params in solvers.items():
    model = BackpropClassifier(
        hidden_layer_sizes=(64,),
        batch_size=64,
        max_iter=40,
        tol=0,
        n_iter_no_change=40,
        random_state=0,
        **params,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    ax.plot(range(1, model.n_iter_ + 1), model.loss_curve_, label=name)
    print(
        f"{name:18s} final loss {model.loss_:.4f}, test accuracy {model.score(X_test, y_test):.3f}"
    )
ax.set(xlabel="epoch", ylabel="training loss", yscale="log", title="Solvers on digits")
ax.legend()
plt.show()
