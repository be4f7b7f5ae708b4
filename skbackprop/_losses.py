"""Losses, each paired with the output activation it is canonical for.

With a canonical pair the derivative of the loss with respect to the logits
``z`` (the last layer's pre-activation) is simply ``p - y``, which is why the
output activations in :mod:`skbackprop._activations` carry no derivative.

Both methods take the workspace ``ws`` of a forward pass
(:class:`skbackprop._network._Workspace`) and say what they read and write
(:class:`Loss`); ``value`` must follow the output activation on the same
logits (the softmax leaves row statistics in ``ws.row_stats`` for it), and
calling it twice gives the same answer. ``scale`` is the weight of each
sample in the batch mean: the Python float ``1 / n_batch`` or a column
``w_i / sum(w)`` of shape ``(n_batch, 1)``. The weighted data loss of a
batch is ``sum_i scale_i * loss_i``, and ``output_delta`` is its exact
gradient with respect to ``z``. The losses match scikit-learn's MLP
definitions so ``loss_`` is comparable.
"""

from typing import Protocol

import numpy as np
from scipy.special import xlogy

from ._threads import DOT_BLOCK, dot


class Loss(Protocol):
    """A loss paired with its canonical output activation."""

    def value(self, ws, y, scale):
        """The batch's weighted data loss.

        Reads ``ws.logits``, ``ws.output`` and ``ws.row_stats``; writes only
        its scratch buffers ``ws.loss_scratch``, ``ws.loss_scratch2`` and
        ``ws.row_scratch``.
        """

    def output_delta(self, ws, y, scale):
        """Write ``d loss / d z`` into ``ws.output_delta``; reads ``ws.output``."""


def _total(array):
    # The ufunc reduction itself: ndarray.sum's wrapper costs more than the
    # sum of a small batch's losses.
    return float(np.add.reduce(array, axis=None))


class _CanonicalLoss:
    def output_delta(self, ws, y, scale):
        """Write ``d loss / d z = (p - y) * scale`` into ``ws.output_delta``."""
        np.subtract(ws.output, y, out=ws.output_delta)
        ws.output_delta *= scale


class SquaredError(_CanonicalLoss):
    """Half the squared error, averaged over outputs: ``sum_k (p_k - y_k)**2 / (2 K)``."""

    def output_delta(self, ws, y, scale):
        super().output_delta(ws, y, scale)
        # The loss averages over the K outputs, so its gradient does too.
        if y.shape[1] > 1:
            ws.output_delta /= y.shape[1]

    def value(self, ws, y, scale):
        scratch = ws.loss_scratch
        np.subtract(ws.output, y, out=scratch)
        np.square(scratch, out=scratch)
        scratch *= scale
        return _total(scratch) / (2 * y.shape[1])


class BinaryCrossEntropy(_CanonicalLoss):
    """Logistic loss summed over the outputs (binary and multilabel targets)."""

    def value(self, ws, y, scale):
        # For y in {0, 1}: -y log(p) - (1 - y) log(1 - p) = log(1 + exp((1 - 2y) z)),
        # computed by logaddexp without overflow and without log(0).
        scratch = ws.loss_scratch
        np.multiply(y, -2, out=scratch)
        scratch += 1
        scratch *= ws.logits
        np.logaddexp(0, scratch, out=scratch)
        scratch *= scale
        return _total(scratch)


class CategoricalCrossEntropy(_CanonicalLoss):
    """Cross-entropy of a softmax output: ``-sum_k y_k log p_k``."""

    def value(self, ws, y, scale):
        # With one-hot rows, -sum_k y_k log p_k = logsumexp(z) - sum_k y_k z_k,
        # and logsumexp(z) = max + log(sum exp(z - max)) from the softmax's
        # row statistics: no overflow, and no log(0) even where p_k underflows.
        log_sum_exp = ws.row_scratch
        np.log(ws.row_stats[:, 1:], out=log_sum_exp)
        log_sum_exp += ws.row_stats[:, :1]
        if isinstance(scale, float):
            # sum_ik y_ik z_ik as one dot product (y and z are contiguous), in fixed
            # blocks where BLAS would split it across threads.
            if y.size <= DOT_BLOCK:
                y_dot_z = float(np.vdot(y, ws.logits))
            else:
                y_dot_z = dot(y.reshape(-1), ws.logits.reshape(-1))
            return scale * (_total(log_sum_exp) - y_dot_z)
        scratch = ws.loss_scratch
        np.multiply(y, ws.logits, out=scratch)
        log_sum_exp *= scale
        scratch *= scale
        return _total(log_sum_exp) - _total(scratch)


