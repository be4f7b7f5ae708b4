"""The layered network: parameters, forward pass and backward pass.

Symbols follow the textbook and the user guide. For layer ``l = 1 .. L``::

    z(l) = a(l-1) W(l) + b(l)          a(0) = X
    a(l) = f(z(l))                     f = output activation at l = L
    delta(L) = d loss / d z(L)         given by the loss (canonical: p - y)
    delta(l) = (delta(l+1) W(l+1)^T) * f'(z(l))
    dW(l) = a(l-1)^T delta(l)          db(l) = sum over rows of delta(l)

The loss folds the ``1 / n_batch`` (or the sample weights) into ``delta(L)``,
so the sums above are already the gradient of the batch's mean loss.

All weights and biases live in one flat buffer ``params`` (weights of every
layer first, then every bias), and their gradients in a twin buffer
``grads``; ``coefs`` / ``intercepts`` and ``grad_coefs`` / ``grad_intercepts``
are views into them. A solver therefore updates the whole network with a few
numpy calls, and the weight penalty touches one slice, ``params[:n_weights]``.
"""

import threading
from itertools import pairwise

import numpy as np

from ._activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from ._initializers import INITIALIZERS

# Memory for one chunk of rows when predicting, so it stays bounded on any number of rows.
PREDICT_CHUNK_BYTES = 8 * 2**20
PREDICT_MAX_CHUNK_ROWS = 65536

# Layers with at most this many units (the output layer, typically) send deltas
# back through a contiguous transposed copy of their weights: OpenBLAS
# multiplies by a transposed view 2-6x slower when the shared dimension is
# this small, and copying so thin a matrix costs next to nothing.
THIN_LAYER_UNITS = 16


def _matmul_into(a, b, out):
    # Per-call overhead shows in small networks' small products, so: a plain
    # isinstance check (scipy's issparse goes through an abstract base class),
    # and np.dot, which goes to BLAS more directly than np.matmul.
    if isinstance(a, np.ndarray):
        np.dot(a, b, out=out)
    else:  # a scipy sparse X (or its transpose) in the input layer
        out[...] = a @ b


class _Workspace:
    """Every array one forward (and, for training, backward) pass over ``n_rows`` rows needs.

    Made once per batch size and reused, so training allocates nothing per batch.
    """

    def __init__(self, n_rows, layer_sizes, dtype, dropout, training):
        hidden = layer_sizes[1:-1]
        n_outputs = layer_sizes[-1]
        self.training = training

        def new(width):
            return np.empty((n_rows, width), dtype=dtype)

        # hidden[l] holds z then, in place, a = f(z) of hidden layer l.
        self.hidden = [new(width) for width in hidden]
        self.scratch = [new(width) for width in hidden]
        # What the activation's forward pass leaves for its derivative (relu: active units);
        # None when no backward pass follows.
        self.activation_masks = [
            np.empty((n_rows, width), dtype=bool) if training else None for width in hidden
        ]
        if not training:
            dropout = (0.0,) * len(hidden)
        self.deltas = [new(width) if training else None for width in hidden]
        self.dropout_masks = [
            new(w) if rate > 0 else None for w, rate in zip(hidden, dropout, strict=True)
        ]
        # The input of the next layer: the activation, or its dropped-out copy.
        self.inputs = [
            new(w) if rate > 0 else a
            for w, rate, a in zip(hidden, dropout, self.hidden, strict=True)
        ]
        self.logits = new(n_outputs)
        self.output = new(n_outputs)
        self.output_delta = new(n_outputs)
        # The output activation's per-row statistics (softmax: max and sum of exp),
        # and the loss's own scratch, so that computing the loss overwrites nothing else.
        self.row_stats = new(2)
        self.loss_scratch = new(n_outputs)
        self.loss_scratch2 = new(n_outputs)
        self.row_scratch = new(1)
        # Bias gradients are column sums, which BLAS computes fastest as ones @ delta.
        self.ones = np.ones(n_rows, dtype=dtype)


