import numpy as np
import pytest

from skbackprop._activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS


@pytest.mark.parametrize("name", sorted(HIDDEN_ACTIVATIONS))
def test_derivative_from_output_matches_finite_differences(name):
    forward, derivative = HIDDEN_ACTIVATIONS[name]
    rng = np.random.default_rng(0)
    # Stay away from relu's kink at 0, where the derivative is not defined.
    z = rng.uniform(0.1, 3, size=(5, 4)) * rng.choice([-1, 1], size=(5, 4))
    eps = 1e-6

    mask = np.empty(z.shape, bool)

    def f(values):
        out = values.copy()
        forward(out, np.empty_like(out), mask)
        return out

    numeric = (f(z + eps) - f(z - eps)) / (2 * eps)
    # The derivative is given the mask its forward call filled for these rows.
    a = f(z)
    delta = np.ones_like(z)
    derivative(a, delta, np.empty_like(z), mask)
    np.testing.assert_allclose(delta, numeric, rtol=1e-7, atol=1e-9)


def test_hidden_forward_values():
    z = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    expected = {
        "identity": z,
        "logistic": 1 / (1 + np.exp(-z)),
        "tanh": np.tanh(z),
        "relu": np.maximum(z, 0),
        "leaky_relu": np.where(z > 0, z, 0.01 * z),
    }
    for name, (forward, _) in HIDDEN_ACTIVATIONS.items():
        out = z.copy()
        forward(out, np.empty_like(out), np.empty(out.shape, bool))
        np.testing.assert_allclose(out, expected[name], err_msg=name)


def test_relu_derivative_is_zero_where_inactive():
    forward, derivative = HIDDEN_ACTIVATIONS["relu"]
    a = np.array([[-1.0, 1.5, 0.0, 2.0]])
    mask = np.empty(a.shape, bool)
    forward(a, np.empty_like(a), mask)
    delta = np.array([[3.0, 4.0, 5.0, 6.0]])
    derivative(a, delta, np.empty_like(a), mask)
    np.testing.assert_array_equal(delta, [[0.0, 4.0, 0.0, 6.0]])


def test_softmax_is_stable_and_normalised():
    z = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]])
    out = np.empty_like(z)
    OUTPUT_ACTIVATIONS["softmax"](z, out, np.empty((2, 2)))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    np.testing.assert_allclose(out[1], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())
    np.testing.assert_allclose(out[0], [1.0, 0.0, 0.0])


def test_output_logistic_and_identity():
    z = np.array([[-800.0, 0.0, 800.0]])
    out = np.empty_like(z)
    OUTPUT_ACTIVATIONS["logistic"](z, out, np.empty((1, 2)))
    np.testing.assert_allclose(out, [[0.0, 0.5, 1.0]])
    OUTPUT_ACTIVATIONS["identity"](z, out, np.empty((1, 2)))
    np.testing.assert_array_equal(out, z)
