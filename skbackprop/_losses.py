"""Losses, each paired with the output activation it is canonical for.

With a canonical pair the derivative of the loss with respect to the logits
``z`` (the last layer's pre-activation) is simply ``p - y``, which is why the
output activations in :mod:`skbackprop._activations` carry no derivative.

``value`` must follow the output activation on the same logits (the
softmax leaves row statistics in ``stats`` for it). Both methods take
``scale``: the weight of each sample in the batch mean, either the Python float
``1 / n_batch`` or a column ``w_i / sum(w)`` of shape ``(n_batch, 1)``.
The weighted data loss of a batch is ``sum_i scale_i * loss_i``, and
``output_delta`` is its exact gradient with respect to ``z``.
The losses match scikit-learn's MLP definitions so ``loss_`` is comparable.
"""

import numpy as np


def _total(array):
    # The ufunc reduction itself: ndarray.sum's wrapper costs more than the
    # sum of a small batch's losses.
    return float(np.add.reduce(array, axis=None))


class _CanonicalLoss:
    def output_delta(self, output, y, scale, out):
        """Write ``d loss / d z = (p - y) * scale`` into ``out``."""
        np.subtract(output, y, out=out)
        out *= scale


class SquaredError(_CanonicalLoss):
    """Half the squared error, averaged over outputs: ``sum_k (p_k - y_k)**2 / (2 K)``."""

    def output_delta(self, output, y, scale, out):
        super().output_delta(output, y, scale, out)
        # The loss averages over the K outputs, so its gradient does too.
        if out.shape[1] > 1:
            out /= out.shape[1]

    def value(self, logits, output, y, scale, scratch, stats):
        np.subtract(output, y, out=scratch)
        np.square(scratch, out=scratch)
        scratch *= scale
        return _total(scratch) / (2 * y.shape[1])


class BinaryCrossEntropy(_CanonicalLoss):
    """Logistic loss summed over the outputs (binary and multilabel targets)."""

    def value(self, logits, output, y, scale, scratch, stats):
        # For y in {0, 1}: -y log(p) - (1 - y) log(1 - p) = log(1 + exp((1 - 2y) z)),
        # computed by logaddexp without overflow and without log(0).
        np.multiply(y, -2, out=scratch)
        scratch += 1
        scratch *= logits
        np.logaddexp(0, scratch, out=scratch)
        scratch *= scale
        return _total(scratch)


class CategoricalCrossEntropy(_CanonicalLoss):
    """Cross-entropy of a softmax output: ``-sum_k y_k log p_k``."""

    def value(self, logits, output, y, scale, scratch, stats):
        # With one-hot rows, -sum_k y_k log p_k = logsumexp(z) - sum_k y_k z_k,
        # and logsumexp(z) = max + log(sum exp(z - max)) from the softmax's
        # stats: no overflow, and no log(0) even where p_k underflows.
        log_sum_exp = stats[:, 1:]
        np.log(log_sum_exp, out=log_sum_exp)
        log_sum_exp += stats[:, :1]
        if isinstance(scale, float):
            # sum_ik y_ik z_ik as one dot product (y and z are contiguous).
            return scale * (_total(log_sum_exp) - float(np.vdot(y, logits)))
        np.multiply(y, logits, out=scratch)
        log_sum_exp *= scale
        scratch *= scale
        return _total(log_sum_exp) - _total(scratch)


LOSSES = {
    "identity": SquaredError(),
    "logistic": BinaryCrossEntropy(),
    "softmax": CategoricalCrossEntropy(),
}
