"""
Training deep networks: initialisation, batch normalization, residual connections
=================================================================================

Twenty hidden layers of 64 units on the digits (Adam at 1e-3, batches of 200,
50 epochs, 30% of the rows held out). Stacked that deep, a plain network of
logistic units does not learn at all: the logistic's derivative is at most
1/4, so the error shrinks at every layer on its way back and the first layers
receive next to no gradient (vanishing gradients, drawn below by
``GradientFlowDisplay``). tanh, whose derivative is 1 at zero, still learns
at this depth. Three parameters help:

- ``init``: He initialisation (``"he_uniform"``) keeps the variance of ReLU
  activations steady from layer to layer, where the default Glorot scheme,
  scaled for tanh and logistic, lets it decay;
- ``batch_normalization=True`` re-centres and re-scales every layer's
  pre-activations over the batch, so no layer drifts into saturation;
- ``residual=True`` adds each layer's input to its output, so the error has an
  identity path back to the first layers.

The script prints each network's test accuracy (fraction of held-out digits
classified correctly; chance is 0.10) after 50 epochs. For reference, an
equivalent PyTorch network reached 0.952 with ReLU + He + batch normalization
+ residual, 0.974 with logistic + Glorot + batch normalization, 0.919 with
plain ReLU + He and 0.10 with plain logistic, and 0.65 with residual
connections but no normalization; the numbers here are close to those.
Residual connections alone are not enough: without normalization each layer
adds its output to a sum that grows with depth. Batch normalization without
the skips did less well on this problem with ReLU (about 0.7: very deep
normalised networks without skips are known to have exploding gradients at
the start); with logistic units it is the best of all.
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
    StandardScaler().fit_transform(X), y, test_size=0.3, stratify=y, random_state=0
)

NETWORKS = {
    "logistic, Glorot": dict(activation="logistic"),
    "tanh, Glorot": dict(activation="tanh"),
    "ReLU, He": dict(activation="relu", init="he_uniform"),
    "ReLU, He, residual": dict(activation="relu", init="he_uniform", residual=True),
    "ReLU, He, batch norm, residual": dict(
        activation="relu", init="he_uniform", batch_normalization=True, residual=True
    ),
    "logistic, Glorot, batch norm": dict(activation="logistic", batch_normalization=True),
}

models = {}
print("test accuracy after 50 epochs (chance: 0.10)")
for name, options in NETWORKS.items():
    model = BackpropClassifier(
        hidden_layer_sizes=(64,) * 20, max_iter=50, random_state=0, **options
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    models[name] = model
    print(f"  {name:32s} {model.score(X_test, y_test):.3f}")

fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
for name, model in models.items():
    axes[0].plot(model.loss_curve_, label=f"{name} ({model.score(X_test, y_test):.2f})")
axes[0].set(xlabel="epoch", ylabel="training loss", yscale="log", title="Learning curves")
axes[0].legend(fontsize="small")
for ax, name in zip(axes[1:], ["logistic, Glorot", "logistic, Glorot, batch norm"], strict=True):
    GradientFlowDisplay.from_estimator(models[name], ax=ax)
    ax.set_title(f"Gradient flow: {name}")
fig.tight_layout()

# Each line of the two right-hand plots is one layer's gradient RMS per epoch:
# without normalization the first layers' lines lie orders of magnitude below
# the output layer's.
plain, normalised = models["logistic, Glorot"], models["logistic, Glorot, batch norm"]
for name, model in [("without", plain), ("with", normalised)]:
    first, last = model.gradient_norms_[0, 0], model.gradient_norms_[0, -1]
    print(
        f"first epoch, {name} batch norm: first layer's gradient RMS is "
        f"{first / last:.1e} times the output layer's"
    )
plt.show()