class Network:
    """Dense feed-forward network of ``layer_sizes`` units.

    Parameters
    ----------
    layer_sizes : sequence of int
        Units per layer, input and output included.
    activation : str
        Hidden activation, a key of ``HIDDEN_ACTIVATIONS``.
    output_activation : str
        A key of ``OUTPUT_ACTIVATIONS``.
    dtype : numpy dtype
        float32 or float64; parameters, buffers and inputs all share it.
    dropout : sequence of float, optional
        Dropout rate of each hidden layer, used by ``forward(training=True)``.

    A network made by :meth:`predicting_with` has no flat buffers: it reads
    the weight arrays it was given, and only predicts.
    """

    def __init__(self, layer_sizes, activation, output_activation, dtype, dropout=None):
        self.layer_sizes = tuple(int(n) for n in layer_sizes)
        self.activation = activation
        self.output_activation = output_activation
        self.dtype = np.dtype(dtype)
        self.n_hidden = len(self.layer_sizes) - 2
        self.dropout = tuple(dropout) if dropout is not None else (0.0,) * self.n_hidden
        self._f, self._f_derivative = HIDDEN_ACTIVATIONS[activation]
        self._output_f = OUTPUT_ACTIVATIONS[output_activation]

        shapes = list(pairwise(self.layer_sizes))
        self.n_weights = sum(fan_in * fan_out for fan_in, fan_out in shapes)
        n_params = self.n_weights + sum(self.layer_sizes[1:])
        self.params = np.zeros(n_params, dtype=self.dtype)
        self.grads = np.zeros(n_params, dtype=self.dtype)
        self.coefs, self.intercepts = self._views(self.params, shapes)
        self.grad_coefs, self.grad_intercepts = self._views(self.grads, shapes)
        self._thin_transposes = {
            index: np.empty((fan_out, fan_in), dtype=self.dtype)
            for index, (fan_in, fan_out) in enumerate(shapes)
            if 0 < index and fan_out <= THIN_LAYER_UNITS
        }
        self._workspaces = {}
        self._thread_workspaces = threading.local()

    @classmethod
    def predicting_with(cls, coefs, intercepts, activation, output_activation):
        """A network that predicts with ``coefs`` and ``intercepts`` themselves.

        No copies and no gradient buffers: changing the arrays in place changes
        the predictions, and making one costs next to nothing.
        """
        network = cls.__new__(cls)
        network.layer_sizes = (coefs[0].shape[0], *(coef.shape[1] for coef in coefs))
        network.activation, network.output_activation = activation, output_activation
        network.dtype = coefs[0].dtype
        network.n_hidden = len(coefs) - 1
        network.dropout = (0.0,) * network.n_hidden
        network._f, network._f_derivative = HIDDEN_ACTIVATIONS[activation]
        network._output_f = OUTPUT_ACTIVATIONS[output_activation]
        network.coefs, network.intercepts = list(coefs), list(intercepts)
        network.params = network.grads = None
        network._workspaces = {}
        network._thread_workspaces = threading.local()
        return network

    def _views(self, flat, shapes):
        coefs, intercepts = [], []
        start = 0
        for fan_in, fan_out in shapes:
            coefs.append(flat[start : start + fan_in * fan_out].reshape(fan_in, fan_out))
            start += fan_in * fan_out
        for _, fan_out in shapes:
            intercepts.append(flat[start : start + fan_out])
            start += fan_out
        return coefs, intercepts

    @property
    def weights(self):
        """All weights (no biases) as one flat view, for penalties."""
        return self.params[: self.n_weights]

    @property
    def weight_grads(self):
        return self.grads[: self.n_weights]

    def initialize(self, rng, init="glorot_uniform"):
        """Draw every layer's weights and biases with ``init``, layer after layer.

        ``init`` is a name in ``INITIALIZERS`` or an initialiser function
        ``(fan_in, fan_out, rng, activation) -> (weights, biases)``.
        """
        initializer = INITIALIZERS[init] if isinstance(init, str) else init
        for coef, intercept in zip(self.coefs, self.intercepts, strict=True):
            fan_in, fan_out = coef.shape
            coef[...], intercept[...] = initializer(fan_in, fan_out, rng, self.activation)
        return self

    def snapshot(self, out=None):
        """A copy of every weight and bias (into ``out``, a buffer from an earlier snapshot)."""
        if out is None:
            return self.params.copy()
        np.copyto(out, self.params)
        return out

    def restore(self, snapshot):
        """Go back to the weights and biases of ``snapshot()``."""
        np.copyto(self.params, snapshot)

    def set_parameters(self, coefs, intercepts):
        for mine, theirs in zip(
            self.coefs + self.intercepts, list(coefs) + list(intercepts), strict=True
        ):
            mine[...] = theirs
        return self

    def _workspace(self, n_rows, training):
        key = (n_rows, training)
        workspace = self._workspaces.get(key)
        if workspace is None:
            # A fit meets two batch sizes (full and last) and predict two chunk sizes.
            if len(self._workspaces) >= 8:
                self._workspaces.clear()
            workspace = _Workspace(n_rows, self.layer_sizes, self.dtype, self.dropout, training)
            self._workspaces[key] = workspace
        return workspace

    def forward(self, X, training=False, rng=None, ws=None):
        """Forward pass over the rows of ``X``; returns the workspace holding it.

        With ``training=True`` inverted dropout is applied to the hidden
        activations (masks drawn from ``rng``), and the workspace keeps what
        ``backward`` needs. The returned arrays are reused by the next call,
        unless the caller passes a workspace ``ws`` of its own.
        """
        if ws is None:
            ws = self._workspace(X.shape[0], training)
        layer_input = X
        for index in range(self.n_hidden):
            z = ws.hidden[index]
            _matmul_into(layer_input, self.coefs[index], z)
            z += self.intercepts[index]
            self._f(z, ws.scratch[index], ws.activation_masks[index])
            rate = self.dropout[index]
            if training and rate > 0:
                self._drop_out(z, rate, ws.dropout_masks[index], ws.inputs[index], rng)
                layer_input = ws.inputs[index]
            else:
                layer_input = z
        _matmul_into(layer_input, self.coefs[-1], ws.logits)
        ws.logits += self.intercepts[-1]
        self._output_f(ws.logits, ws.output, ws.row_stats)
        return ws

    @staticmethod
    def _drop_out(activation, rate, mask, dropped, rng):
        # Inverted dropout: keep a unit with probability 1 - rate and scale it
        # by 1 / (1 - rate), so prediction needs no rescaling.
        keep = 1.0 - rate
        rng.random(out=mask, dtype=mask.dtype)
        mask += keep
        np.floor(mask, out=mask)
        mask *= 1.0 / keep
        np.multiply(activation, mask, out=dropped)

    def backward(self, X, ws):
        """Fill ``grads`` from ``ws.output_delta``, which the loss has written."""
        if not ws.training:
            raise ValueError("backward needs the workspace of forward(X, training=True).")
        delta = ws.output_delta
        for index in range(len(self.coefs) - 1, -1, -1):
            layer_input = X if index == 0 else ws.inputs[index - 1]
            _matmul_into(layer_input.T, delta, self.grad_coefs[index])
            np.dot(ws.ones, delta, out=self.grad_intercepts[index])
            if index == 0:
                break
            previous = ws.deltas[index - 1]
            np.dot(delta, self._transposed_coef(index), out=previous)
            if ws.dropout_masks[index - 1] is not None:
                previous *= ws.dropout_masks[index - 1]
            self._f_derivative(
                ws.hidden[index - 1],
                previous,
                ws.scratch[index - 1],
                ws.activation_masks[index - 1],
            )
            delta = previous

    def _transposed_coef(self, index):
        copy = self._thin_transposes.get(index)
        if copy is None:
            return self.coefs[index].T
        np.copyto(copy, self.coefs[index].T)
        return copy

    def predict(self, X, logits=False, chunk_rows=None):
        """Output activations (or the logits) for every row of ``X``, chunk by chunk.

        Each thread works in workspaces of its own, so threads may predict with
        one network at once.
        """
        n_rows = X.shape[0]
        if chunk_rows is None:
            # hidden activations, their scratch and masks, logits and output
            bytes_per_row = self.dtype.itemsize * (2 * sum(self.layer_sizes[1:]))
            bytes_per_row += sum(self.layer_sizes[1:-1])
            chunk_rows = min(max(PREDICT_CHUNK_BYTES // bytes_per_row, 64), PREDICT_MAX_CHUNK_ROWS)
        result = np.empty((n_rows, self.layer_sizes[-1]), dtype=self.dtype)
        for start in range(0, n_rows, chunk_rows):
            stop = min(start + chunk_rows, n_rows)
            chunk = X[start:stop]
            if chunk.dtype != self.dtype:
                chunk = chunk.astype(self.dtype)
            ws = self.forward(chunk, ws=self._thread_workspace(stop - start))
            result[start:stop] = ws.logits if logits else ws.output
        return result

    def _thread_workspace(self, n_rows):
        """This thread's prediction workspace for ``n_rows`` rows (a few sizes are kept)."""
        workspaces = getattr(self._thread_workspaces, "by_rows", None)
        if workspaces is None:
            workspaces = self._thread_workspaces.by_rows = {}
        ws = workspaces.get(n_rows)
        if ws is None:
            if len(workspaces) >= 4:
                workspaces.clear()
            ws = _Workspace(n_rows, self.layer_sizes, self.dtype, self.dropout, False)
            workspaces[n_rows] = ws
        return ws
