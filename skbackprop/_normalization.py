"""Batch normalization of one hidden layer's pre-activations, forward and backward.

Over the rows ``i`` of a batch, with row weights ``s_i`` summing to one
(``1 / n``, or the sample weights ``w_i / sum(w)``)::

    mu      = sum_i s_i z_i                  var = sum_i s_i (z_i - mu)**2
    z_hat_i = (z_i - mu) / sigma             sigma = sqrt(var + EPSILON)
    y_i     = gamma * z_hat_i + beta         (then the activation, y -> f(y))

The backward pass turns ``g_i = d loss / d y_i`` into ``d loss / d z_i``.
``mu`` and ``sigma`` depend on every row, which adds two terms to the
plain ``gamma * g_i / sigma``::

    d beta  = sum_i g_i                     d gamma = sum_i g_i z_hat_i
    d z_i   = gamma / sigma * (g_i - s_i d beta - s_i z_hat_i d gamma)

(``d sigma / d z_i = s_i z_hat_i`` and ``d mu / d z_i = s_i``; the user
guide derives it). Every ``d z`` sums to zero over the rows, so the
layer's bias, which ``beta`` makes redundant, gets no gradient.

Prediction uses running averages of ``mu`` and ``var`` instead, read
from the fitted arrays on every call (one pass over ``z`` more than a plain
layer); :func:`fold` folds them with ``gamma`` and ``beta`` into the
layer's weights for the ONNX export.
"""

import numpy as np

# Added to the variance: keeps sigma > 0 for a unit constant over the batch.
EPSILON = 1e-5


class BatchStatistics:
    """The buffers one layer's normalisation needs for a batch of ``n_rows`` rows."""

    def __init__(self, n_rows, width, dtype):
        self.centred = np.empty((n_rows, width), dtype=dtype)  # z - mu, kept for backward
        self.mean = np.empty(width, dtype=dtype)
        self.variance = np.empty(width, dtype=dtype)
        self.inv_sigma = np.empty(width, dtype=dtype)
        self.factor = np.empty(width, dtype=dtype)  # gamma / sigma
        self.small = np.empty(width, dtype=dtype)
        # False when the batch was normalised with the running statistics (see forward).
        self.from_batch = True


