"""Layers that own their passes (see ``_base`` for the contract).

To add a layer: a module here with a :class:`~._base.Layer` subclass, its
entry in ``LAYERS``, and the estimator parameters that expose it; the
contributor guide (CONTRIBUTING.md) walks through the dense block.
"""

from ._base import NEW, PARAMETER_KINDS, PENALISED, STATISTIC_KINDS, Layer, Parameter, Run
from .dense import THIN_LAYER_UNITS, DenseBlock, OutputLayer, dense_stack, residual_layers

# Every kind of layer, by the name the model layer builds it from.
LAYERS = {"dense": DenseBlock, "output": OutputLayer}

__all__ = [
    "LAYERS",
    "NEW",
    "PARAMETER_KINDS",
    "PENALISED",
    "STATISTIC_KINDS",
    "THIN_LAYER_UNITS",
    "DenseBlock",
    "Layer",
    "OutputLayer",
    "Parameter",
    "Run",
    "dense_stack",
    "residual_layers",
]
