"""
How sure is the network? MC-dropout where the data stops
========================================================

A network trained with dropout can be read as an approximate Bayesian model
(Gal & Ghahramani, 2016): predicting many times with dropout still active
draws from its predictive distribution, and the spread of those draws is its
uncertainty. :func:`skbackprop.inspection.predictive_draws` returns the draws,
and ``BackpropRegressor.predict(X, return_std=True)`` their mean and standard
deviation, as ``GaussianProcessRegressor.predict`` does.

The training data below has a gap between x = -1 and x = 1. Where it has
data, the draws agree; in the gap, nothing constrains the network and they
fan out. The printed numbers are the mean predicted standard deviation in the
middle of the gap and on the training range, and their ratio.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skbackprop import BackpropRegressor
from skbackprop.inspection import PredictionBandDisplay

rng = np.random.default_rng(0)
x = np.concatenate([rng.uniform(-3, -1, 300), rng.uniform(1, 3, 300)])
y = np.sin(2 * x) + rng.normal(scale=0.1, size=len(x))

model = BackpropRegressor(
    hidden_layer_sizes=(64, 64, 64),
    activation="gelu",
    dropout=0.2,
    learning_rate_init=0.01,
    max_iter=300,
    n_iter_no_change=300,
    random_state=0,
)
with warnings.catch_warnings():
    # The whole budget on purpose (dropout makes the loss too noisy to stop on).
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(x.reshape(-1, 1), y)

grid = np.linspace(-3, 3, 241).reshape(-1, 1)
mean, std = model.predict(grid, return_std=True)
in_gap, on_data = np.abs(grid[:, 0]) < 0.4, np.abs(grid[:, 0]) > 1.2
print(f"mean predicted std in the middle of the gap: {std[in_gap].mean():.3f}")
print(f"mean predicted std on the training range: {std[on_data].mean():.3f}")
print(f"ratio: {std[in_gap].mean() / std[on_data].mean():.1f}")

fig, ax = plt.subplots(layout="constrained")
ax.scatter(x, y, s=4, color="grey", alpha=0.5, label="training data")
PredictionBandDisplay.from_estimator(model, grid, random_state=0, ax=ax)
ax.axvspan(-1, 1, color="tab:orange", alpha=0.08, label="no training data")
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.set_title("MC-dropout: 5% to 95% of 100 draws")
ax.legend(loc="lower right", fontsize="small")
plt.show()
