"""The network: layers composed, their parameters in one flat buffer, forward and backward loops.

Symbols follow the textbook and the user guide. A network is a list of
layers (see :mod:`skbackprop._layers`), each ``a(l) = layer_l(a(l-1))``
with ``a(0) = X``; the last one's output is the prediction. Training runs::

    forward:  a(l) = layer_l.forward(a(l-1))             l = 1 .. L
    loss:     delta(L) = d loss / d z(L)                 (canonical: p - y)
    backward: delta(l-1) = layer_l.backward(delta(l))    l = L .. 1

and each layer's backward also fills its parameters' gradients. The loss
folds the ``1 / n_batch`` (or the sample weights) into ``delta(L)``, so
those are already the gradient of the batch's mean loss.

All parameters live in one flat buffer ``params``, grouped by kind (every
layer's weights first, then every bias, then batch normalization's gammas
and betas), and their gradients in a twin buffer ``grads``; the layers work
in views of them. A solver therefore updates the whole network with a few
numpy calls, and the weight penalty touches one slice,
``params[:n_weights]``. Running statistics (fitted state that no solver
steps) live in a third buffer, ``statistics``.
"""

import contextlib
import math
import threading

import numpy as np

from ._initializers import INITIALIZERS
from ._layers import NEW, PARAMETER_KINDS, PENALISED, STATISTIC_KINDS, Run
from ._series import Series

# Memory for one chunk of rows when predicting, so it stays bounded on any number of rows.
PREDICT_CHUNK_BYTES = 8 * 2**20
PREDICT_MAX_CHUNK_ROWS = 65536


class _Workspace:
    """Every array one forward (and, for training, backward) pass over ``n_rows`` rows needs.

    Made once per batch size and reused, so training allocates nothing per
    batch: each layer's own buffers, the loss's scratch, and the output
    layer's ``logits``, ``output`` and ``output_delta`` (which the loss reads
    and writes).
    """

    def __init__(self, layers, n_rows, dtype, training, n_steps=None):
        self.training = training
        steps = {} if n_steps is None else {"n_steps": n_steps}  # series: the sequence layers'
        self.layers = [layer.workspace(n_rows, dtype, training, **steps) for layer in layers]
        self.inputs = [None] * len(layers)  # each layer's input in the last forward pass
        # The passes' loops, bound once: a small network's step is short enough for
        # the per-layer lookups to show.
        self.forward_steps = [
            (index, layer.forward, layer_ws)
            for index, (layer, layer_ws) in enumerate(zip(layers, self.layers, strict=True))
        ]
        self.backward_steps = [
            (
                index,
                layers[index].backward,
                self.layers[index],
                self.layers[index - 1].delta if index else None,
            )
            for index in range(len(layers) - 1, -1, -1)
        ]
        last = self.layers[-1]
        self.logits, self.output, self.output_delta = last.logits, last.output, last.output_delta
        self.row_stats = last.row_stats
        n_outputs = layers[-1].width
        # The loss's own scratch, so that computing the loss overwrites nothing else.
        self.loss_scratch = np.empty((n_rows, n_outputs), dtype=dtype)
        self.loss_scratch2 = np.empty((n_rows, n_outputs), dtype=dtype)
        self.row_scratch = np.empty((n_rows, 1), dtype=dtype)
        # Bias gradients are column sums, which BLAS computes fastest as ones @ delta.
        self.ones = np.ones(n_rows, dtype=dtype)
        # Each row's weight in the batch statistics (the loss's scale), set by forward.
        self.row_weights = None
        self.prediction_run = Run(False, False, None, None, self.ones)
        self.training_run = Run(True, True, None, None, self.ones)
        self.run = None
        # Series of unequal lengths: ones on each row's steps (see Run).
        self.mask = None if n_steps is None else np.empty((n_rows, n_steps, 1), dtype=dtype)

    def set_lengths(self, run, lengths):
        """Put ``lengths`` (each row's number of steps, or None: all of them) into ``run``."""
        n_steps = None if self.mask is None else self.mask.shape[1]
        if lengths is None or n_steps is None or (lengths >= n_steps).all():
            run.lengths = run.mask = None
            return
        np.less(np.arange(n_steps)[None, :, None], lengths[:, None, None], out=self.mask)
        run.lengths, run.mask = lengths, self.mask


