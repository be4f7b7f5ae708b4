"""Why a network predicts what it does, and how sure it is: the backward pass to the inputs.

Following :mod:`sklearn.inspection`: the fitted estimator first, then X, the
options keyword-only, results as arrays.

- :func:`input_gradients`: ``d F / d x`` for each row, ``F`` the predicted
  probability of a class (classifier) or the prediction (regressor), by one
  backward pass through the network in prediction mode.
- :func:`integrated_gradients`: Sundararajan, Taly & Yan (2017), the
  gradients averaged along the straight path from a baseline to each row
  (Gauss-Legendre's rule on ``n_steps`` points, or the trapezoid rule)
  times ``x - baseline``; the attributions of a row add up to
  ``F(x) - F(baseline)``.
- :func:`predictive_draws`: MC-dropout (Gal & Ghahramani, 2016), predictions
  with dropout active, whose spread measures the network's uncertainty.

The estimator may be a fitted ``Pipeline`` whose last step is a
``BackpropClassifier`` or ``BackpropRegressor``. For the gradients, the steps
before it must be affine per feature (``StandardScaler``, ``MinMaxScaler``,
``MaxAbsScaler``), so that the chain rule reaches the pipeline's own input
features; :func:`predictive_draws` takes any transformers.

:class:`AttributionDisplay` and :class:`PredictionBandDisplay` plot the
answers (extra ``skbackprop[plot]``).
"""

from ._attribution import input_gradients, integrated_gradients, predictive_draws
from ._inspection_plot import AttributionDisplay, PredictionBandDisplay

__all__ = [
    "AttributionDisplay",
    "PredictionBandDisplay",
    "input_gradients",
    "integrated_gradients",
    "predictive_draws",
]
