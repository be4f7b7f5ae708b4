"""Recurrent layers over series: Elman (tanh) and GRU cells, trained by (truncated) BPTT.

For each step ``t`` of ``(rows, steps, channels)`` series, from ``h(-1) = 0``,
in PyTorch's ``RNN``/``GRU`` equations, layouts and gate order (``r``, ``z``,
``n``), so weights move to and from PyTorch by assignment::

    Elman:  h(t) = tanh(W_ih x(t) + b_ih + W_hh h(t-1) + b_hh)
    GRU:    r = sigma(W_ir x + b_ir + W_hr h(t-1) + b_hr)
            z = sigma(W_iz x + b_iz + W_hz h(t-1) + b_hz)
            n = tanh(W_in x + b_in + r * (W_hn h(t-1) + b_hn))
            h(t) = (1 - z) * n + z * h(t-1)

The output is every step's ``h``. The input products of all steps are one
matrix product before the loop, and so are the parameter gradients after it:
the loop holds only what depends on ``h(t-1)``.

Truncation: with ``truncate = k``, the gradient of the output read at step
``t`` goes back through the cell steps ``t, ..., t - k + 1`` and no further
(the state before them is a constant to it, as PyTorch's ``h.detach()``).
The backward loop carries, for each step, the gradient reaching ``h`` by its
age (how many steps back it has come), at most ``k`` of them; a gradient of
age ``k - 1`` is not sent further. ``k = 1`` is no backpropagation through
time; ``None`` (or ``k`` at least the series' length) is full BPTT, with one
carried gradient. Steps after a series' end (the padding of unequal lengths)
never reach its earlier steps, and pooling reads only its own steps.
"""

import numpy as np
from scipy.special import expit

from ._base import NEW, Layer, Parameter

CELLS = {"elman": 1, "gru": 3}  # gates per cell


class _RecurrentWorkspace:
    """Every buffer of a pass over ``n_rows`` series of ``n_steps``: the loops allocate nothing."""

    def __init__(self, layer, n_rows, n_steps, dtype, training):
        width, gates = layer.width, layer.gates
        self.output = np.empty((n_rows, n_steps, width), dtype=dtype)
        # The input's share of every step's gate pre-activations, (rows, steps, gates * width).
        self.input_part = np.empty((n_rows, n_steps, gates * width), dtype=dtype)
        self.hidden_part = np.empty((n_rows, gates * width), dtype=dtype)
        self.bias = np.empty(gates * width, dtype=dtype)  # the biases added before the loop
        # GRU: r, z, n and W_hn h + b_hn of every step, kept for the backward pass.
        self.gates = np.empty((n_rows, n_steps, 4 * width), dtype=dtype) if gates == 3 else None
        self.zeros = np.zeros((n_rows, width), dtype=dtype)
        # The backward pass's: how many gradient ages it carries (see the module's docstring).
        truncate = layer.truncate
        ages = 1 if truncate is None or truncate >= n_steps else truncate
        if not training:  # the gradient to the input alone (inspection) runs rarely
            self.delta = None
            return
        self.delta = np.empty((n_rows, n_steps, width), dtype=dtype)

        def new(*shape):
            return np.empty(shape, dtype=dtype)

        self.ages = ages
        # The pre-activations' gradients, of every step and (truncation) per age at one
        # step: the input's and the state's shares. Elman's pre-activation takes the input
        # and the state alike, so its two shares are one array.
        self.input_grad = new(n_rows, n_steps, gates * width)
        self.hidden_grad = new(n_rows, n_steps, gates * width) if gates == 3 else self.input_grad
        self.to_input = new(ages, n_rows, gates * width)
        self.to_hidden = new(ages, n_rows, gates * width) if gates == 3 else self.to_input
        self.previous = np.zeros((n_rows, n_steps, width), dtype=dtype)
        self.arriving, self.carried = new(ages, n_rows, width), new(ages, n_rows, width)
        self.direct = new(ages, n_rows, width)
        # Per-step factors of the cell's derivative, (rows, width) each.
        self.factors = new(4, n_rows, width)


def _backward_buffers(layer, ws, shape, dtype):
    """A training workspace's backward buffers beside a prediction workspace's forward ones."""
    n_rows, n_steps, _ = shape
    buffers = _RecurrentWorkspace(layer, n_rows, n_steps, dtype, training=True)
    buffers.output, buffers.gates = ws.output, ws.gates
    return buffers


