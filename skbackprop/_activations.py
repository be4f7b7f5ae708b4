"""Activation functions and their derivatives, applied in place.

Every hidden activation is a pair ``(forward, derivative)``:

- ``forward(z, scratch, mask)`` overwrites the pre-activation ``z`` with ``f(z)``;
- ``derivative(a, delta, scratch, mask)`` multiplies ``delta`` by ``f'(z)``
  written in terms of the output ``a = f(z)``, so the forward pass only has
  to keep activations, never pre-activations.

``scratch`` (float) and ``mask`` are buffers shaped like ``z``; they let the
training loop run without allocating a temporary on every batch.
``derivative`` is given the ``mask`` that ``forward`` filled for the same
rows: relu records there which units are active, so its backward pass is a
single multiplication (multiplying by a bool mask is also faster in numpy
than ``maximum(z, 0)`` or ``sign(a)``). GELU and SiLU cannot write ``f'``
in terms of ``f`` (neither is invertible), so their ``mask`` is a float
buffer (``mask_dtype``) in which the forward pass leaves ``f'(z)`` itself.

Output activations map the last layer's pre-activation (the logits) to the
prediction; their derivatives never appear explicitly because each one is
paired with its canonical loss in :mod:`skbackprop._losses`.
"""

import math
import threading
from typing import NamedTuple

import numpy as np
from scipy.special import expit, ndtr

LEAKY_RELU_SLOPE = 0.01


class HiddenActivation(NamedTuple):
    """A hidden activation and its derivative, each working in place.

    ``forward(z, scratch, mask)`` overwrites ``z`` with ``f(z)``; it may write
    ``scratch`` and ``mask`` and nothing else. ``mask`` is None when no
    backward pass follows (prediction). ``derivative(a, delta, scratch,
    mask)`` multiplies ``delta`` by ``f'(z)`` in place, reading ``a = f(z)``
    and the ``mask`` the forward pass left; it may write ``scratch``. To add
    an activation: the two functions, an entry in ``HIDDEN_ACTIVATIONS``, and
    its row in ``tests/test_activations.py`` (the gradient check covers it).
    ``mask_dtype`` is the dtype of ``mask``: bool, or the network's float
    dtype (``float``) for an activation that keeps ``f'(z)`` there.
    """

    forward: object
    derivative: object
    mask_dtype: type = bool


def identity(z, scratch, mask):
    pass


def identity_derivative(a, delta, scratch, mask):
    pass


def logistic(z, scratch, mask):
    expit(z, out=z)


def logistic_derivative(a, delta, scratch, mask):
    # f'(z) = f(z) * (1 - f(z))
    np.subtract(1, a, out=scratch)
    scratch *= a
    delta *= scratch


def tanh(z, scratch, mask):
    np.tanh(z, out=z)


def tanh_derivative(a, delta, scratch, mask):
    # f'(z) = 1 - f(z)**2
    np.square(a, out=scratch)
    np.subtract(1, scratch, out=scratch)
    delta *= scratch


def relu(z, scratch, mask):
    if mask is None:  # predicting: nothing to remember for a backward pass
        np.maximum(z, 0, out=z)
        return
    np.greater(z, 0, out=mask)
    np.multiply(z, mask, out=z)


def relu_derivative(a, delta, scratch, mask):
    # f'(z) is 1 where the unit is active and 0 elsewhere: the mask relu left.
    np.multiply(delta, mask, out=delta)


def leaky_relu(z, scratch, mask):
    np.multiply(z, LEAKY_RELU_SLOPE, out=scratch)
    np.maximum(z, scratch, out=z)


def leaky_relu_derivative(a, delta, scratch, mask):
    # a > 0 exactly where z > 0 since the slope is positive: f' = slope + (1 - slope) [a > 0].
    np.greater(a, 0, out=scratch)
    scratch *= 1 - LEAKY_RELU_SLOPE
    scratch += LEAKY_RELU_SLOPE
    delta *= scratch


def elu(z, scratch, mask):
    # f = z for z > 0, e^z - 1 otherwise: max(z, expm1(min(z, 0))), which never overflows.
    np.minimum(z, 0, out=scratch)
    np.expm1(scratch, out=scratch)
    np.maximum(z, scratch, out=z)


def elu_derivative(a, delta, scratch, mask):
    # f' = 1 for z > 0, e^z = a + 1 otherwise; a > 0 exactly where z > 0: min(a, 0) + 1.
    np.minimum(a, 0, out=scratch)
    scratch += 1
    delta *= scratch


_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)


# erf(x) ~ x P(x^2) / Q(x^2) on [-4, 4] (+-1 beyond, in float32): the rational
# approximation Eigen and XLA use for float32, coefficients of x^1, x^3 ... x^13 and
# of x^0, x^2 ... x^8. Max error 4.5e-7 on erf, 2.3e-7 on Phi (2 float32 ulps at 1).
_ERF_P = (
    -1.60960333262415e-02,
    -2.95459980854025e-03,
    -7.34990630326855e-04,
    -5.69250639462346e-05,
    -2.10102402082508e-06,
    2.77068142495902e-08,
    -2.72614225801306e-10,
)
_ERF_Q = (
    -1.42647390514189e-02,
    -7.37332916720468e-03,
    -1.68282697438203e-03,
    -2.13374055278905e-04,
    -1.45660718464996e-05,
)
# Elements per block: two block-sized temporaries per thread, in cache, for any batch.
_CDF_BLOCK = 32768
_cdf_buffers = threading.local()


