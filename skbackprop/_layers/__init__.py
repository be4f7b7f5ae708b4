"""Layers that own their passes (see ``_base`` for the contract).

To add a layer: a module here with a :class:`~._base.Layer` subclass, its
entry in ``LAYERS``, and the estimator parameters that expose it; the
contributor guide (CONTRIBUTING.md) walks through the dense block.
"""

from ._base import NEW, PARAMETER_KINDS, PENALISED, STATISTIC_KINDS, Layer, Parameter, Run
from .dense import THIN_LAYER_UNITS, DenseBlock, OutputLayer, dense_specs, residual_layers
from .recurrent import CELLS, RecurrentLayer
from .sequence import POOLINGS, ConvBlock, TimePooling, sequence_specs

# Every kind of layer, by the name a spec gives it.
LAYERS = {
    "dense": DenseBlock,
    "output": OutputLayer,
    "conv": ConvBlock,
    "recurrent": RecurrentLayer,
    "pool": TimePooling,
}


def build(specs):
    """The layers of ``(kind, options)`` specs, each a ``LAYERS[kind](**options)``."""
    return [LAYERS[kind](**options) for kind, options in specs]


def dense_stack(layer_sizes, activation, output_activation, dropout=None, **options):
    """The layers of a dense network (see :func:`~.dense.dense_specs`)."""
    return build(dense_specs(layer_sizes, activation, output_activation, dropout, **options))


__all__ = [
    "CELLS",
    "LAYERS",
    "POOLINGS",
    "NEW",
    "PARAMETER_KINDS",
    "PENALISED",
    "STATISTIC_KINDS",
    "THIN_LAYER_UNITS",
    "ConvBlock",
    "DenseBlock",
    "Layer",
    "OutputLayer",
    "Parameter",
    "RecurrentLayer",
    "Run",
    "TimePooling",
    "build",
    "dense_specs",
    "dense_stack",
    "residual_layers",
    "sequence_specs",
]
