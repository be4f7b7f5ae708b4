"""The layered network: parameters, forward pass and backward pass.

Symbols follow the textbook and the user guide. For layer ``l = 1 .. L``::

    z(l) = a(l-1) W(l) + b(l)          a(0) = X
    a(l) = f(z(l))                     f = output activation at l = L
    delta(L) = d loss / d z(L)         given by the loss (canonical: p - y)
    delta(l) = (delta(l+1) W(l+1)^T) * f'(z(l))
    dW(l) = a(l-1)^T delta(l)          db(l) = sum over rows of delta(l)

The loss folds the ``1 / n_batch`` (or the sample weights) into ``delta(L)``,
so the sums above are already the gradient of the batch's mean loss.

Two options change a hidden layer (see the user guide for their backward
passes). Batch normalization (:mod:`skbackprop._normalization`) replaces
``z(l)`` by ``gamma * z_hat(l) + beta`` before ``f``. A residual layer, one
whose input and output widths are equal (never the first, whose input is
X), adds its input to its output, ``a(l) = f(z(l)) + a(l-1)``, so its
delta gains the skip's identity term: ``d loss / d a(l-1)`` is
``delta(l) W(l)^T`` plus ``d loss / d a(l)`` itself.

All weights and biases live in one flat buffer ``params`` (weights of every
layer first, then every bias, then batch normalization's gammas and betas),
and their gradients in a twin buffer ``grads``; ``coefs`` / ``intercepts``
and ``grad_coefs`` / ``grad_intercepts`` are views into them. A solver
therefore updates the whole network with a few numpy calls, and the weight
penalty touches one slice, ``params[:n_weights]``.
"""

import threading
from itertools import pairwise

import numpy as np