def _polynomial(s, coefficients, out):
    """``out = sum(c_k s^k)`` by Horner's rule, in place."""
    np.multiply(s, coefficients[-1], out=out)
    out += coefficients[-2]
    for coefficient in coefficients[-3::-1]:
        out *= s
        out += coefficient
    return out


def _normal_cdf_float32(z, out):
    """Phi(z) into ``out`` for float32 ``z``: scipy's ndtr is 3-8x slower in float32.

    ``(1 + erf(z / sqrt 2)) / 2`` with the rational erf above, block by block.
    """
    buffers = getattr(_cdf_buffers, "arrays", None)
    if buffers is None:
        buffers = _cdf_buffers.arrays = tuple(np.empty(_CDF_BLOCK, np.float32) for _ in "sq")
    square, denominator = buffers
    flat_z, flat_out = z.reshape(-1), out.reshape(-1)
    for start in range(0, flat_z.size, _CDF_BLOCK):
        zb = flat_z[start : start + _CDF_BLOCK]
        ob = flat_out[start : start + _CDF_BLOCK]
        s, q = square[: zb.size], denominator[: zb.size]
        np.multiply(zb, zb, out=s)
        s *= 0.5
        np.minimum(s, 16.0, out=s)  # x^2 with x = z / sqrt 2 clamped to [-4, 4]
        _polynomial(s, _ERF_P, ob)
        ob /= _polynomial(s, _ERF_Q, q)
        np.multiply(zb, _INV_SQRT_2, out=s)
        np.clip(s, -4.0, 4.0, out=s)
        ob *= s  # erf(x)
        ob *= 0.5
        ob += 0.5


def gelu(z, scratch, mask):
    # The exact GELU, f = z Phi(z) with Phi the standard normal CDF (PyTorch's default):
    # scipy's Phi in float64, a rational approximation accurate to float32 in float32.
    if z.dtype == np.float32 and z.flags.c_contiguous and scratch.flags.c_contiguous:
        _normal_cdf_float32(z, scratch)
    else:
        ndtr(z, out=scratch)
    if mask is not None:
        # f' = Phi(z) + z phi(z), kept in the float mask for the backward pass.
        np.square(z, out=mask)
        mask *= -0.5
        np.exp(mask, out=mask)
        mask *= _INV_SQRT_2PI
        mask *= z
        mask += scratch
    z *= scratch


def _sigmoid(z, out):
    # sigma(z) = (1 + tanh(z / 2)) / 2: numpy's tanh is vectorised, scipy's expit is not
    # (a sixth of expit's time on a 256 x 256 float32 batch). It rounds to 0 below z = -37
    # (-17 in float32), where sigma is under 1e-16 (1e-7): nothing a gradient step sees.
    np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5


def silu(z, scratch, mask):
    # f = z sigma(z) (swish); f' = sigma(z) (1 + z (1 - sigma(z))), kept in the float mask.
    _sigmoid(z, scratch)
    if mask is not None:
        np.subtract(1, scratch, out=mask)
        mask *= z
        mask += 1
        mask *= scratch
    z *= scratch


def derivative_from_mask(a, delta, scratch, mask):
    # The forward pass left f'(z) in the float mask.
    delta *= mask


def softplus(z, scratch, mask):
    # f = log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow, exact where f is tiny,
    # and a seventh of np.logaddexp's time.
    np.abs(z, out=scratch)
    np.negative(scratch, out=scratch)
    np.exp(scratch, out=scratch)
    np.log1p(scratch, out=scratch)
    np.maximum(z, 0, out=z)
    z += scratch


def softplus_derivative(a, delta, scratch, mask):
    # f' = sigma(z) = 1 - e^(-a), as -expm1(-a): exact where a is tiny too.
    np.negative(a, out=scratch)
    np.expm1(scratch, out=scratch)
    np.negative(scratch, out=scratch)
    delta *= scratch


HIDDEN_ACTIVATIONS = {
    "identity": HiddenActivation(identity, identity_derivative),
    "logistic": HiddenActivation(logistic, logistic_derivative),
    "tanh": HiddenActivation(tanh, tanh_derivative),
    "relu": HiddenActivation(relu, relu_derivative),
    "leaky_relu": HiddenActivation(leaky_relu, leaky_relu_derivative),
    "elu": HiddenActivation(elu, elu_derivative),
    "gelu": HiddenActivation(gelu, derivative_from_mask, float),
    "silu": HiddenActivation(silu, derivative_from_mask, float),
    "softplus": HiddenActivation(softplus, softplus_derivative),
}


def softmax(z, out, row_stats):
    """Row-wise softmax of the logits ``z`` into ``out``.

    ``row_stats`` (n, 2) receives each row's maximum and its sum of
    ``exp(z - max)``, from which the cross-entropy gets log-sum-exp for free.
    """
    row_max, row_sum = row_stats[:, :1], row_stats[:, 1:]
    # Subtracting the row maximum keeps exp from overflowing. Ufunc reductions
    # rather than np.max / np.sum: their wrappers' overhead shows on small batches.
    np.maximum.reduce(z, axis=1, keepdims=True, out=row_max)
    np.subtract(z, row_max, out=out)
    np.exp(out, out=out)
    np.add.reduce(out, axis=1, keepdims=True, out=row_sum)
    out /= row_sum


def output_logistic(z, out, row_stats):
    expit(z, out=out)


def output_identity(z, out, row_stats):
    np.copyto(out, z)


def output_exp(z, out, row_stats):
    # Overflow gives inf, which the training loss reports as divergence.
    np.exp(z, out=out)


OUTPUT_ACTIVATIONS = {
    "softmax": softmax,
    "logistic": output_logistic,
    "identity": output_identity,
    "exp": output_exp,
}
