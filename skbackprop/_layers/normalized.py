"""Batch normalization inside a layer: what it declares and how it binds.

A dense block and a convolution block normalise their pre-activations
the same way (see ``_normalization``): per unit (or filter), ``gamma`` and
``beta`` trained, running means and variances kept for prediction.
"""

from .._normalization import BatchNormalization, fold
from ._base import Parameter, Statistic


class Normalized:
    """For a layer with ``width`` units and a ``normalized`` flag.

    ``PREFIX`` starts the fitted attributes' names (``"conv_"``:
    ``conv_gammas_`` ...). ``normalization`` is the bound
    :class:`~skbackprop._normalization.BatchNormalization`, or None.
    """

    PREFIX = ""

    def normalization_parameters(self):
        if not self.normalized:
            return []
        return [
            Parameter("gamma", (self.width,), "scales", f"{self.PREFIX}gammas_"),
            Parameter("beta", (self.width,), "shifts", f"{self.PREFIX}betas_"),
        ]

    def statistics(self):
        if not self.normalized:
            return []
        prefix = self.PREFIX
        return [
            Statistic("running_mean", (self.width,), "means", f"{prefix}running_means_"),
            Statistic(
                "running_variance", (self.width,), "variances", f"{prefix}running_variances_", 1.0
            ),
        ]

    def bind_normalization(self, values, gradients, statistics):
        self.normalization = None
        if self.normalized:
            self.normalization = BatchNormalization(
                values["gamma"],
                values["beta"],
                None if gradients is None else gradients["gamma"],
                None if gradients is None else gradients["beta"],
                statistics["running_mean"],
                statistics["running_variance"],
            )

    def start_normalization(self):
        """Batch normalization starts as the identity: ``gamma = 1`` (``beta`` is zero)."""
        if self.normalized:
            self.normalization.gamma[...] = 1.0

    def folded(self, coef, intercept):
        """``(coef, intercept)`` with the running statistics folded in: the map predict computes.

        ``coef`` has one column per unit (ONNX export).
        """
        n = self.normalization
        if n is None:
            return coef, intercept
        return fold(coef, intercept, n.gamma, n.beta, n.running_mean, n.running_variance)
