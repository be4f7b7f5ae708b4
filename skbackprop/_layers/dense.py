"""Dense layers: the hidden block and the output layer.

For hidden layer ``l``, the block computes (each step optional but the first
and the activation)::

    z = x W + b                        the affine map
    z = gamma * z_hat + beta           batch normalization (see _normalization)
    a = f(z)                           the activation
    a = a * mask                       inverted dropout
    a = a + x                          the residual skip (equal widths)

and its backward pass runs the same steps in reverse::

    delta = d loss / d a               (kept for the skip's identity term)
    delta = delta * mask               dropout
    delta = delta * f'(z)              from f's output (see _activations)
    delta = d loss / d z               batch normalization's backward
    dW = x^T delta    db = sum over rows of delta    d x = delta W^T (+ skip)

The output layer is ``z = x W + b`` and the output activation; its delta
``d loss / d z`` comes from the loss, which pairs each output activation with
its canonical loss (see ``_losses``).
"""

import numpy as np

from .._activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from .._normalization import BatchStatistics
from ._base import NEW, Layer, Parameter
from .normalized import Normalized

# Layers with at most this many units (the output layer, typically) send deltas
# back through a contiguous transposed copy of their weights: OpenBLAS
# multiplies by a transposed view 2-6x slower when the shared dimension is
# this small, and copying so thin a matrix costs next to nothing.
THIN_LAYER_UNITS = 16


def matmul_into(a, b, out):
    # Per-call overhead shows in small networks' small products, so: a plain
    # isinstance check (scipy's issparse goes through an abstract base class),
    # and np.dot, which goes to BLAS more directly than np.matmul.
    if isinstance(a, np.ndarray):
        np.dot(a, b, out=out)
    else:  # a scipy sparse X (or its transpose) in the input layer
        out[...] = a @ b


class _Affine(Layer):
    """``z = x W + b``: the weights every dense layer has, and its share of the backward pass.

    ``init_activation`` is the activation the initialiser scales ``W`` for;
    ``first`` says the input is the data itself (no delta is sent back in
    training, and no transposed copy of ``W`` is made).
    """

    def __init__(self, fan_in, width, init_activation, first):
        self.fan_in, self.width = int(fan_in), int(width)
        self.init_activation = init_activation
        self.first = first

    def parameters(self):
        return [
            Parameter("coef", (self.fan_in, self.width), "weights", "coefs_"),
            Parameter("intercept", (self.width,), "biases", "intercepts_"),
        ]

    def bind(self, values, gradients, statistics):
        self.coef, self.intercept = values["coef"], values["intercept"]
        self.grad_coef = self.grad_intercept = None
        self._thin_transpose = None
        if gradients is not None:
            self.grad_coef, self.grad_intercept = gradients["coef"], gradients["intercept"]
            # Only a trainable network keeps the copy (a predicting one reads
            # the fitted arrays, which may be edited in place at any time).
            if not self.first and self.width <= THIN_LAYER_UNITS:
                self._thin_transpose = np.empty((self.width, self.fan_in), dtype=self.coef.dtype)

    def initialize(self, rng, initializer):
        self.coef[...], self.intercept[...] = initializer(
            self.fan_in, self.width, rng, self.init_activation
        )

    def product_per_row(self):
        return self.fan_in * self.width

    def _affine_backward(self, delta, x, run, into, bias_free=False):
        """The affine map's share of the backward pass, from ``delta = d loss / d z``.

        With ``run.gradients``: ``dW = x^T delta`` and ``db``, the column sums
        of ``delta`` (zero when ``bias_free``). Then ``d loss / d x = delta W^T``
        into the previous layer's buffer (or a new array, or not at all).
        Training multiplies by the thin copy of ``W^T``; the gradient to the
        inputs alone by the view, whichever network it runs in, so that its
        bits do not depend on whether the network can also train.
        """
        if run.gradients:
            matmul_into(x.T, delta, self.grad_coef)
            if bias_free:
                # Normalised by its batch, the bias is redundant (beta): its gradient is
                # zero exactly, not rounding noise that adaptive solvers blow up into steps.
                self.grad_intercept[...] = 0.0
            else:
                np.dot(run.ones, delta, out=self.grad_intercept)
        if into is None:
            return None
        if into is NEW:
            return delta @ self.coef.T
        transposed = self.coef.T
        if self._thin_transpose is not None and run.gradients:
            np.copyto(self._thin_transpose, transposed)
            transposed = self._thin_transpose
        np.dot(delta, transposed, out=into)
        return into


