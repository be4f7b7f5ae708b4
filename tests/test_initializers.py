"""Initial weights: each scheme's bounds or variance, and scikit-learn's exact default."""

import warnings

import numpy as np
import pytest
from helpers import dense_network
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from skbackprop import BackpropClassifier
from skbackprop._initializers import INITIALIZERS, user_initializer

FAN_IN, FAN_OUT = 400, 300


def _draw(name, activation="relu"):
    return INITIALIZERS[name](FAN_IN, FAN_OUT, np.random.default_rng(0), activation)


@pytest.mark.parametrize(
    "activation, factor", [("relu", 6.0), ("tanh", 6.0), ("identity", 6.0), ("logistic", 2.0)]
)
def test_glorot_uniform_is_scikit_learns_bound_for_weights_and_biases(activation, factor):
    weights, biases = _draw("glorot_uniform", activation)
    bound = np.sqrt(factor / (FAN_IN + FAN_OUT))
    for drawn in (weights, biases):
        assert np.abs(drawn).max() <= bound
        assert np.abs(drawn).max() == pytest.approx(bound, rel=0.02)


def test_the_normal_and_he_schemes_have_their_variances():
    weights, biases = _draw("glorot_normal")
    assert weights.var() == pytest.approx(2 / (FAN_IN + FAN_OUT), rel=0.02)
    assert biases.var() == pytest.approx(2 / (FAN_IN + FAN_OUT), rel=0.2)
    for name in ("he_uniform", "he_normal"):
        weights, biases = _draw(name)
        assert weights.var() == pytest.approx(2 / FAN_IN, rel=0.02) and biases == 0.0


def test_a_network_draws_every_layer_with_its_init():
    network = dense_network([FAN_IN, FAN_OUT, 10], "tanh", "softmax", np.float64)
    network.initialize(np.random.default_rng(0), "he_uniform")
    assert np.abs(network.coefs[0]).max() == pytest.approx(np.sqrt(6 / FAN_IN), rel=0.01)
    assert np.abs(network.coefs[1]).max() == pytest.approx(np.sqrt(6 / FAN_OUT), rel=0.05)
    assert (network.params[network.n_weights :] == 0).all()


def test_a_callable_init_draws_the_weights_and_biases_start_at_zero():
    calls = []

    def constant(fan_in, fan_out, rng):
        calls.append((fan_in, fan_out))
        return np.full((fan_in, fan_out), 0.01)

    X, y = load_iris(return_X_y=True)
    model = BackpropClassifier(init=constant, hidden_layer_sizes=(5,), max_iter=1)
    model.fit(X, y)
    assert calls == [(4, 5), (5, 3)]
    # The weights it drew are where training started, the biases at zero.
    start = dense_network([4, 5, 3], "relu", "softmax", np.float64).initialize(
        np.random.default_rng(0), INITIALIZERS["glorot_uniform"]
    )
    start.initialize(np.random.default_rng(0), user_initializer(constant))
    assert all(np.all(coef == 0.01) for coef in start.coefs)
    assert all(np.all(intercept == 0.0) for intercept in start.intercepts)


@pytest.mark.parametrize(
    "returned, message",
    [
        (
            lambda fan_in, fan_out: np.zeros(fan_out),
            r"shape \(fan_in, fan_out\) = \(4, 5\).*\(5,\)",
        ),
        (lambda fan_in, fan_out: np.zeros((fan_out, fan_in)), r"returned shape \(5, 4\)"),
        (lambda fan_in, fan_out: np.full((fan_in, fan_out), np.nan), "non-finite weights"),
        (lambda fan_in, fan_out: np.full((fan_in, fan_out), np.inf), "non-finite weights"),
        (lambda fan_in, fan_out: None, "real numbers.*NoneType"),
        (lambda fan_in, fan_out: "weights", "real numbers.*str"),
        (lambda fan_in, fan_out: np.ones((fan_in, fan_out)) * 1j, "real numbers.*complex128"),
        (lambda fan_in, fan_out: [[0.0] * fan_out, [0.0]], "real numbers.*list"),
    ],
    ids=["vector", "transposed", "nan", "inf", "None", "string", "complex", "ragged"],
)
def test_what_a_callable_init_returns_is_checked_and_the_error_names_init(returned, message):
    def init(fan_in, fan_out, rng):
        return returned(fan_in, fan_out)

    X, y = load_iris(return_X_y=True)
    model = BackpropClassifier(init=init, hidden_layer_sizes=(5,), max_iter=1)
    with pytest.raises(ValueError, match="^init .*" + message):
        model.fit(X, y)
    assert not hasattr(model, "coefs_")


def test_the_default_starts_where_scikit_learns_mlp_starts():
    # Same scheme, different random streams: the first weights agree in distribution.
    X, y = load_iris(return_X_y=True)
    ours = BackpropClassifier(hidden_layer_sizes=(300,), max_iter=1, random_state=0)
    theirs = MLPClassifier(hidden_layer_sizes=(300,), max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours_first = ours.set_params(learning_rate_init=1e-12).fit(X, y)
        theirs_first = theirs.set_params(learning_rate_init=1e-12).fit(X, y)
    for mine, sklearns in zip(
        ours_first.coefs_ + ours_first.intercepts_,
        theirs_first.coefs_ + theirs_first.intercepts_,
        strict=True,
    ):
        assert mine.shape == sklearns.shape
        assert np.abs(mine).max() == pytest.approx(np.abs(sklearns).max(), rel=0.05)
        assert mine.std() == pytest.approx(sklearns.std(), rel=0.15)