class BatchNormalization:
    """Normalises ``z`` in place.

    ``gamma``/``beta`` and their gradients are views of the flat buffers.

    ``running_mean``/``running_variance`` are updated by every training batch as
    ``running = momentum * running + (1 - momentum) * batch``.

    ``row_weights`` is the loss's ``scale``: the float ``1 / n`` or a column
    of weights summing to one. The code works with ``z - mu`` rather than
    ``z_hat`` and folds ``1 / sigma`` into per-unit factors, which saves
    passes over the batch.
    """

    def __init__(self, gamma, beta, grad_gamma, grad_beta, running_mean, running_variance):
        self.gamma, self.beta = gamma, beta
        self.grad_gamma, self.grad_beta = grad_gamma, grad_beta
        self.running_mean, self.running_variance = running_mean, running_variance

    def forward(self, z, stats, row_weights, ones, momentum, bias=None):
        """Training: normalise over the batch, and update the running statistics.

        A batch of one row (or of fewer than two rows of positive weight) has
        no variance to normalise by: it is normalised with the running
        statistics instead, which it leaves unchanged, so it still trains
        ``gamma``, ``beta`` and the weights without producing NaN.

        ``bias``, if given, is the layer's bias not yet added to ``z``: it
        cancels in ``z - mu``, so only the running mean gets it (a pass over
        ``z`` saved; the dense layers add theirs, which keeps 0.3's bits).
        """
        if isinstance(row_weights, float):
            stats.from_batch = z.shape[0] > 1
        else:
            stats.from_batch = np.count_nonzero(row_weights) > 1
        if not stats.from_batch:
            if bias is not None:
                z += bias
            self._normalize(z, self.running_mean, self.running_variance, stats)
            return
        self._weighted_column_sums(z, row_weights, ones, stats.mean)
        np.subtract(z, stats.mean, out=stats.centred)
        np.square(stats.centred, out=z)  # z is free now: it becomes y below
        self._weighted_column_sums(z, row_weights, ones, stats.variance)
        self._normalize(z, stats.mean, stats.variance, stats, centred=True)
        if bias is not None:
            stats.mean += bias  # the mean of z + bias, for the running mean
        for running, batch in (
            (self.running_mean, stats.mean),
            (self.running_variance, stats.variance),
        ):
            running *= momentum
            np.multiply(batch, 1.0 - momentum, out=stats.small)
            running += stats.small

    @staticmethod
    def _weighted_column_sums(z, row_weights, ones, out):
        if isinstance(row_weights, float):
            np.dot(ones, z, out=out)
            out *= row_weights
        else:
            np.dot(row_weights[:, 0], z, out=out)

    def _normalize(self, z, mean, variance, stats, centred=False):
        """``z = (z - mean) * gamma / sigma + beta``, keeping ``z - mean`` and ``1 / sigma``."""
        np.add(variance, EPSILON, out=stats.inv_sigma)
        np.sqrt(stats.inv_sigma, out=stats.inv_sigma)
        np.divide(1.0, stats.inv_sigma, out=stats.inv_sigma)
        np.multiply(self.gamma, stats.inv_sigma, out=stats.factor)
        if not centred:
            np.subtract(z, mean, out=stats.centred)
        np.multiply(stats.centred, stats.factor, out=z)
        z += self.beta

    def predict(self, z, intercept, stats):
        """Prediction: add the bias to ``z = x W`` and normalise by the running statistics.

        Computed from the current arrays on every call, as ``z * factor +
        shift`` with ``factor = gamma / sigma`` and ``shift = (b - mu) *
        factor + beta`` per unit: what :func:`fold` folds into the weights,
        for one pass over ``z`` more than a plain layer. ``stats`` may be
        made for zero rows: only its per-unit buffers are used.
        """
        np.add(self.running_variance, EPSILON, out=stats.inv_sigma)
        np.sqrt(stats.inv_sigma, out=stats.inv_sigma)
        np.divide(self.gamma, stats.inv_sigma, out=stats.factor)
        np.subtract(intercept, self.running_mean, out=stats.small)
        stats.small *= stats.factor
        stats.small += self.beta
        z *= stats.factor
        z += stats.small

    def backward(self, delta, stats, row_weights, ones, scratch):
        """Turn ``delta = d loss / d y`` into ``d loss / d z`` in place.

        Also fills the gradients of gamma and beta.
        """
        np.dot(ones, delta, out=self.grad_beta)
        np.multiply(delta, stats.centred, out=scratch)
        np.dot(ones, scratch, out=self.grad_gamma)
        self.grad_gamma *= stats.inv_sigma  # sum of delta * z_hat
        delta *= stats.factor  # gamma / sigma * g
        if not stats.from_batch:  # normalised by constants: no cross-row terms
            return
        # minus gamma / sigma * s_i * (d beta + z_hat_i d gamma), with z_hat = (z - mu) / sigma
        column_term, centred_term = stats.small, stats.mean  # the mean is not needed any more
        np.multiply(stats.factor, self.grad_beta, out=column_term)
        np.multiply(stats.factor, self.grad_gamma, out=centred_term)
        centred_term *= stats.inv_sigma
        if isinstance(row_weights, float):
            column_term *= row_weights
            centred_term *= row_weights
            np.multiply(stats.centred, centred_term, out=scratch)
            scratch += column_term
        else:
            np.multiply(stats.centred, centred_term, out=scratch)
            scratch += column_term
            scratch *= row_weights
        delta -= scratch


def fold(coef, intercept, gamma, beta, running_mean, running_variance):
    """``(W', b')`` computing ``gamma * (x W + b - mu) / sigma + beta`` as ``x W' + b'``."""
    factor = gamma / np.sqrt(running_variance + EPSILON)
    return coef * factor, (intercept - running_mean) * factor + beta