from ._activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from ._initializers import INITIALIZERS
from ._normalization import BatchNormalization, BatchStatistics

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

    def __init__(
        self, n_rows, layer_sizes, dtype, dropout, training, normalized, skips, mask_dtypes
    ):
        hidden = layer_sizes[1:-1]
        n_outputs = layer_sizes[-1]
        self.training = training

        def new(width):
            return np.empty((n_rows, width), dtype=dtype)

        # hidden[l] holds z then, in place, a = f(z) of hidden layer l.
        self.hidden = [new(width) for width in hidden]
        self.scratch = [new(width) for width in hidden]
        # What the activation's forward pass leaves for its derivative (relu: active units,
        # GELU: f'(z) itself); None when no backward pass follows.
        self.activation_masks = [
            np.empty((n_rows, width), dtype=dtype if mask_dtype is float else mask_dtype)
            if training
            else None
            for width, mask_dtype in zip(hidden, mask_dtypes, strict=True)
        ]
        if not training:
            dropout = (0.0,) * len(hidden)
        self.deltas = [new(width) if training else None for width in hidden]
        self.dropout_masks = [
            new(w) if rate > 0 else None for w, rate in zip(hidden, dropout, strict=True)
        ]
        # The input of the next layer: the activation, or its dropped-out copy
        # (plus the layer's input, for a residual layer).
        self.inputs = [
            new(w) if rate > 0 or skip else a
            for w, rate, skip, a in zip(hidden, dropout, skips, self.hidden, strict=True)
        ]
        # d loss / d a(l) of a residual layer, which its skip sends back unchanged.
        self.skip_deltas = [
            new(w) if skip and training else None for w, skip in zip(hidden, skips, strict=True)
        ]
        # Prediction reads only their per-unit buffers.
        self.batch_stats = [
            BatchStatistics(n_rows if training else 0, w, dtype) if on else None
            for w, on in zip(hidden, normalized, strict=True)
        ]
        # Each row's weight in the batch statistics (the loss's scale), set by forward.
        self.row_weights = None
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
    activation : str or sequence of str
        Hidden activation, a key of ``HIDDEN_ACTIVATIONS``, or one per hidden layer.
    output_activation : str
        A key of ``OUTPUT_ACTIVATIONS``.
    dtype : numpy dtype
        float32 or float64; parameters, buffers and inputs all share it.
    dropout : sequence of float, optional
        Dropout rate of each hidden layer, used by ``forward(training=True)``.
    batch_normalization : bool, default=False
        Normalise every hidden layer's pre-activations over the batch.
    residual : bool, default=False
        Add each hidden layer's input to its output where their widths are
        equal (never in the first hidden layer).
    momentum : float, default=0.9
        Weight of the old value in batch normalization's running statistics.

    A network made by :meth:`predicting_with` has no flat buffers: it reads
    the weight arrays it was given, and only predicts.
    """

    def __init__(
        self,
        layer_sizes,
        activation,
        output_activation,
        dtype,
        dropout=None,
        batch_normalization=False,
        residual=False,
        momentum=0.9,
    ):
        self.layer_sizes = tuple(int(n) for n in layer_sizes)
        self.activation = activation
        self.output_activation = output_activation
        self.dtype = np.dtype(dtype)
        self.n_hidden = len(self.layer_sizes) - 2
        self.dropout = tuple(dropout) if dropout is not None else (0.0,) * self.n_hidden
        self._set_activations(activation)
        self._output_f = OUTPUT_ACTIVATIONS[output_activation]

        self.skips = residual_layers(self.layer_sizes) if residual else (False,) * self.n_hidden
        self.normalized = (bool(batch_normalization),) * self.n_hidden
        self.momentum = momentum

        shapes = list(pairwise(self.layer_sizes))
        hidden = self.layer_sizes[1:-1] if batch_normalization else ()
        self.n_weights = sum(fan_in * fan_out for fan_in, fan_out in shapes)
        n_params = self.n_weights + sum(self.layer_sizes[1:]) + 2 * sum(hidden)
        self.params = np.zeros(n_params, dtype=self.dtype)
        self.grads = np.zeros(n_params, dtype=self.dtype)
        self.coefs, self.intercepts, self.gammas, self.betas = self._views(
            self.params, shapes, hidden
        )
        self.grad_coefs, self.grad_intercepts, grad_gammas, grad_betas = self._views(
            self.grads, shapes, hidden
        )
        # Running means, then running variances: fitted state that no solver steps.
        self.statistics = np.zeros(2 * sum(hidden), dtype=self.dtype)
        self.running_means = _split(self.statistics[: sum(hidden)], hidden)
        self.running_variances = _split(self.statistics[sum(hidden) :], hidden)
        for variance in self.running_variances:
            variance[...] = 1.0
        layers = zip(
            self.gammas,
            self.betas,
            grad_gammas,
            grad_betas,
            self.running_means,
            self.running_variances,
            strict=True,
        )
        # One normalisation step per hidden layer, or none at all.
        normalizations = [BatchNormalization(*layer) for layer in layers]
        self.normalizations = normalizations or [None] * self.n_hidden
        self._thin_transposes = {
            index: np.empty((fan_out, fan_in), dtype=self.dtype)
            for index, (fan_in, fan_out) in enumerate(shapes)
            if 0 < index and fan_out <= THIN_LAYER_UNITS
        }
        self._workspaces = {}
        self._thread_workspaces = threading.local()

    @classmethod
    def predicting_with(
        cls,
        coefs,
        intercepts,
        activation,
        output_activation,
        skips=None,
        normalization=None,
        dropout=None,
    ):
        """A network that predicts with ``coefs`` and ``intercepts`` themselves.

        ``normalization`` is ``(gammas, betas, running_means,
        running_variances)`` of batch normalization, read likewise; ``dropout``
        the rates that MC-dropout draws masks with. No copies
        and no gradient buffers: changing the arrays in place changes the
        predictions, and making one costs next to nothing.
        """
        network = cls.__new__(cls)
        network.layer_sizes = (coefs[0].shape[0], *(coef.shape[1] for coef in coefs))
        network.activation, network.output_activation = activation, output_activation
        network.dtype = coefs[0].dtype
        network.n_hidden = len(coefs) - 1
        # Dropout only for MC-dropout's forward(dropout=True); prediction never drops.
        network.dropout = tuple(dropout) if dropout is not None else (0.0,) * network.n_hidden
        network._thin_transposes = {}
        network.skips = tuple(skips) if skips is not None else (False,) * network.n_hidden
        network.normalizations = [None] * network.n_hidden
        if normalization is not None:
            network.normalizations = [
                BatchNormalization(gamma, beta, None, None, mean, variance)
                for gamma, beta, mean, variance in zip(*normalization, strict=True)
            ]
        network.normalized = tuple(step is not None for step in network.normalizations)
        network._set_activations(activation)
        network._output_f = OUTPUT_ACTIVATIONS[output_activation]
        network.coefs, network.intercepts = list(coefs), list(intercepts)
        network.params = network.grads = None
        network._workspaces = {}
        network._thread_workspaces = threading.local()
        return network

    def _set_activations(self, activation):
        """``activation``: one name for every hidden layer, or a sequence of one per layer."""
        self.activation = activation
        if isinstance(activation, str):
            self.activations = (activation,) * self.n_hidden
        else:
            self.activations = tuple(activation)
        self._steps = [HIDDEN_ACTIVATIONS[name] for name in self.activations]

    def _init_activation(self, layer):
        """The activation ``init`` scales layer ``layer``'s weights for.

        A hidden layer's own; the output layer's, as in scikit-learn, the hidden
        one (the last hidden layer's when they differ).
        """
        if layer < self.n_hidden:
            return self.activations[layer]
        if isinstance(self.activation, str) or not self.activations:
            return self.activation if isinstance(self.activation, str) else "relu"
        return self.activations[-1]

    def _views(self, flat, shapes, normalized_widths):
        coefs, start = [], 0
        for fan_in, fan_out in shapes:
            coefs.append(flat[start : start + fan_in * fan_out].reshape(fan_in, fan_out))
            start += fan_in * fan_out
        widths = [fan_out for _, fan_out in shapes]
        intercepts = _split(flat[start : start + sum(widths)], widths)
        start += sum(widths)
        n_normalized = sum(normalized_widths)
        gammas = _split(flat[start : start + n_normalized], normalized_widths)
        betas = _split(flat[start + n_normalized :], normalized_widths)
        return coefs, intercepts, gammas, betas

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
        Batch normalization starts as the identity: gamma 1, beta 0.
        """
        initializer = INITIALIZERS[init] if isinstance(init, str) else init
        for layer, (coef, intercept) in enumerate(zip(self.coefs, self.intercepts, strict=True)):
            fan_in, fan_out = coef.shape
            activation = self._init_activation(layer)
            coef[...], intercept[...] = initializer(fan_in, fan_out, rng, activation)
        for gamma in self.gammas:
            gamma[...] = 1.0
        return self

    def snapshot(self, out=None):
        """A copy of every parameter and running statistic (into ``out``, an earlier snapshot)."""
        if out is None:
            out = np.empty(self.params.size + self.statistics.size, dtype=self.dtype)
        out[: self.params.size] = self.params
        out[self.params.size :] = self.statistics
        return out

    def restore(self, snapshot):
        """Go back to the parameters and running statistics of ``snapshot()``."""
        np.copyto(self.params, snapshot[: self.params.size])
        np.copyto(self.statistics, snapshot[self.params.size :])

    def set_parameters(self, coefs, intercepts, normalization=None):
        """Copy in fitted arrays; ``normalization`` is ``(gammas, betas, means, variances)``."""
        mine = self.coefs + self.intercepts
        theirs = list(coefs) + list(intercepts)
        if normalization is not None:
            mine += self.gammas + self.betas + self.running_means + self.running_variances
            theirs += [array for arrays in normalization for array in arrays]
        for target, source in zip(mine, theirs, strict=True):
            target[...] = source
        return self

    def _new_workspace(self, n_rows, training):
        return _Workspace(
            n_rows,
            self.layer_sizes,
            self.dtype,
            self.dropout,
            training,
            self.normalized,
            self.skips,
            [step.mask_dtype for step in self._steps],
        )

    def _workspace(self, n_rows, training):
        key = (n_rows, training)
        workspace = self._workspaces.get(key)
        if workspace is None:
            # A fit meets two batch sizes (full and last) and predict two chunk sizes.
            if len(self._workspaces) >= 8:
                self._workspaces.clear()
            workspace = self._new_workspace(n_rows, training)
            self._workspaces[key] = workspace
        return workspace

    def forward(self, X, training=False, rng=None, ws=None, row_weights=None, dropout=None):
        """Forward pass over the rows of ``X``; returns the workspace holding it.

        With ``training=True`` inverted dropout is applied to the hidden
        activations (masks drawn from ``rng``), batch normalization uses the
        batch's statistics (rows weighted by ``row_weights``, the loss's
        ``scale``: a float or a column summing to one) and updates the running
        ones, and the workspace keeps what ``backward`` needs. ``dropout``
        (default: ``training``) applies dropout without the rest, as
        MC-dropout predicts, in a workspace of :meth:`gradient_workspace`.
        The returned arrays are reused by the next call, unless the caller
        passes a workspace ``ws`` of its own.
        """
        if ws is None:
            ws = self._workspace(X.shape[0], training)
        if training:
            ws.row_weights = 1.0 / X.shape[0] if row_weights is None else row_weights
        drop = training if dropout is None else dropout
        layer_input = X
        for index in range(self.n_hidden):
            layer_input = self._hidden_forward(index, layer_input, ws, training, rng, drop)
        _matmul_into(layer_input, self.coefs[-1], ws.logits)
        ws.logits += self.intercepts[-1]
        self._output_f(ws.logits, ws.output, ws.row_stats)
        return ws

    def _hidden_forward(self, index, layer_input, ws, training, rng, drop):
        """Hidden layer ``index``: dense -> (batch norm) -> f -> (dropout) -> (+ input)."""
        z = ws.hidden[index]
        _matmul_into(layer_input, self.coefs[index], z)
        normalization = self.normalizations[index]
        if normalization is None:
            z += self.intercepts[index]
        elif training:
            z += self.intercepts[index]
            normalization.forward(z, ws.batch_stats[index], ws.row_weights, ws.ones, self.momentum)
        else:
            normalization.predict(z, self.intercepts[index], ws.batch_stats[index])
        self._steps[index].forward(z, ws.scratch[index], ws.activation_masks[index])
        output = ws.inputs[index]  # z itself unless dropout or a skip needs a copy
        rate = self.dropout[index]
        if drop and rate > 0:
            self._drop_out(z, rate, ws.dropout_masks[index], output, rng)
            if self.skips[index]:
                output += layer_input
        elif self.skips[index]:
            np.add(z, layer_input, out=output)
        else:
            return z
        return output

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
            if (
                index < self.n_hidden
                and self.normalized[index]
                and ws.batch_stats[index].from_batch
            ):
                # Normalised by its batch, the bias is redundant (beta): its gradient is
                # zero exactly, not rounding noise that adaptive solvers blow up into steps.
                self.grad_intercepts[index][...] = 0.0
            else:
                np.dot(ws.ones, delta, out=self.grad_intercepts[index])
            if index == 0:
                break
            previous = ws.deltas[index - 1]  # d loss / d a(index - 1)
            np.dot(delta, self._transposed_coef(index), out=previous)
            if index < self.n_hidden and self.skips[index]:
                previous += ws.skip_deltas[index]
            delta = self._hidden_backward(index - 1, previous, ws)

    def _hidden_backward(self, index, delta, ws):
        """Turn ``d loss / d a`` of hidden layer ``index`` into ``d loss / d z``, in place."""
        if self.skips[index]:
            np.copyto(ws.skip_deltas[index], delta)
        if ws.dropout_masks[index] is not None:
            delta *= ws.dropout_masks[index]
        derivative = self._steps[index].derivative
        derivative(ws.hidden[index], delta, ws.scratch[index], ws.activation_masks[index])
        normalization = self.normalizations[index]
        if normalization is not None:
            normalization.backward(
                delta, ws.batch_stats[index], ws.row_weights, ws.ones, ws.scratch[index]
            )
        return delta

    def gradient_workspace(self, n_rows):
        """A workspace for :meth:`input_gradient` (and MC-dropout): one that keeps masks."""
        return self._new_workspace(n_rows, True)

    def input_gradient(self, ws, output_delta):
        """``d (sum over rows and outputs of output_delta * z(L)) / d X``, row by row.

        ``ws`` holds ``forward(X, ws=ws)`` of a :meth:`gradient_workspace`:
        prediction mode (no dropout, batch normalization by its running
        statistics, an affine map whose factor ``gamma / sigma`` the chain
        rule takes). With ``output_delta`` one row's ``d F / d z(L)`` per row,
        the result is each row's gradient of ``F`` with respect to its input.
        """
        delta = output_delta
        for index in range(len(self.coefs) - 1, 0, -1):
            previous = ws.deltas[index - 1]  # d F / d a(index - 1)
            np.dot(delta, self._transposed_coef(index), out=previous)
            if index < self.n_hidden and self.skips[index]:
                previous += ws.skip_deltas[index]
            delta = previous
            layer = index - 1
            if self.skips[layer]:
                np.copyto(ws.skip_deltas[layer], delta)
            step = self._steps[layer]
            step.derivative(ws.hidden[layer], delta, ws.scratch[layer], ws.activation_masks[layer])
            if self.normalizations[layer] is not None:
                delta *= ws.batch_stats[layer].factor
        return delta @ self.coefs[0].T

    def _transposed_coef(self, index):
        copy = self._thin_transposes.get(index)
        if copy is None:
            return self.coefs[index].T
        np.copyto(copy, self.coefs[index].T)
        return copy

    def predict(self, X, logits=False, chunk_rows=None, between_chunks=None):
        """Output activations (or the logits) for every row of ``X``, chunk by chunk.

        Each thread works in workspaces of its own, so threads may predict with
        one network at once. ``between_chunks()``, if given, is called after
        every chunk but the last.
        """
        n_rows = X.shape[0]
        if chunk_rows is None:
            # hidden activations, their scratch and masks, logits and output
            # (a residual layer's output is one more copy)
            bytes_per_row = self.dtype.itemsize * (3 * sum(self.layer_sizes[1:]))
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
            if between_chunks is not None and stop < n_rows:
                between_chunks()
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
            ws = self._new_workspace(n_rows, False)
            workspaces[n_rows] = ws
        return ws


def residual_layers(layer_sizes):
    """Which hidden layers of ``layer_sizes`` can add their input: equal widths, not the first."""
    hidden = layer_sizes[1:-1]
    return tuple(index > 0 and hidden[index - 1] == width for index, width in enumerate(hidden))


def _split(flat, widths):
    """Consecutive views of ``flat``, one per width."""
    views, start = [], 0
    for width in widths:
        views.append(flat[start : start + width])
        start += width
    return views