class _BlockWorkspace:
    """One hidden block's buffers for ``n_rows`` rows."""

    def __init__(self, block, n_rows, dtype, training):
        width = block.width

        def new():
            return np.empty((n_rows, width), dtype=dtype)

        # z, then in place a = f(z); and the activation's scratch.
        self.hidden, self.scratch = new(), new()
        # What the activation's forward pass leaves for its derivative (relu: active
        # units, GELU: f'(z) itself); None when no backward pass follows.
        mask_dtype = block.step.mask_dtype
        self.activation_mask = (
            np.empty((n_rows, width), dtype=dtype if mask_dtype is float else mask_dtype)
            if training
            else None
        )
        rate = block.dropout if training else 0.0
        # d loss / d a: the next layer writes it here.
        self.delta = new() if training else None
        self.dropout_mask = new() if rate > 0 else None
        # The input of the next layer: the activation, or its dropped-out copy
        # (plus the layer's input, for a residual layer).
        self.output = new() if rate > 0 or block.skip else self.hidden
        # d loss / d a of a residual layer, which its skip sends back unchanged.
        self.skip_delta = new() if block.skip and training else None
        # Prediction reads only the per-unit buffers.
        self.batch_stats = (
            BatchStatistics(n_rows if training else 0, width, dtype) if block.normalized else None
        )
        self.dropped = False


class DenseBlock(Normalized, _Affine):
    """A hidden layer: dense -> (batch normalization) -> activation -> (dropout) -> (+ input).

    Parameters
    ----------
    fan_in, width : int
        Input and output units.
    activation : str
        A key of ``HIDDEN_ACTIVATIONS``.
    dropout : float
        Rate of inverted dropout when a pass drops.
    normalized : bool
        Batch normalization of ``z`` before the activation.
    skip : bool
        Residual: add the input to the output (needs ``fan_in == width``).
    momentum : float
        Weight of the old value in batch normalization's running statistics.
    first : bool
        Whether the input is the data.
    """

    def __init__(self, fan_in, width, activation, dropout, normalized, skip, momentum, first):
        super().__init__(fan_in, width, activation, first)
        self.activation = activation
        self.step = HIDDEN_ACTIVATIONS[activation]
        self.dropout = float(dropout)
        self.normalized, self.skip = bool(normalized), bool(skip)
        self.momentum = momentum

    def parameters(self):
        return super().parameters() + self.normalization_parameters()

    def bind(self, values, gradients, statistics):
        super().bind(values, gradients, statistics)
        self.bind_normalization(values, gradients, statistics)

    def initialize(self, rng, initializer):
        super().initialize(rng, initializer)
        self.start_normalization()

    def workspace(self, n_rows, dtype, training, n_steps=1):
        return _BlockWorkspace(self, n_rows, dtype, training)

    def bytes_per_row(self, itemsize, n_steps=1):
        # z, its scratch and the activation's bool mask (a residual's copy aside)
        return 3 * itemsize * self.width + self.width

    def forward(self, x, ws, run):
        z = ws.hidden
        matmul_into(x, self.coef, z)
        if self.normalization is None:
            z += self.intercept
        elif run.training:
            z += self.intercept
            self.normalization.forward(z, ws.batch_stats, run.row_weights, run.ones, self.momentum)
        else:
            self.normalization.predict(z, self.intercept, ws.batch_stats)
        self.step.forward(z, ws.scratch, ws.activation_mask)
        ws.dropped = run.drop and self.dropout > 0
        if ws.dropped:
            self._drop_out(z, ws.dropout_mask, ws.output, run.rng)
            if self.skip:
                ws.output += x
        elif self.skip:
            np.add(z, x, out=ws.output)
        else:
            return z
        return ws.output

    def _drop_out(self, activation, mask, dropped, rng):
        # Inverted dropout: keep a unit with probability 1 - rate and scale it
        # by 1 / (1 - rate), so prediction needs no rescaling.
        keep = 1.0 - self.dropout
        rng.random(out=mask, dtype=mask.dtype)
        mask += keep
        np.floor(mask, out=mask)
        mask *= 1.0 / keep
        np.multiply(activation, mask, out=dropped)

    def backward(self, delta, x, ws, run, into):
        if self.skip:
            np.copyto(ws.skip_delta, delta)
        if ws.dropped:
            delta *= ws.dropout_mask
        self.step.derivative(ws.hidden, delta, ws.scratch, ws.activation_mask)
        if self.normalization is not None:
            if run.gradients:
                self.normalization.backward(
                    delta, ws.batch_stats, run.row_weights, run.ones, ws.scratch
                )
            else:  # prediction mode: an affine map, whose factor the chain rule takes
                delta *= ws.batch_stats.factor
        bias_free = self.normalization is not None and ws.batch_stats.from_batch
        into = self._affine_backward(delta, x, run, into, bias_free)
        if into is not None and self.skip:
            into += ws.skip_delta
        return into

    def onnx(self, x, graph):
        coef, intercept = self.folded(self.coef, self.intercept)
        output = graph.activation(self.activation, graph.affine(x, coef, intercept))
        return graph.add(output, x) if self.skip else output


