"""Sequence layers: 1-D convolution blocks and pooling over time.

Inside the network a batch of series is ``(n_rows, n_steps, channels)``:
channels last, so that every step of every series is one row of a matrix
and the convolution is one matrix product. Series of unequal lengths are
padded at the end; the pass's ``run.mask``, ``(n_rows, n_steps, 1)`` with
ones on each series' own steps (None when every series is full length),
keeps the padding out of every result, so a series gives the same output
whatever it is batched with.

A convolution block computes, for ``K`` taps, ``O`` filters and ``I`` input
channels, with PyTorch's ``padding="same"`` (``left = (K - 1) // 2`` zeros
before the series, the rest after) and stride 1::

    u[n, t, k, i] = x_padded[n, t + k, i]                 the taps of step t
    z[n, t, o]    = sum_{k,i} u[n, t, k, i] W[o, i, k] + b[o]
    z = gamma * z_hat + beta        batch normalization over the valid steps
    a = f(z) * mask

``W`` is in PyTorch's ``Conv1d`` layout ``(O, I, K)``; the products read a
copy in the taps' order, ``(O, K * I)``, made on each pass (it is small).

The taps are never copied out. In the padded buffer, flat, step ``t``'s taps
are the ``K * I`` values from row ``t``: the windows of neighbouring steps
overlap, which BLAS cannot read as a matrix, but windows ``K`` steps apart
just touch. So the steps are taken in ``K`` groups, ``t = r, r + K, r + 2K,
...``: each group's windows are a matrix with a row stride of ``K * I``
values, and its product writes every ``K``-th row of the output. Each
series is padded to a multiple of ``K`` steps so that a group runs through
the whole batch, and the ``K`` groups are one 3-D view of the buffer (one
``np.matmul`` call, ``K`` BLAS products); the windows that start past a
series' last step (or span two series) give rows that are dropped, and in
backward meet a delta of zeros. A block is three such convolutions, ``K``
products each: ``z``, ``dW = delta^T u`` (summed over the groups) and ``dx``,
the convolution of ``delta``, padded likewise, with the filters flipped in
time. Against copying the taps out (``K`` times the input, streamed through
memory twice per pass) the default network's epoch took 0.85x the time in
float64 and 0.87x in float32.
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .._activations import HIDDEN_ACTIVATIONS
from .._normalization import BatchStatistics
from ._base import NEW, Layer, Parameter
from .normalized import Normalized

POOLINGS = ("average", "max", "last")


def step_weights(row_weights, mask, n_rows, n_steps, out):
    """Each valid step's weight in batch statistics over steps: the rows' weights, spread.

    A row of weight ``s`` spreads it evenly over its valid steps, scaled so
    that all weights sum to one: ``1 / (n_rows * n_steps)`` for equal lengths
    and equal weights (as PyTorch's ``BatchNorm1d``), a float then; otherwise
    a column with one weight per ``(row, step)``, written into ``out`` (a
    ``(n_rows * n_steps, 1)`` buffer of the batch's dtype).
    """
    if mask is None and isinstance(row_weights, float):
        return row_weights / n_steps
    weights = out.reshape(n_rows, n_steps, 1)
    weights[...] = np.reshape(row_weights, (-1, 1, 1))
    if mask is not None:
        weights *= mask
    weights /= weights.sum()
    return out


def _padded_length(n_steps, kernel_size):
    """Steps per series in a block's padded buffers: the taps' room, in whole windows."""
    return kernel_size * -(-(n_steps + kernel_size - 1) // kernel_size)


def _by_groups(flat, n_windows, kernel_size, channels, span, first_row=0):
    """``(K, n_windows, span)``, a view: group ``r``, row ``i`` is ``span`` values from row
    ``first_row + i * K + r`` of ``flat``, a buffer of rows of ``channels`` values.

    With ``span = K * channels`` these are the taps of the steps ``r, r + K,
    ...`` (see the module's docstring); with ``span = channels``, every
    ``K``-th row. The buffer must hold the last group's last row.
    """
    item = flat.itemsize
    strides = (channels * item, kernel_size * channels * item, item)
    return as_strided(flat[first_row * channels :], (kernel_size, n_windows, span), strides)


class _Padded:
    """A batch padded for a block's convolution, and its taps by groups of steps.

    ``padded``, ``(n_rows, P, channels)``: the series with zeros around them,
    ``P`` steps each, a multiple of ``K``. ``K`` more rows of zeros follow in
    memory, where the windows of the last steps of the last series reach.
    """

    def __init__(self, n_rows, n_steps, channels, kernel_size, dtype):
        length = _padded_length(n_steps, kernel_size)
        self.kernel_size, self.n_windows = kernel_size, n_rows * length // kernel_size
        self.memory = np.zeros((n_rows * length + kernel_size) * channels, dtype=dtype)
        self.padded = self.memory[: n_rows * length * channels].reshape(n_rows, length, channels)
        self.windows = self.groups(kernel_size * channels)

    def groups(self, span, first_row=0):
        """See ``_by_groups``: ``span`` values from row ``first_row + iK + r``."""
        channels = self.padded.shape[2]
        return _by_groups(self.memory, self.n_windows, self.kernel_size, channels, span, first_row)


def _spread(n_rows, n_steps, channels, kernel_size, dtype):
    """Where a convolution's products go, ``(n_rows, P, channels)``, and that as groups.

    The products of the windows ``r, r + K, ...`` fill every ``K``-th row: a
    buffer laid out as the padded input, by groups of one row.
    """
    products = _Padded(n_rows, n_steps, channels, kernel_size, dtype)
    return products.padded, products.groups(channels)


class _ConvWorkspace:
    def __init__(self, block, n_rows, n_steps, dtype, training):
        fan_in, width, taps = block.fan_in, block.width, block.kernel_size
        rows = n_rows * n_steps
        source = _Padded(n_rows, n_steps, fan_in, taps, dtype)
        self.padded, self.windows = source.padded, source.windows
        # The products for every window, the ones past each series' end too.
        self.spread, self.spread_groups = _spread(n_rows, n_steps, width, taps, dtype)
        # The weights in the taps' order, and (training) their gradient in that order,
        # and by groups before the groups are summed.
        self.tap_matrix = np.empty((width, taps * fan_in), dtype=dtype)
        self.tap_gradient = np.empty_like(self.tap_matrix) if training else None
        self.tap_gradient_parts = (
            np.empty((taps, *self.tap_matrix.shape), dtype) if training else None
        )
        self.hidden = np.empty((rows, width), dtype=dtype)
        self.scratch = np.empty((rows, width), dtype=dtype)
        mask_dtype = block.step.mask_dtype
        self.activation_mask = (
            np.empty((rows, width), dtype=dtype if mask_dtype is float else mask_dtype)
            if training
            else None
        )
        self.delta = np.empty((n_rows, n_steps, width), dtype=dtype) if training else None
        self.input_delta = _InputDelta(block, n_rows, n_steps, dtype) if training else None
        self.batch_stats = (
            BatchStatistics(rows if training else 0, width, dtype) if block.normalized else None
        )
        self.ones = np.ones(rows, dtype=dtype)
        self.step_weights = None
        # The steps' weights where they are not one number (unequal lengths, sample weights).
        self.step_weight_buffer = (
            np.empty((rows, 1), dtype=dtype) if training and block.normalized else None
        )


class _InputDelta:
    """The output's delta padded as the input is, its windows, and the flipped filters.

    Output step ``t``'s delta sits at row ``K - 1 - left + t``: there the
    windows give ``dx`` (see ``ConvBlock._input_delta``), and the weights'
    gradient reads it too, by the input's groups (``deltas``: group ``r``'s
    row ``i`` is the delta of the step whose taps are the input's window
    ``(r, i)``; zero where that window is junk).
    """

    def __init__(self, block, n_rows, n_steps, dtype):
        taps, width = block.kernel_size, block.width
        self.front = taps - 1 - block.left
        delta = _Padded(n_rows, n_steps, width, taps, dtype)
        self.padded, self.windows = delta.padded, delta.windows
        self.deltas = delta.groups(width, first_row=self.front)
        self.spread, self.spread_groups = _spread(n_rows, n_steps, block.fan_in, taps, dtype)
        self.flipped = np.empty((taps * width, block.fan_in), dtype=dtype)


class ConvBlock(Normalized, Layer):
    """A 1-D convolution block: conv (``padding="same"``) -> (batch normalization) -> activation.

    Parameters
    ----------
    fan_in, width : int
        Input channels and filters.
    kernel_size : int
        Taps of each filter.
    activation : str
        A key of ``HIDDEN_ACTIVATIONS``.
    normalized : bool
        Batch normalization over the batch's valid steps, per filter.
    momentum : float
        Weight of the old value in batch normalization's running statistics.
    first : bool
        Whether the input is the data (no delta is sent back in training).
    """

    PREFIX = "conv_"
    PRODUCT_OVER_STEPS = True  # the taps of every step of the batch in one product

    def __init__(self, fan_in, width, kernel_size, activation, normalized, momentum, first):
        self.fan_in, self.width = int(fan_in), int(width)
        self.kernel_size = int(kernel_size)
        self.left = (self.kernel_size - 1) // 2
        self.coef_shape = (self.width, self.fan_in, self.kernel_size)
        self.activation = activation
        self.step = HIDDEN_ACTIVATIONS[activation]
        self.normalized = bool(normalized)
        self.momentum = momentum
        self.first = first

    def parameters(self):
        return [
            Parameter("coef", self.coef_shape, "weights", "conv_coefs_"),
            Parameter("intercept", (self.width,), "biases", "conv_intercepts_"),
            *self.normalization_parameters(),
        ]

    def bind(self, values, gradients, statistics):
        self.coef, self.intercept = values["coef"], values["intercept"]
        # The weights as a matrix, row o filter o's taps in (i, k) order: for the initialiser.
        self._matrix = self.coef.reshape(self.width, -1)
        self.grad_coef = self.grad_intercept = None
        if gradients is not None:
            self.grad_coef, self.grad_intercept = gradients["coef"], gradients["intercept"]
        self.bind_normalization(values, gradients, statistics)

    def initialize(self, rng, initializer):
        # The fan-in counts the taps (in_channels * K, as PyTorch's and Keras'), the
        # fan-out the filters; a filter's weights are a column of the drawn matrix.
        weights, biases = initializer(
            self.fan_in * self.kernel_size, self.width, rng, self.activation
        )
        self._matrix[...] = weights.T
        self.intercept[...] = biases
        self.start_normalization()

    def workspace(self, n_rows, dtype, training, n_steps=1):
        return _ConvWorkspace(self, n_rows, n_steps, dtype, training)

    def product_per_row(self):
        return self.fan_in * self.kernel_size * self.width  # per step

    def bytes_per_row(self, itemsize, n_steps=1):
        # The padded input and the spread products hold whole windows: for series much
        # shorter than the kernel, far more than n_steps steps.
        padded = _padded_length(n_steps, self.kernel_size)
        values = (padded + self.kernel_size) * self.fan_in + padded * self.width
        values += 2 * n_steps * self.width  # z and its scratch
        return itemsize * values + n_steps * self.width  # and the activation's mask

    def forward(self, x, ws, run):
        n_rows, n_steps, n_channels = x.shape
        if n_channels != self.fan_in:  # the buffers would broadcast it silently
            raise ValueError(f"Series of {n_channels} channels for a block of {self.fan_in}.")
        ws.padded[:, self.left : self.left + n_steps] = x
        np.copyto(
            ws.tap_matrix.reshape(self.width, self.kernel_size, -1), self.coef.transpose(0, 2, 1)
        )
        # One call for the K groups; np.dot would copy the strided views.
        np.matmul(ws.windows, ws.tap_matrix.T, out=ws.spread_groups)
        z = ws.hidden
        np.copyto(z.reshape(n_rows, n_steps, self.width), ws.spread[:, :n_steps])
        if self.normalization is None:
            z += self.intercept
        elif run.training:  # the bias cancels in the batch's normalization
            ws.step_weights = step_weights(
                run.row_weights, run.mask, n_rows, n_steps, ws.step_weight_buffer
            )
            self.normalization.forward(
                z, ws.batch_stats, ws.step_weights, ws.ones, self.momentum, self.intercept
            )
        else:
            self.normalization.predict(z, self.intercept, ws.batch_stats)
        self.step.forward(z, ws.scratch, ws.activation_mask)
        output = z.reshape(n_rows, n_steps, self.width)
        if run.mask is not None:
            output *= run.mask
        return output

    def backward(self, delta, x, ws, run, into):
        n_rows, n_steps, _ = x.shape
        if run.mask is not None:
            delta *= run.mask
        delta = delta.reshape(n_rows * n_steps, self.width)
        self.step.derivative(ws.hidden, delta, ws.scratch, ws.activation_mask)
        bias_free = False
        if self.normalization is not None:
            if run.gradients:
                self.normalization.backward(
                    delta, ws.batch_stats, ws.step_weights, ws.ones, ws.scratch
                )
                bias_free = ws.batch_stats.from_batch
            else:  # prediction mode: an affine map, whose factor the chain rule takes
                delta *= ws.batch_stats.factor
        buffers = ws.input_delta or _InputDelta(self, n_rows, n_steps, delta.dtype)
        front = buffers.front
        buffers.padded[:, front : front + n_steps] = delta.reshape(n_rows, n_steps, -1)
        if run.gradients:
            parts = ws.tap_gradient_parts  # dW = delta^T u, a part per group, summed
            np.matmul(buffers.deltas.transpose(0, 2, 1), ws.windows, out=parts)
            np.sum(parts, axis=0, out=ws.tap_gradient)
            gradient = ws.tap_gradient.reshape(self.width, self.kernel_size, -1)
            np.copyto(self.grad_coef, gradient.transpose(0, 2, 1))
            if bias_free:  # beta makes the bias redundant: its gradient is zero exactly
                self.grad_intercept[...] = 0.0
            else:
                np.dot(ws.ones, delta, out=self.grad_intercept)
        if into is None:
            return None
        return self._input_delta(buffers, n_rows, n_steps, into)

    def _input_delta(self, buffers, n_rows, n_steps, into):
        """d loss / d x: the convolution of ``delta`` with the filters flipped in time.

        ``x[t]`` met tap ``k`` at output step ``t - k + left``, so with ``delta``
        padded by ``K - 1 - left`` zeros before (``buffers.padded``), ``dx[t] =
        sum_j delta_padded[t + j] W[:, :, K - 1 - j]``: a convolution as the
        forward pass's, by window groups.
        """
        np.copyto(
            buffers.flipped.reshape(self.kernel_size, self.width, -1),
            self.coef[:, :, ::-1].transpose(2, 0, 1),
        )
        np.matmul(buffers.windows, buffers.flipped, out=buffers.spread_groups)
        dtype = buffers.spread.dtype
        gradient = np.empty((n_rows, n_steps, self.fan_in), dtype) if into is NEW else into
        np.copyto(gradient, buffers.spread[:, :n_steps])
        return gradient

    def onnx(self, x, graph):
        matrix, intercept = self.folded(self._matrix.T, self.intercept)  # a filter per column
        coef = matrix.T.reshape(self.coef_shape)
        pads = (self.left, self.kernel_size - 1 - self.left)
        z = graph.activation(self.activation, graph.conv(x, coef, intercept, pads))
        return graph.on_valid_steps(z)  # as ``forward`` zeroes the padding


class _PoolWorkspace:
    def __init__(self, n_rows, n_steps, width, dtype, training, pooling):
        self.output = np.empty((n_rows, width), dtype=dtype)
        self.delta = np.empty((n_rows, width), dtype=dtype) if training else None
        self.steps = self.steps_last = self.padded_steps = None
        if pooling != "average":  # where each output came from
            self.steps = np.empty((n_rows, width), dtype=np.intp)
        if pooling == "max":  # the input with steps last (numpy's argmax over another axis
            # copies it), -inf on padded steps, and where those are
            self.steps_last = np.empty((n_rows, width, n_steps), dtype=dtype)
            self.padded_steps = np.empty((n_rows, 1, n_steps), dtype=bool)


class TimePooling(Layer):
    """Series to rows: each channel's ``"average"``, ``"max"`` or ``"last"`` over the valid steps.

    ``fan_in`` channels in, as many out.
    """

    def __init__(self, fan_in, pooling):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}.")
        self.fan_in = self.width = int(fan_in)
        self.pooling = pooling

    def workspace(self, n_rows, dtype, training, n_steps=1):
        return _PoolWorkspace(n_rows, n_steps, self.width, dtype, training, self.pooling)

    def bytes_per_row(self, itemsize, n_steps=1):
        if self.pooling == "average":
            return itemsize * self.width
        values = (itemsize + 8) * self.width  # the output and where it came from
        if self.pooling == "max":  # and the input with steps last, with its padded steps
            values += n_steps * (itemsize * self.width + 1)
        return values

    def forward(self, x, ws, run):
        n_rows, n_steps, _ = x.shape
        lengths = run.lengths if run.mask is not None else None
        if self.pooling == "average":
            if lengths is None:
                np.mean(x, axis=1, out=ws.output)
            else:  # each row's valid steps summed: (1, steps) times (steps, channels)
                np.matmul(run.mask.transpose(0, 2, 1), x, out=ws.output[:, None, :])
                ws.output /= lengths[:, None]
            return ws.output
        if self.pooling == "last":
            ws.steps[...] = n_steps - 1 if lengths is None else (lengths - 1)[:, None]
        else:
            np.argmax(self._steps_last(x, ws, run), axis=2, out=ws.steps)
        ws.output[...] = np.take_along_axis(x, ws.steps[:, None, :], axis=1)[:, 0]
        return ws.output

    @staticmethod
    def _steps_last(x, ws, run):
        """``x`` as ``(rows, channels, steps)`` in a buffer, -inf on the padded steps."""
        np.copyto(ws.steps_last, x.transpose(0, 2, 1))
        if run.mask is not None:
            np.less(run.mask.transpose(0, 2, 1), 0.5, out=ws.padded_steps)
            np.copyto(ws.steps_last, -np.inf, where=ws.padded_steps)
        return ws.steps_last

    def backward(self, delta, x, ws, run, into):
        if into is None:
            return None
        gradient = np.empty_like(x) if into is NEW else into
        n_rows, n_steps, _ = x.shape
        if self.pooling == "average":
            if run.mask is None:
                np.multiply(delta[:, None, :], 1.0 / n_steps, out=gradient)
            else:
                np.multiply(delta[:, None, :], run.mask, out=gradient)
                gradient /= run.lengths[:, None, None]
            return gradient
        gradient[...] = 0.0
        np.put_along_axis(gradient, ws.steps[:, None, :], delta[:, None, :], axis=1)
        return gradient

    def onnx(self, x, graph):
        return graph.pool(x, self.pooling)


def sequence_specs(
    n_channels,
    filters,
    kernel_sizes,
    activation,
    pooling,
    batch_normalization=False,
    momentum=0.9,
    recurrent_units=(),
    cell="gru",
    truncate=None,
):
    """The specs of the layers that turn series into rows: blocks, recurrent layers, pooling.

    ``filters`` and ``kernel_sizes`` hold one entry per convolution block;
    ``activation`` is one name, or one per block. ``recurrent_units`` holds
    one width per recurrent layer (see ``recurrent``), of ``cell`` and
    truncated to ``truncate`` steps. The dense layers' specs follow them (see
    :func:`~.dense.dense_specs`, whose first layer is then not ``first``).
    """
    channels = (int(n_channels), *(int(n) for n in filters), *(int(n) for n in recurrent_units))
    activations = (activation,) * len(filters) if isinstance(activation, str) else activation
    specs = [
        (
            "conv",
            {
                "fan_in": channels[index],
                "width": channels[index + 1],
                "kernel_size": taps,
                "activation": activations[index],
                "normalized": batch_normalization,
                "momentum": momentum,
                "first": index == 0,
            },
        )
        for index, taps in enumerate(kernel_sizes)
    ]
    n_blocks = len(specs)
    specs += [
        (
            "recurrent",
            {
                "fan_in": channels[index],
                "width": channels[index + 1],
                "cell": cell,
                "truncate": truncate,
                "first": index == 0,
            },
        )
        for index in range(n_blocks, n_blocks + len(recurrent_units))
    ]
    return [*specs, ("pool", {"fan_in": channels[-1], "pooling": pooling})]