class PoissonDeviance(_CanonicalLoss):
    """Half the Poisson deviance of an exponential output, as scikit-learn defines it.

    ``sum_k y_k log(y_k / p_k) - y_k + p_k`` with ``p = exp(z)``, so
    ``y log(y / p) = y log y - y z``: computed from the logits, never log(p).
    Summed over outputs, like scikit-learn's.
    """

    def value(self, ws, y, scale):
        scratch, y_log_y = ws.loss_scratch, ws.loss_scratch2
        np.multiply(y, ws.logits, out=scratch)
        np.subtract(ws.output, scratch, out=scratch)  # p - y z
        xlogy(y, y, out=y_log_y)  # y log y, 0 where y = 0
        y_log_y -= y
        scratch += y_log_y
        scratch *= scale
        return _total(scratch)


class _IdentityOutputLoss:
    """A regression loss of an identity output, averaged over the K outputs.

    Not canonical: ``output_delta`` is the loss's own derivative ``rho'(r) /
    K`` of the residual ``r = p - y``, times each row's ``scale``.
    """

    def value(self, ws, y, scale):
        scratch = ws.loss_scratch
        np.subtract(ws.output, y, out=scratch)
        self._elementwise(scratch, ws.loss_scratch2)
        scratch *= scale
        return _total(scratch) / y.shape[1]

    def output_delta(self, ws, y, scale):
        delta = ws.output_delta
        np.subtract(ws.output, y, out=delta)
        self._derivative(delta)
        delta *= scale
        if y.shape[1] > 1:
            delta /= y.shape[1]


class AbsoluteError(_IdentityOutputLoss):
    """Mean absolute error ``|p - y|``; its derivative is ``sign(p - y)`` (0 where equal)."""

    @staticmethod
    def _elementwise(r, scratch):
        np.abs(r, out=r)

    @staticmethod
    def _derivative(r):
        np.sign(r, out=r)


class Huber(_IdentityOutputLoss):
    """``0.5 r**2`` where ``|r| <= delta``, else ``delta (|r| - delta / 2)`` (PyTorch's HuberLoss).

    Its derivative is ``r`` clipped to ``[-delta, delta]``.
    """

    def __init__(self, delta=1.0):
        self.delta = float(delta)

    def _elementwise(self, r, scratch):
        # 0.5 r**2 - 0.5 (|r| - delta)_+**2 is both pieces at once.
        np.abs(r, out=r)
        np.subtract(r, self.delta, out=scratch)
        np.maximum(scratch, 0, out=scratch)
        np.square(scratch, out=scratch)
        np.square(r, out=r)
        r -= scratch
        r *= 0.5

    def _derivative(self, r):
        np.clip(r, -self.delta, self.delta, out=r)


class Pinball(_IdentityOutputLoss):
    """The pinball (quantile) loss of level ``q`` per output column, as scikit-learn's.

    With ``r = p - y``: ``(1 - q) r`` where ``p >= y``, ``-q r`` where ``p < y``,
    i.e. ``max(q (y - p), (q - 1) (y - p))``; its derivative is ``1 - q``
    where ``p >= y`` and ``-q`` where ``p < y``, as scikit-learn's gradient
    boosting takes it. ``levels`` has one level per output column.
    """

    def __init__(self, levels):
        self.levels = np.asarray(levels, dtype=np.float64)
        self._levels_minus_one = self.levels - 1.0

    def _elementwise(self, r, scratch):
        # max((1 - q) r, -q r) = r (1 - q) for r >= 0, -q r for r < 0
        np.multiply(r, self._levels_minus_one, out=scratch)  # (q - 1) r
        np.multiply(r, self.levels, out=r)  # q r
        np.negative(r, out=r)  # -q r
        np.maximum(r, np.negative(scratch, out=scratch), out=r)

    def _derivative(self, r):
        # 1 - q where r >= 0, -q where r < 0: [r >= 0] - q
        np.greater_equal(r, 0, out=r)
        r -= self.levels


LOSSES = {
    "identity": SquaredError(),
    "exp": PoissonDeviance(),
    "logistic": BinaryCrossEntropy(),
    "softmax": CategoricalCrossEntropy(),
}