class RecurrentLayer(Layer):
    """A recurrent layer of ``width`` units over series of ``fan_in`` channels.

    ``cell`` is ``"elman"`` or ``"gru"``; ``truncate`` the steps a gradient
    goes back (None: all). ``first``: the input is the data.
    """

    def __init__(self, fan_in, width, cell, truncate=None, first=False):
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}.")
        self.fan_in, self.width = int(fan_in), int(width)
        self.cell, self.gates = cell, CELLS[cell]
        self.truncate = None if truncate is None else int(truncate)
        self.first = first

    def parameters(self):
        rows = self.gates * self.width
        return [
            Parameter("input_coef", (rows, self.fan_in), "weights", "recurrent_input_coefs_"),
            Parameter("hidden_coef", (rows, self.width), "weights", "recurrent_hidden_coefs_"),
            Parameter("input_intercept", (rows,), "biases", "recurrent_input_intercepts_"),
            Parameter("hidden_intercept", (rows,), "biases", "recurrent_hidden_intercepts_"),
        ]

    def bind(self, values, gradients, statistics):
        self.values = values
        self.gradients = gradients

    def initialize(self, rng, initializer):
        # PyTorch's: every array uniform in +-1 / sqrt(width).
        bound = 1.0 / np.sqrt(self.width)
        for array in self.values.values():
            array[...] = rng.uniform(-bound, bound, array.shape)

    def workspace(self, n_rows, dtype, training, n_steps=1):
        return _RecurrentWorkspace(self, n_rows, n_steps, dtype, training)

    def product_per_row(self):  # per step
        return self.gates * self.width * (self.fan_in + self.width)

    def bytes_per_row(self, itemsize, n_steps=1):
        per_step = itemsize * self.width * (2 + self.gates + (4 if self.gates == 3 else 0))
        return n_steps * per_step

    # -- forward ---------------------------------------------------------------

    def forward(self, x, ws, run):
        n_rows, n_steps, _ = x.shape
        v = self.values
        np.dot(
            x.reshape(n_rows * n_steps, -1),
            v["input_coef"].T,
            out=ws.input_part.reshape(n_rows * n_steps, -1),
        )
        # The state's biases join the input's before the loop, but for the GRU's b_hn,
        # which the reset gate multiplies: one pass less over every step.
        fused = self.width * (2 if self.gates == 3 else 1)
        np.copyto(ws.bias, v["input_intercept"])
        ws.bias[:fused] += v["hidden_intercept"][:fused]
        ws.input_part += ws.bias
        previous = ws.zeros
        for step in range(n_steps):
            np.dot(previous, v["hidden_coef"].T, out=ws.hidden_part)
            if self.gates == 1:
                np.add(ws.input_part[:, step], ws.hidden_part, out=ws.output[:, step])
                np.tanh(ws.output[:, step], out=ws.output[:, step])
            else:
                self._gru_step(ws, step, previous)
            previous = ws.output[:, step]
        return ws.output

    def _gru_step(self, ws, step, previous):
        w = self.width
        gates, hidden = ws.gates[:, step], ws.hidden_part
        reset_update = gates[:, : 2 * w]
        np.add(ws.input_part[:, step, : 2 * w], hidden[:, : 2 * w], out=reset_update)
        expit(reset_update, out=reset_update)
        reset, update = gates[:, :w], gates[:, w : 2 * w]
        candidate, hidden_candidate = gates[:, 2 * w : 3 * w], gates[:, 3 * w :]
        np.add(hidden[:, 2 * w :], self.values["hidden_intercept"][2 * w :], out=hidden_candidate)
        np.multiply(reset, hidden_candidate, out=candidate)
        candidate += ws.input_part[:, step, 2 * w :]
        np.tanh(candidate, out=candidate)
        # h = n + z * (h(t-1) - n)
        h = ws.output[:, step]
        np.subtract(previous, candidate, out=h)
        h *= update
        h += candidate

    # -- backward --------------------------------------------------------------

    def backward(self, delta, x, ws, run, into):
        if ws.delta is None:  # a prediction workspace: buffers of its own, made now
            ws = _backward_buffers(self, ws, x.shape, delta.dtype)
        n_rows, n_steps, _ = x.shape
        rows = n_rows * n_steps
        full = ws.ages == 1 and (self.truncate is None or self.truncate >= n_steps)
        hidden_coef = self.values["hidden_coef"]
        n_arriving = 0  # gradients reaching h(step) from later outputs, by age, in ws.carried
        for step in range(n_steps - 1, -1, -1):
            arriving = ws.arriving
            if full and n_arriving:
                np.add(delta[:, step], ws.carried[0], out=arriving[0])
                m = 1
            else:
                np.copyto(arriving[0], delta[:, step])
                np.copyto(arriving[1 : 1 + n_arriving], ws.carried[:n_arriving])
                m = 1 + n_arriving
            if m == 1:  # one age (always, in full BPTT): written where it is summed to
                to_input, to_hidden = ws.input_grad[None, :, step], ws.hidden_grad[None, :, step]
            else:
                to_input, to_hidden = ws.to_input[:m], ws.to_hidden[:m]
            direct = self._cell_backward(ws, step, arriving[:m], to_input, to_hidden)
            if m > 1:
                np.sum(to_input, axis=0, out=ws.input_grad[:, step])
                if self.gates == 3:  # Elman's state and input share one gradient
                    np.sum(to_hidden, axis=0, out=ws.hidden_grad[:, step])
            # Ages 0 .. k-2 go one step further back; age k-1 stops here.
            n_arriving = 0 if step == 0 else (m if full else min(m, ws.ages - 1))
            if n_arriving:
                carried = ws.carried[:n_arriving]
                np.matmul(to_hidden[:n_arriving], hidden_coef, out=carried)
                if direct is not None:
                    carried += direct[:n_arriving]
        input_grad = ws.input_grad.reshape(rows, -1)
        if run.gradients:
            self._parameter_gradients(x, ws, input_grad, ws.hidden_grad.reshape(rows, -1))
        if into is None:
            return None
        gradient = np.empty(x.shape, dtype=delta.dtype) if into is NEW else into
        np.dot(input_grad, self.values["input_coef"], out=gradient.reshape(rows, -1))
        return gradient

    def _cell_backward(self, ws, step, arriving, to_input, to_hidden):
        """For ``arriving = d loss / d h(step)`` by age: the pre-activations' gradients.

        Writes the input's and the state's shares into ``to_input`` and
        ``to_hidden`` (each ``(ages, rows, gates * width)``; one array for Elman)
        and returns the GRU's direct ``d h(step) / d h(step-1)`` term (None for
        Elman).
        """
        m, h, f = len(arriving), ws.output[:, step], ws.factors
        if self.gates == 1:  # tanh' = 1 - h^2
            np.multiply(h, h, out=f[0])
            np.subtract(1.0, f[0], out=f[0])
            np.multiply(arriving, f[0], out=to_input)
            return None
        w = self.width
        gates = ws.gates[:, step]
        reset, update = gates[:, :w], gates[:, w : 2 * w]
        candidate, hidden_candidate = gates[:, 2 * w : 3 * w], gates[:, 3 * w :]
        previous = ws.output[:, step - 1] if step > 0 else ws.zeros
        # d candidate: (1 - z)(1 - n^2); d update: (h(t-1) - n) z (1 - z); d reset: hn r (1 - r)
        np.multiply(candidate, candidate, out=f[0])
        np.subtract(1.0, f[0], out=f[0])
        np.subtract(1.0, update, out=f[1])
        f[0] *= f[1]
        f[1] *= update
        np.subtract(previous, candidate, out=f[2])
        f[2] *= f[1]
        np.subtract(1.0, reset, out=f[3])
        f[3] *= reset
        f[3] *= hidden_candidate
        np.multiply(arriving, f[0], out=to_input[..., 2 * w :])
        np.multiply(arriving, f[2], out=to_input[..., w : 2 * w])
        np.multiply(to_input[..., 2 * w :], f[3], out=to_input[..., :w])
        np.copyto(to_hidden[..., : 2 * w], to_input[..., : 2 * w])
        np.multiply(to_input[..., 2 * w :], reset, out=to_hidden[..., 2 * w :])
        direct = ws.direct[:m]
        np.multiply(arriving, update, out=direct)
        return direct

    def _parameter_gradients(self, x, ws, input_grad, hidden_grad):
        n_rows, n_steps, _ = x.shape
        g = self.gradients
        np.dot(input_grad.T, x.reshape(n_rows * n_steps, -1), out=g["input_coef"])
        np.sum(input_grad, axis=0, out=g["input_intercept"])
        # h(t-1) of every step: the outputs one step later (ws.previous[:, 0] stays zero).
        np.copyto(ws.previous[:, 1:], ws.output[:, :-1])
        np.dot(hidden_grad.T, ws.previous.reshape(n_rows * n_steps, -1), out=g["hidden_coef"])
        np.sum(hidden_grad, axis=0, out=g["hidden_intercept"])

    def onnx(self, x, graph):
        v, w = self.values, self.width
        if self.gates == 1:
            kind, order = "RNN", [slice(0, w)]
        else:  # ONNX's gates are z, r, h where PyTorch's are r, z, n
            kind, order = "GRU", [slice(w, 2 * w), slice(0, w), slice(2 * w, 3 * w)]

        def reordered(array):
            return np.concatenate([array[rows] for rows in order])

        bias = np.concatenate([reordered(v["input_intercept"]), reordered(v["hidden_intercept"])])
        return graph.recurrent(
            x, kind, reordered(v["input_coef"]), reordered(v["hidden_coef"]), bias, w
        )
