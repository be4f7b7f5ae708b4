"""The contract every layer keeps, and what a layer declares about its arrays.

A layer is one step of the network, ``output = layer(input)``, that owns its
maths in both directions. It declares its :class:`Parameter` s (and any
:class:`Statistic` s, fitted state that no solver steps), and the
:class:`~skbackprop._network.Network` gives it views of its flat buffers to
work in: the layer never allocates its parameters, so a solver steps the
whole network with a few numpy calls on two arrays.

The network calls, for each layer:

- ``parameters()`` / ``statistics()``: the declarations, once the layer
  knows its input width;
- ``bind(values, gradients, statistics)``: dicts of views by declared name
  (``gradients`` is None for a network that only predicts); what it makes
  from them is the binding's, as ``Network.copy`` binds a shallow copy of
  the layer to new buffers;
- ``initialize(rng, initializer)``: draw the parameters;
- ``workspace(n_rows, dtype, training, n_steps=1)``: every buffer one pass
  over ``n_rows`` rows (series of ``n_steps`` steps, for the sequence
  layers) needs, made once per batch shape and reused;
- ``forward(x, ws, run)`` -> the layer's output (often a buffer of ``ws``);
- ``backward(delta, x, ws, run, into)``: ``delta`` is ``d loss / d output``,
  which the layer may overwrite; it fills its parameters' gradients (when
  ``run.gradients``) and writes ``d loss / d x`` into ``into`` (a buffer
  of the previous layer's workspace), or returns it when ``into`` is
  ``NEW``, or skips it when ``into`` is None (the first layer in training);
- ``product_per_row()``: multiply-adds per row of its largest product, for
  the thread rule (per step, for a layer whose ``PRODUCT_OVER_STEPS`` is
  true: one product spans every step of the batch);
  ``bytes_per_row(itemsize, n_steps)``: its prediction workspace's size per row
  (a series of ``n_steps`` steps, for the sequence layers);
- ``onnx(x, graph)``: its forward pass as ONNX nodes.
"""

from typing import NamedTuple

# The order of kinds in the flat buffer: penalised weights first, so that the
# penalty, AdamW's decay and the solvers see one slice, ``params[:n_weights]``.
PARAMETER_KINDS = ("weights", "biases", "scales", "shifts")
STATISTIC_KINDS = ("means", "variances")
PENALISED = "weights"
# ``backward(..., into=NEW)``: return d loss / d x in a new array.
NEW = "new"


class Parameter(NamedTuple):
    """One trained array of a layer.

    ``name`` is the layer's own name for it; ``attribute`` the fitted
    attribute whose list holds it (``coefs_``); ``kind`` one of
    ``PARAMETER_KINDS``, which places it in the flat buffer.
    """

    name: str
    shape: tuple
    kind: str
    attribute: str


class Statistic(NamedTuple):
    """Fitted state that training updates but no solver steps (running means ...).

    ``start`` is its value in a new network.
    """

    name: str
    shape: tuple
    kind: str
    attribute: str
    start: float = 0.0


class Run:
    """What one pass is: the options every layer's forward and backward read.

    ``training``: batch statistics, running statistics updated, buffers
    kept for a backward pass with parameter gradients. ``drop``: dropout
    applied (training, or MC-dropout). ``rng`` draws the dropout masks.
    ``row_weights``: each row's weight in batch statistics (the loss's
    scale: a float, or a column summing to one). ``ones``: a vector of
    ones of the batch's length, for column sums by BLAS. ``gradients``:
    whether ``backward`` fills the parameters' gradients (False for the
    gradient with respect to the input alone). For series of unequal
    lengths, ``lengths`` holds each row's number of steps and ``mask``,
    ``(n_rows, n_steps, 1)``, ones on them and zeros on the padding; both
    are None when every series has all the steps.

    A workspace keeps one for training and one for prediction, which the
    network updates in place: making a new one on every batch costs a
    small network's step a measurable share.
    """

    __slots__ = ("training", "drop", "rng", "row_weights", "ones", "gradients", "lengths", "mask")

    def __init__(
        self, training, drop, rng, row_weights, ones, gradients=True, lengths=None, mask=None
    ):
        self.training, self.drop, self.rng = training, drop, rng
        self.row_weights, self.ones, self.gradients = row_weights, ones, gradients
        self.lengths, self.mask = lengths, mask

    def _replace(self, **changes):
        """A new Run with ``changes`` (as a NamedTuple's ``_replace``)."""
        values = {name: getattr(self, name) for name in self.__slots__}
        return Run(**{**values, **changes})


class Layer:
    """Base of every layer: the defaults a layer without parameters or state would use."""

    #: Units of the output (the next layer's input width).
    width = 0

    def parameters(self):
        return []

    def statistics(self):
        return []

    def bind(self, values, gradients, statistics):
        pass

    def initialize(self, rng, initializer):
        pass

    # Whether the largest product spans all steps of a batch of series (a convolution's),
    # rather than one step or one row.
    PRODUCT_OVER_STEPS = False

    def product_per_row(self):
        return 0

    def bytes_per_row(self, itemsize, n_steps=1):
        return 0