def _layout(declared, kinds):
    """Where each declared array lies in a flat buffer: kind by kind, then layer by layer.

    ``declared`` holds each layer's declarations, whose own order is kept.
    Returns ``[(layer index, declaration, start, stop)]`` in buffer order,
    and the buffer's size.
    """
    by_kind = {kind: [] for kind in kinds}
    for index, declarations in enumerate(declared):
        for declaration in declarations:
            by_kind[declaration.kind].append((index, declaration))
    layout, start = [], 0
    for kind in kinds:
        for index, declaration in by_kind[kind]:
            stop = start + math.prod(declaration.shape)
            layout.append((index, declaration, start, stop))
            start = stop
    return layout, start


def steps(X):
    """The number of steps of series ``(n_rows, n_steps, channels)`` (an array or a Series).

    None for rows.
    """
    shape = X.shape
    return shape[1] if len(shape) == 3 else None


def _slices(flat, layout):
    """The view of ``flat`` of each declaration of ``layout``, in layout order."""
    return [flat[start:stop].reshape(declared.shape) for _, declared, start, stop in layout]


class Network:
    """A network of ``layers`` computing in ``dtype`` (float32 or float64).

    The one constructor makes the flat buffers and binds every layer to
    them; :meth:`reading` instead binds the layers to fitted arrays (no
    copies, no gradients), for a network that only predicts with them.
    ``description`` is whatever the caller wants kept with the network
    (the model layer: the parameters it was built from).
    """

    def __init__(self, layers, dtype, description=None):
        self._setup(layers, dtype, description)
        parameters, n_params = _layout([layer.parameters() for layer in layers], PARAMETER_KINDS)
        statistics, n_state = _layout([layer.statistics() for layer in layers], STATISTIC_KINDS)
        # Penalised arrays come first: they end where the last of them does.
        self.n_weights = max(
            (stop for _, declared, _, stop in parameters if declared.kind == PENALISED), default=0
        )
        self._bind_buffers(
            parameters,
            statistics,
            np.zeros(n_params, dtype=self.dtype),
            np.zeros(n_state, dtype=self.dtype),
        )
        for (_, declared, _, _), arrays in zip(statistics, self._statistic_arrays, strict=True):
            if declared.start != 0:
                arrays[...] = declared.start

    def copy(self):
        """A network of the same layers, with its own copy of the parameters and statistics.

        What continuing a fit trains: the same model as a new network holding
        these arrays (the gradients zero, no workspaces), without building it
        anew. The layers are shallow copies, bound to the new buffers.
        """
        network = Network.__new__(Network)
        layers = []
        for layer in self.layers:  # copy.copy's protocol costs a small fit's step
            clone = object.__new__(type(layer))
            clone.__dict__.update(layer.__dict__)
            layers.append(clone)
        network._setup(layers, self.dtype, self.description)
        network.n_weights = self.n_weights
        network._bind_buffers(*self._layouts, self.params.copy(), self.statistics.copy())
        return network

    def _bind_buffers(self, parameters, statistics, params, state):
        """Bind the layers to views of ``params``, a twin gradient buffer, and ``state``."""
        self.params, self.statistics = params, state
        self.grads = np.zeros(params.size, dtype=params.dtype)
        self._layouts = (parameters, statistics)
        self._bind(
            parameters,
            statistics,
            _slices(params, parameters),
            _slices(self.grads, parameters),
            _slices(state, statistics),
        )

    @classmethod
    def reading(cls, layers, fitted, dtype=None, description=None):
        """A network that predicts with the fitted arrays themselves.

        ``fitted`` maps each declared ``attribute`` (``coefs_`` ...) to its
        list of arrays, one per layer that declares it, in layer order. No
        copies and no gradient buffers: changing the arrays in place changes
        the predictions, and making one costs next to nothing.
        """
        network = cls.__new__(cls)
        if dtype is None:  # the arrays': they are read as they are
            dtype = next(arrays[0] for arrays in fitted.values() if arrays).dtype
        network._setup(layers, dtype, description)
        network.params = network.grads = network.statistics = None
        network.n_weights = 0
        parameters, _ = _layout([layer.parameters() for layer in layers], PARAMETER_KINDS)
        statistics, _ = _layout([layer.statistics() for layer in layers], STATISTIC_KINDS)
        arrays = {attribute: iter(values) for attribute, values in fitted.items() if values}
        values = [next(arrays[declared.attribute]) for _, declared, _, _ in parameters]
        state = [next(arrays[declared.attribute]) for _, declared, _, _ in statistics]
        network._bind(parameters, statistics, values, None, state)
        return network

    def _setup(self, layers, dtype, description):
        self.layers = list(layers)
        self.description = dict(description or {})
        self.dtype = np.dtype(dtype)
        self.layer_sizes = (self.layers[0].fan_in, *[layer.width for layer in self.layers])
        self.output_activation = self.layers[-1].output_activation
        self._products = self._chunk_rows = None  # computed when first asked for
        self._workspaces = {}
        self._thread_workspaces = threading.local()

    def _bind(self, parameters, statistics, values, gradients, state):
        """Bind each layer to its arrays, and keep them by fitted attribute, in layer order.

        ``values``, ``gradients`` (or None) and ``state`` hold one array per
        entry of the layouts ``parameters`` and ``statistics``.
        """
        n_layers = len(self.layers)
        by_layer = [({}, None if gradients is None else {}, {}) for _ in range(n_layers)]
        # Kind by kind, then layer by layer: each attribute's arrays come in layer order.
        self._fitted = fitted = {}
        self._weight_gradients = []
        for position, (index, declared, _, _) in enumerate(parameters):
            by_layer[index][0][declared.name] = values[position]
            fitted.setdefault(declared.attribute, []).append(values[position])
            if gradients is not None:
                by_layer[index][1][declared.name] = gradients[position]
                if declared.kind == PENALISED:
                    self._weight_gradients.append(gradients[position])
        for (index, declared, _, _), array in zip(statistics, state, strict=True):
            by_layer[index][2][declared.name] = array
            fitted.setdefault(declared.attribute, []).append(array)
        self._statistic_arrays = state
        for layer, (layer_values, layer_gradients, layer_state) in zip(
            self.layers, by_layer, strict=True
        ):
            layer.bind(layer_values, layer_gradients, layer_state)

    # -- the fitted arrays -----------------------------------------------------

    def fitted_arrays(self):
        """``{attribute: [array per layer]}``: views of the buffers (or the arrays read)."""
        return self._fitted

    @property
    def coefs(self):
        return self._fitted["coefs_"]

    @property
    def intercepts(self):
        return self._fitted["intercepts_"]

    @property
    def weight_gradients(self):
        """The gradient of each penalised array, in layer order (for per-layer statistics)."""
        return self._weight_gradients

    @property
    def weights(self):
        """All weights (no biases) as one flat view, for penalties."""
        return self.params[: self.n_weights]

    @property
    def weight_grads(self):
        return self.grads[: self.n_weights]

    def initialize(self, rng, init="glorot_uniform"):
        """Draw every layer's parameters with ``init``, layer after layer.

        ``init`` is a name in ``INITIALIZERS`` or an initialiser function
        ``(fan_in, fan_out, rng, activation) -> (weights, biases)``.
        """
        initializer = INITIALIZERS[init] if isinstance(init, str) else init
        for layer in self.layers:
            layer.initialize(rng, initializer)
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

    def set_parameters(self, fitted):
        """Copy in fitted arrays, ``{attribute: [array per layer]}`` as :meth:`fitted_arrays`."""
        for attribute, targets in self._fitted.items():
            for target, source in zip(targets, fitted[attribute], strict=True):
                np.copyto(target, source, casting="unsafe")
        return self

    @contextlib.contextmanager
    def latest_statistics(self):
        """Within the block, running statistics become the latest batch's (full-batch lbfgs).

        The layers' momentum comes back on leaving: the network may go on
        training (a continued fit) with another solver.
        """
        momenta = [(layer, layer.momentum) for layer in self.layers if hasattr(layer, "momentum")]
        for layer, _ in momenta:
            layer.momentum = 0.0
        try:
            yield self
        finally:
            for layer, momentum in momenta:
                layer.momentum = momentum

    def largest_product(self, n_rows, n_steps=None):
        """Multiply-adds of the largest product a pass over ``n_rows`` rows makes.

        For series, ``n_steps`` is their (padded) length: a convolution's product
        spans every step, a recurrent layer's loop multiplies one step at a time.
        """
        if self._products is None:
            per_row, per_step = [0], [0]
            for layer in self.layers:
                spans = per_step if layer.PRODUCT_OVER_STEPS else per_row
                spans.append(layer.product_per_row())
            self._products = max(per_row), max(per_step)
        per_row, per_step = self._products
        return n_rows * max(per_row, (n_steps or 1) * per_step)

    # -- the passes --------------------------------------------------------------

    def _workspace(self, X, training):
        key = (X.shape[0], steps(X), training)
        workspace = self._workspaces.get(key)
        if workspace is None:
            # A fit meets two batch sizes (full and last) and predict two chunk sizes.
            if len(self._workspaces) >= 8:
                self._workspaces.clear()
            workspace = _Workspace(self.layers, X.shape[0], self.dtype, training, steps(X))
            self._workspaces[key] = workspace
        return workspace

    def release_workspaces(self):
        """Let go of the training workspaces (a trained network that goes on to predict)."""
        self._workspaces.clear()

    def gradient_workspace(self, n_rows, n_steps=None):
        """A workspace for :meth:`input_gradient` (and MC-dropout): one that keeps masks."""
        return _Workspace(self.layers, n_rows, self.dtype, True, n_steps)

    def forward(
        self, X, training=False, rng=None, ws=None, row_weights=None, dropout=None, lengths=None
    ):
        """Forward pass over the rows of ``X``; returns the workspace holding it.

        With ``training=True`` dropout is applied (masks drawn from ``rng``),
        batch normalization uses the batch's statistics (rows weighted by
        ``row_weights``, the loss's ``scale``: a float or a column summing to
        one) and updates the running ones, and the workspace keeps what
        ``backward`` needs. ``dropout`` (default: ``training``) applies
        dropout without the rest, as MC-dropout predicts, in a workspace of
        :meth:`gradient_workspace`. The returned arrays are reused by the
        next call, unless the caller passes a workspace ``ws`` of its own.
        Series, ``(n_rows, n_steps, channels)``, may come with ``lengths``,
        each row's number of steps (padded at the end to ``n_steps``), or as a
        :class:`~skbackprop._series.Series` holding both.
        """
        if isinstance(X, Series):
            X, lengths = X.values, X.lengths
        if ws is None:
            ws = self._workspace(X, training)
        if training:
            ws.row_weights = 1.0 / X.shape[0] if row_weights is None else row_weights
        if training or dropout:  # this workspace's training Run, updated in place
            run = ws.training_run
            run.training, run.drop = training, training if dropout is None else dropout
            run.rng, run.row_weights = rng, ws.row_weights
        else:
            run = ws.prediction_run
        if ws.mask is not None:
            ws.set_lengths(run, lengths)
        ws.run, inputs, x = run, ws.inputs, X
        for index, forward, layer_ws in ws.forward_steps:
            inputs[index] = x
            x = forward(x, layer_ws, run)
        return ws

    def backward(self, X, ws):
        """Fill ``grads`` from ``ws.output_delta``, which the loss has written."""
        if not ws.training:
            raise ValueError("backward needs the workspace of forward(X, training=True).")
        self._backward(ws, ws.output_delta, ws.run, None)

    def input_gradient(self, ws, output_delta):
        """``d (sum over rows and outputs of output_delta * z(L)) / d X``, row by row.

        ``ws`` holds ``forward(X, ws=ws)`` of a :meth:`gradient_workspace`:
        prediction mode (no dropout, batch normalization by its running
        statistics, an affine map whose factor ``gamma / sigma`` the chain
        rule takes). With ``output_delta`` one row's ``d F / d z(L)`` per row,
        the result is each row's gradient of ``F`` with respect to its input.
        """
        return self._backward(ws, output_delta, ws.run._replace(gradients=False), NEW)

    def _backward(self, ws, delta, run, first_into):
        """The layers' backward passes, last to first; returns what the first sends back."""
        inputs = ws.inputs
        for index, backward, layer_ws, into in ws.backward_steps:
            delta = backward(delta, inputs[index], layer_ws, run, into if index else first_into)
        return delta

    def output_gradient(self, ws, columns, signs):
        """``d F / d z(L)`` per row, ``F`` the output ``columns`` of each row (times ``signs``)."""
        return self.layers[-1].output_gradient(ws.layers[-1], columns, signs)

    def predict(self, X, logits=False, chunk_rows=None, between_chunks=None, lengths=None):
        """Output activations (or the logits) for every row of ``X``, chunk by chunk.

        Each thread works in workspaces of its own, so threads may predict with
        one network at once. ``between_chunks()``, if given, is called after
        every chunk but the last. ``lengths``: as :meth:`forward`'s.
        """

        def outputs(chunk, ws, rows):
            if lengths is not None:
                chunk = Series(chunk, lengths[rows])
            self.forward(chunk, ws=ws)
            return ws.logits if logits else ws.output

        return self.map_chunks(X, outputs, chunk_rows, between_chunks)

    def map_chunks(self, X, compute, chunk_rows=None, between_chunks=None, workspaces=None):
        """``compute(chunk, ws, rows)`` for the rows of ``X`` chunk by chunk, stacked.

        ``compute`` returns one row per row of the chunk, ``X[rows]``; ``ws`` is this
        thread's prediction workspace for the chunk's size, or, with
        ``workspaces`` (a dict the caller keeps across calls), a
        :meth:`gradient_workspace` from it.
        """
        n_rows, n_steps = X.shape[0], steps(X)
        if chunk_rows is None:
            chunk_rows = self._default_chunk_rows(n_steps)
        result = None
        for start in range(0, max(n_rows, 1), chunk_rows):  # 0 rows: one empty chunk
            stop = min(start + chunk_rows, n_rows)
            chunk = X[start:stop]
            if chunk.dtype != self.dtype:
                chunk = chunk.astype(self.dtype)
            if workspaces is None:
                ws = self._thread_workspace(stop - start, n_steps)
            else:  # a call meets two sizes: its chunks', and the last chunk's
                ws = workspaces.get(stop - start)
                if ws is None:
                    ws = self.gradient_workspace(stop - start, n_steps)
                    workspaces[stop - start] = ws
            values = compute(chunk, ws, slice(start, stop))
            if result is None:
                result = np.empty((n_rows, *values.shape[1:]), dtype=values.dtype)
            result[start:stop] = values
            if between_chunks is not None and stop < n_rows:
                between_chunks()
        return result

    def _default_chunk_rows(self, n_steps=None):
        """Rows (series of ``n_steps``) per chunk, a workspace near ``PREDICT_CHUNK_BYTES``."""
        if n_steps is None and self._chunk_rows:
            return self._chunk_rows
        itemsize = self.dtype.itemsize
        per_row = sum(layer.bytes_per_row(itemsize, n_steps or 1) for layer in self.layers)
        # Under 64 rows a chunk saves little memory and costs calls; a long series may
        # fill a chunk alone.
        floor = 64 if n_steps is None else 1
        rows = min(max(PREDICT_CHUNK_BYTES // per_row, floor), PREDICT_MAX_CHUNK_ROWS)
        if n_steps is None:
            self._chunk_rows = rows
        return rows

    def _thread_workspace(self, n_rows, n_steps=None):
        """This thread's prediction workspace for ``n_rows`` rows (a few sizes are kept)."""
        workspaces = getattr(self._thread_workspaces, "by_rows", None)
        if workspaces is None:
            workspaces = self._thread_workspaces.by_rows = {}
        ws = workspaces.get((n_rows, n_steps))
        if ws is None:
            if len(workspaces) >= 4:
                workspaces.clear()
            ws = _Workspace(self.layers, n_rows, self.dtype, False, n_steps)
            workspaces[(n_rows, n_steps)] = ws
        return ws
