import math

import numpy as np
import pytest
from scipy.special import erf

from skbackprop._activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS


def _mask(name, shape, dtype=np.float64):
    mask_dtype = HIDDEN_ACTIVATIONS[name].mask_dtype
    return np.empty(shape, dtype if mask_dtype is float else mask_dtype)


@pytest.mark.parametrize("name", sorted(HIDDEN_ACTIVATIONS))
def test_derivative_from_output_matches_finite_differences(name):
    forward, derivative, _ = HIDDEN_ACTIVATIONS[name]
    rng = np.random.default_rng(0)
    # Stay away from relu's kink at 0, where the derivative is not defined.
    z = rng.uniform(0.1, 3, size=(5, 4)) * rng.choice([-1, 1], size=(5, 4))
    eps = 1e-6

    mask = _mask(name, z.shape)

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


Z = np.array([[-40.0, -2.0, -0.5, 0.0, 0.5, 2.0, 40.0]])
# Each activation by its textbook formula.
EXPECTED = {
    "identity": Z,
    "logistic": 1 / (1 + np.exp(-Z)),
    "tanh": np.tanh(Z),
    "relu": np.maximum(Z, 0),
    "leaky_relu": np.where(Z > 0, Z, 0.01 * Z),
    "elu": np.where(Z > 0, Z, np.exp(np.minimum(Z, 0)) - 1),
    "gelu": Z * 0.5 * (1 + erf(Z / math.sqrt(2))),
    "silu": Z / (1 + np.exp(-Z)),
    "softplus": np.log1p(np.exp(np.minimum(Z, 30))) + np.maximum(Z - 30, 0),
}


@pytest.mark.parametrize("training", [True, False])
def test_hidden_forward_values(training):
    assert set(EXPECTED) == set(HIDDEN_ACTIVATIONS)
    for name, (forward, _, _) in HIDDEN_ACTIVATIONS.items():
        out = Z.copy()
        # Prediction passes no mask: nothing is kept for a backward pass.
        forward(out, np.empty_like(out), _mask(name, out.shape) if training else None)
        # atol: SiLU's sigmoid through tanh is 0 below z = -37, where z sigma(z) is < 1e-15.
        np.testing.assert_allclose(out, EXPECTED[name], rtol=1e-12, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("name", ["elu", "gelu", "silu", "softplus"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_new_activations_stay_finite_and_exact_at_the_extremes(name, dtype):
    forward, derivative, _ = HIDDEN_ACTIVATIONS[name]
    z = np.array([[-1e4, -80.0, -1e-8, 0.0, 1e-8, 80.0, 1e4]], dtype=dtype)
    a, mask = z.copy(), _mask(name, z.shape, dtype)
    with np.errstate(all="raise", under="ignore"):
        forward(a, np.empty_like(a), mask)
        delta = np.ones_like(z)
        derivative(a, delta, np.empty_like(a), mask)
    assert a.dtype == dtype and np.isfinite(a).all() and np.isfinite(delta).all()
    np.testing.assert_allclose(a[0, -1], 1e4, rtol=1e-6)  # each is ~z for large z
    np.testing.assert_allclose(delta[0, -1], 1.0, rtol=1e-6)  # and its slope 1
    assert abs(delta[0, 0]) < 1e-6  # and flat far below 0


def test_relu_derivative_is_zero_where_inactive():
    forward, derivative, _ = HIDDEN_ACTIVATIONS["relu"]
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


@pytest.mark.parametrize("name", ["elu", "gelu", "silu", "softplus", "relu", "tanh"])
def test_forward_and_derivative_match_pytorch(name):
    """The same values through PyTorch's modules and autograd (skipped without PyTorch)."""
    torch = pytest.importorskip("torch")
    modules = {
        "elu": torch.nn.ELU(alpha=1.0),
        "gelu": torch.nn.GELU(approximate="none"),
        "silu": torch.nn.SiLU(),
        "softplus": torch.nn.Softplus(beta=1.0, threshold=1e9),
        "relu": torch.nn.ReLU(),
        "tanh": torch.nn.Tanh(),
    }
    z = np.random.default_rng(0).normal(scale=3, size=(6, 5))
    forward, derivative, _ = HIDDEN_ACTIVATIONS[name]
    a, mask = z.copy(), _mask(name, z.shape)
    forward(a, np.empty_like(a), mask)
    upstream = np.random.default_rng(1).normal(size=z.shape)
    delta = upstream.copy()
    derivative(a, delta, np.empty_like(a), mask)
    z_torch = torch.tensor(z, requires_grad=True)
    out = modules[name](z_torch)
    out.backward(torch.tensor(upstream))
    np.testing.assert_allclose(a, out.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(delta, z_torch.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_float32_gelu_is_accurate_to_float32():
    """float32 GELU uses a rational erf: Phi within 3e-7 of scipy's float64 ndtr everywhere
    (2.5 float32 ulps at 1), and f and f' within that times max(1, |z|)."""
    from scipy.special import ndtr

    from skbackprop._activations import _normal_cdf_float32

    z = np.linspace(-12, 12, 480_000).astype(np.float32)
    exact = ndtr(z.astype(np.float64))
    cdf = np.empty_like(z)
    _normal_cdf_float32(z, cdf)
    assert np.abs(cdf - exact).max() <= 3e-7
    forward, derivative, _ = HIDDEN_ACTIVATIONS["gelu"]
    a, mask = z.reshape(40, -1).copy(), np.empty((40, z.size // 40), np.float32)
    forward(a, np.empty_like(a), mask)
    delta = np.ones_like(a)
    derivative(a, delta, np.empty_like(a), mask)
    z64 = z.astype(np.float64)
    scale = np.maximum(1.0, np.abs(z64))
    slope = exact + z64 * np.exp(-0.5 * z64**2) / math.sqrt(2 * math.pi)
    assert a.dtype == delta.dtype == np.float32
    assert (np.abs(a.ravel() - z64 * exact) <= 3e-7 * scale + 1e-12).all()
    assert (np.abs(delta.ravel() - slope) <= 4e-7 * scale).all()


def test_float32_gelu_matches_pytorchs_float32_gelu():
    torch = pytest.importorskip("torch")
    z = np.random.default_rng(0).normal(scale=3, size=(64, 33)).astype(np.float32)
    forward, derivative, _ = HIDDEN_ACTIVATIONS["gelu"]
    a, mask = z.copy(), _mask("gelu", z.shape, np.float32)
    forward(a, np.empty_like(a), mask)
    upstream = np.random.default_rng(1).normal(size=z.shape).astype(np.float32)
    delta = upstream.copy()
    derivative(a, delta, np.empty_like(a), mask)
    z_torch = torch.tensor(z, requires_grad=True)
    out = torch.nn.GELU(approximate="none")(z_torch)
    out.backward(torch.tensor(upstream))
    np.testing.assert_allclose(a, out.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(delta, z_torch.grad.numpy(), rtol=1e-5, atol=1e-6)
