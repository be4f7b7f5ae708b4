"""
Prediction intervals with quantile loss
=======================================

A regression whose noise grows with ``x``: a single prediction says nothing of
how far off it may be. ``BackpropRegressor(loss="quantile", quantile=(0.05, 0.5,
0.95))`` fits one network with an output per level, trained on the pinball
loss of each, so one fit gives the median and a 90% prediction interval. The
levels come back sorted, so the interval never turns inside out.

The numbers printed are measured on held-out data: the share of targets below
each predicted quantile (a well-calibrated 0.05 level has 5% of the targets
below it, the 0.95 level 95%), and the share inside the interval, to compare
with the 90% it claims. The interval should widen with ``x`` as the noise
does; a squared-error network's single prediction cannot show that.
"""

import matplotlib.pyplot as plt
import numpy as np

from skbackprop import BackpropRegressor

rng = np.random.default_rng(0)
n = 3000
x = rng.uniform(0, 10, size=n)
# A smooth signal with noise whose spread grows with x.
y = np.sin(x) * 2 + x / 2 + rng.normal(size=n) * (0.1 + 0.25 * x)
X = x.reshape(-1, 1)
train, test = np.arange(n) < 2000, np.arange(n) >= 2000

levels = (0.05, 0.5, 0.95)
model = BackpropRegressor(
    hidden_layer_sizes=(64, 64),
    loss="quantile",
    quantile=levels,
    learning_rate_init=0.01,
    max_iter=300,
    early_stopping=True,
    n_iter_no_change=20,
    random_state=0,
).fit(X[train] / 10, y[train])

predicted = model.predict(X[test] / 10)
for column, level in enumerate(levels):
    below = np.mean(y[test] <= predicted[:, column])
    print(f"level {level:.2f}: {below:.3f} of the held-out targets lie below it")
inside = np.mean((predicted[:, 0] <= y[test]) & (y[test] <= predicted[:, 2]))
print(f"held-out coverage of the 90% interval: {inside:.3f}")
narrow, wide = x[test] < 2, x[test] > 8
width = predicted[:, 2] - predicted[:, 0]
print(f"mean interval width where x < 2: {width[narrow].mean():.2f}")
print(f"mean interval width where x > 8: {width[wide].mean():.2f}")

grid = np.linspace(0, 10, 400).reshape(-1, 1)
band = model.predict(grid / 10)
fig, ax = plt.subplots(layout="constrained")
ax.scatter(x[test], y[test], s=4, color="grey", alpha=0.4, label="held-out data")
ax.fill_between(grid[:, 0], band[:, 0], band[:, 2], alpha=0.3, label="0.05 to 0.95 quantile")
ax.plot(grid[:, 0], band[:, 1], color="tab:blue", label="median (0.5 quantile)")
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.set_title(f"90% prediction interval, held-out coverage {inside:.1%}")
ax.legend(loc="upper left")
plt.show()