class _OutputWorkspace:
    def __init__(self, n_rows, width, dtype):
        self.logits = np.empty((n_rows, width), dtype=dtype)
        self.output = np.empty((n_rows, width), dtype=dtype)
        self.output_delta = np.empty((n_rows, width), dtype=dtype)
        # The output activation's per-row statistics (softmax: max and sum of exp).
        self.row_stats = np.empty((n_rows, 2), dtype=dtype)


class OutputLayer(_Affine):
    """The last layer: ``z = x W + b`` and the output activation (of ``OUTPUT_ACTIVATIONS``)."""

    def __init__(self, fan_in, width, output_activation, init_activation, first):
        super().__init__(fan_in, width, init_activation, first)
        self.output_activation = output_activation
        self._output_f = OUTPUT_ACTIVATIONS[output_activation]

    def workspace(self, n_rows, dtype, training, n_steps=1):
        return _OutputWorkspace(n_rows, self.width, dtype)

    def bytes_per_row(self, itemsize, n_steps=1):
        return 3 * itemsize * self.width  # logits, output and the delta

    def forward(self, x, ws, run):
        matmul_into(x, self.coef, ws.logits)
        ws.logits += self.intercept
        self._output_f(ws.logits, ws.output, ws.row_stats)
        return ws.output

    def backward(self, delta, x, ws, run, into):
        return self._affine_backward(delta, x, run, into)

    def output_gradient(self, ws, columns, signs):
        """``d F / d z`` per row, ``F`` the output ``columns`` of each row (times ``signs``)."""
        rows = np.arange(len(columns))
        chosen = ws.output[rows, columns]
        delta = np.zeros_like(ws.output)
        kind = self.output_activation
        if kind == "softmax":  # d p_c / d z = p_c (e_c - p)
            np.multiply(ws.output, -chosen[:, None], out=delta)
            delta[rows, columns] += chosen
        elif kind == "logistic":  # p (1 - p)
            delta[rows, columns] = chosen * (1 - chosen)
        elif kind == "exp":
            delta[rows, columns] = chosen
        else:  # identity
            delta[rows, columns] = 1.0
        delta *= signs[:, None]
        return delta

    def onnx(self, x, graph):
        z = graph.affine(x, self.coef, self.intercept)
        return graph.output_activation(self.output_activation, z)


def residual_layers(layer_sizes):
    """Which hidden layers of ``layer_sizes`` can add their input: equal widths, not the first."""
    hidden = layer_sizes[1:-1]
    return tuple(index > 0 and hidden[index - 1] == width for index, width in enumerate(hidden))


def dense_specs(
    layer_sizes,
    activation,
    output_activation,
    dropout=None,
    batch_normalization=False,
    residual=False,
    momentum=0.9,
):
    """The ``(kind, options)`` specs of a dense network of ``layer_sizes`` units.

    ``layer_sizes`` counts the input and the output; ``activation`` is one
    hidden activation's name, or one per hidden layer; ``dropout`` one rate
    per hidden layer. The output layer's weights are scaled, as in
    scikit-learn, for the hidden activation (the last hidden layer's when
    they differ; relu's without hidden layers).
    """
    layer_sizes = tuple(int(n) for n in layer_sizes)
    n_hidden = len(layer_sizes) - 2
    activations = (activation,) * n_hidden if isinstance(activation, str) else tuple(activation)
    rates = tuple(dropout) if dropout is not None else (0.0,) * n_hidden
    skips = residual_layers(layer_sizes) if residual else (False,) * n_hidden
    specs = [
        (
            "dense",
            {
                "fan_in": layer_sizes[index],
                "width": layer_sizes[index + 1],
                "activation": activations[index],
                "dropout": rates[index],
                "normalized": batch_normalization,
                "skip": skips[index],
                "momentum": momentum,
                "first": index == 0,
            },
        )
        for index in range(n_hidden)
    ]
    if isinstance(activation, str):
        init_activation = activation
    else:
        init_activation = activations[-1] if activations else "relu"
    output = {
        "fan_in": layer_sizes[-2],
        "width": layer_sizes[-1],
        "output_activation": output_activation,
        "init_activation": init_activation,
        "first": n_hidden == 0,
    }
    return [*specs, ("output", output)]
