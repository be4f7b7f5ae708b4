"""Initial weights and biases, scaled to keep activations' variance steady through the layers.

Each initialiser maps ``(fan_in, fan_out, rng, activation)`` to the weight
matrix and the bias vector of one layer, drawn in float64 (so float32 and
float64 networks start from the same values):

- ``glorot_uniform`` (default): scikit-learn's MLP's scheme exactly, weights
  and biases uniform in ``+-sqrt(6 / (fan_in + fan_out))``, with 2 instead of 6
  when the hidden activation is logistic. It keeps the variance of the signal
  roughly constant forwards and backwards for symmetric, near-linear
  activations (tanh, logistic, identity).
- ``glorot_normal``: the same variance from a normal distribution.
- ``he_uniform``, ``he_normal``: variance ``2 / fan_in``, twice Glorot's, which
  relu's zeroing of half its inputs calls for in deep relu networks; biases 0.

To add one: a function here, an entry in ``INITIALIZERS``, a test in
``tests/test_initializers.py``.
"""

import math

import numpy as np


def _glorot_factor(activation):
    # scikit-learn's factor: logistic's slope at 0 is 1/4, tanh's and identity's 1.
    return 2.0 if activation == "logistic" else 6.0


def glorot_uniform(fan_in, fan_out, rng, activation):
    bound = math.sqrt(_glorot_factor(activation) / (fan_in + fan_out))
    return rng.uniform(-bound, bound, (fan_in, fan_out)), rng.uniform(-bound, bound, fan_out)


def glorot_normal(fan_in, fan_out, rng, activation):
    # A uniform on +-b has variance b**2 / 3: the same variance as glorot_uniform.
    std = math.sqrt(_glorot_factor(activation) / (3.0 * (fan_in + fan_out)))
    return rng.normal(0.0, std, (fan_in, fan_out)), rng.normal(0.0, std, fan_out)


def he_uniform(fan_in, fan_out, rng, activation):
    bound = math.sqrt(6.0 / fan_in)
    return rng.uniform(-bound, bound, (fan_in, fan_out)), 0.0


def he_normal(fan_in, fan_out, rng, activation):
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), (fan_in, fan_out)), 0.0


INITIALIZERS = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
}


def user_initializer(function):
    """An initialiser from a user's ``function(fan_in, fan_out, rng) -> weights``; biases 0.

    What the function returns is checked: numbers (not None, strings or
    complex), of shape ``(fan_in, fan_out)`` exactly (a vector would be
    broadcast into identical units), and finite.
    """

    def initializer(fan_in, fan_out, rng, activation):
        weights = function(fan_in, fan_out, rng)
        layer = f"a layer of fan_in={fan_in}, fan_out={fan_out}"
        try:
            array = np.asarray(weights)
        except ValueError:  # a ragged nesting of lists
            array = np.asarray(None)
        if array.dtype.kind not in "iuf":
            raise ValueError(
                f"init must return real numbers, an array of shape (fan_in, fan_out); for "
                f"{layer} it returned {type(weights).__name__} of {array.dtype} values."
            )
        if array.shape != (fan_in, fan_out):
            raise ValueError(
                f"init must return an array of shape (fan_in, fan_out) = ({fan_in}, {fan_out}) "
                f"for {layer}; it returned shape {array.shape}."
            )
        if not np.isfinite(array).all():
            raise ValueError(f"init returned non-finite weights (inf or NaN) for {layer}.")
        return array.astype(np.float64, copy=False), 0.0

    return initializer
