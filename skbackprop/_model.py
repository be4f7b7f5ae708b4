"""The model layer: between the estimators' parameters and the network core.

Imports run one way, core <- model <- estimators <- add-ons. This module
knows the network core and nothing of scikit-learn's estimator API; it holds
what an estimator's parameters and fitted attributes mean for a network:

- :class:`Architecture`: the layer specification that ``hidden_layer_sizes``,
  ``activation``, ``dropout``, ``batch_normalization`` and ``residual``
  expand to, checked, with errors that name the parameter;
- :func:`network_to_train`: a network of random weights, or one holding the
  fitted arrays for warm start and ``partial_fit``;
- the fitted-state schema, written by :func:`fitted_attributes` and read by
  :func:`layers_from_fitted` and :class:`FittedModel`, in one place;
- :class:`FittedModel`: the network reading the fitted arrays (made once and
  kept while they are the fitted ones), its chunked prediction, input
  gradients and MC-dropout draws. It is what the add-ons (``inspection``,
  ``onnx``, plots) use, through :func:`fitted_model`.

An estimator keeps a small contract with this module (duck-typed, so the
import stays one way): its fitted attributes of the schema, and the methods
``_input_to_predict(X)`` (X validated for prediction), ``_as_predicted(output)``
(what predict returns for network outputs), ``_outputs_behind_column(X, c)``,
``_target_type()``, ``_dropout_rates(n_hidden)`` and ``_in_input_layout(values, X)``
(per-input values, such as gradients, in the layout X was given in).
"""

from numbers import Integral, Real

import numpy as np

from ._activations import HIDDEN_ACTIVATIONS
from ._layers import build, dense_specs, residual_layers, sequence_specs
from ._network import PREDICT_MAX_CHUNK_ROWS, Network, steps
from ._threads import threads_for

# Fitted attributes holding one array per layer that has them (None without such layers).
ARRAY_ATTRIBUTES = (
    "coefs_",
    "intercepts_",
    "gammas_",
    "betas_",
    "running_means_",
    "running_variances_",
)
# The sequence estimators' convolution blocks: the same arrays, named with a prefix.
CONV_ARRAY_ATTRIBUTES = tuple(f"conv_{name}" for name in ARRAY_ATTRIBUTES)
# Their recurrent layers: PyTorch's RNN/GRU weight_ih, weight_hh, bias_ih, bias_hh.
RECURRENT_ARRAY_ATTRIBUTES = (
    "recurrent_input_coefs_",
    "recurrent_hidden_coefs_",
    "recurrent_input_intercepts_",
    "recurrent_hidden_intercepts_",
)
_SEQUENCE_ARRAY_ATTRIBUTES = CONV_ARRAY_ATTRIBUTES + RECURRENT_ARRAY_ATTRIBUTES
_ALL_ARRAY_ATTRIBUTES = ARRAY_ATTRIBUTES + _SEQUENCE_ARRAY_ATTRIBUTES
NON_FINITE_OUTPUT = (
    "The network's output is not finite (inf or NaN) for some rows of X: their values are "
    "far outside what it was trained on. Scale X as the training data was scaled."
)


def in_order(value, name):
    """``value``, a per-layer (or per-level) parameter, checked to have an order.

    A set's order is its hash order, which for strings changes from one
    process to the next: the same parameters would build different models.
    """
    if isinstance(value, set | frozenset | dict):
        raise ValueError(
            f"{name} must be a list or tuple (ordered: one entry per layer or level), got "
            f"the {type(value).__name__} {value!r}, whose order is not defined."
        )
    return value


class Architecture:
    """The checked layer specification of an estimator's parameters.

    ``hidden`` (widths), ``activation`` (one name, or one per hidden
    layer), ``dropout`` (one rate per hidden layer), ``batch_normalization``,
    ``residual`` and ``momentum`` (batch normalization's).
    """

    # The parameters that fix the fitted arrays' shapes (with the outputs), for errors.
    SHAPED_BY = "hidden_layer_sizes"

    def __init__(self, params):
        self.hidden = tuple(_hidden_layer_sizes(params["hidden_layer_sizes"]))
        self.dropout = dropout_rates(params["dropout"], len(self.hidden))
        self.activation = _activations(params["activation"], self._n_activated())
        self.batch_normalization = bool(params["batch_normalization"])
        self.residual = bool(params["residual"])
        self.momentum = params["batch_normalization_momentum"]
        self._check(params)

    def _check(self, params):
        if params["solver"] == "lbfgs" and any(self.dropout):
            raise ValueError(
                f"dropout={params['dropout']!r} makes the objective random, which "
                "solver='lbfgs' cannot minimise: set dropout=0 or use a stochastic solver."
            )
        if self.batch_normalization and params["batch_size"] == 1:
            raise ValueError(
                "batch_normalization=True needs batches of at least two rows to normalise "
                "over, got batch_size=1. Use a larger batch_size or set "
                "batch_normalization=False."
            )
        if self.residual and not any(residual_layers((0, *self.hidden, 0))):
            raise ValueError(
                "residual=True adds a hidden layer's input to its output, which needs two "
                "consecutive hidden layers of equal width, but hidden_layer_sizes="
                f"{params['hidden_layer_sizes']!r} has none. Use equal widths, for example "
                "(64, 64, 64), or set residual=False."
            )

    def _n_activated(self):
        """How many layers ``activation`` names one activation each for, as a sequence."""
        return len(self.hidden)

    def description(self):
        """What the network keeps of the parameters, for the fitted attributes."""
        return {"activation": self.activation}

    def specs(self, n_inputs, n_outputs, output_activation):
        """The ``(kind, options)`` specs of the layers, input to output (see ``_layers``)."""
        return dense_specs(
            (n_inputs, *self.hidden, n_outputs),
            self.activation,
            output_activation,
            self.dropout,
            batch_normalization=self.batch_normalization,
            residual=self.residual,
            momentum=self.momentum,
        )


class SequenceArchitecture(Architecture):
    """An :class:`Architecture` with convolution blocks and pooling before the dense layers.

    ``filters`` and ``kernel_sizes`` (one per block), ``recurrent_units``
    (one per recurrent layer, of ``cell``, truncated to ``truncate`` steps)
    and ``pooling``; an ``activation`` sequence names one per block, then one
    per hidden layer.
    """

    SHAPED_BY = "conv_filters, kernel_sizes, recurrent_units, cell, hidden_layer_sizes"

    def __init__(self, params):
        self.filters = tuple(_positive_ints(params["conv_filters"], "conv_filters"))
        self.kernel_sizes = tuple(_positive_ints(params["kernel_sizes"], "kernel_sizes"))
        self.recurrent_units = tuple(_positive_ints(params["recurrent_units"], "recurrent_units"))
        self.cell, self.truncate = params["cell"], params["bptt_truncate"]
        if len(self.filters) != len(self.kernel_sizes):
            raise ValueError(
                "kernel_sizes must have one entry per convolution block, as conv_filters "
                f"does: got conv_filters={params['conv_filters']!r} and "
                f"kernel_sizes={params['kernel_sizes']!r}."
            )
        self.pooling = params["pooling"]
        super().__init__(params)

    def _n_activated(self):
        return len(self.filters) + len(self.hidden)

    def description(self):
        return {**super().description(), "pooling": self.pooling}

    def specs(self, n_inputs, n_outputs, output_activation):
        conv_activation, dense_activation = split_activation(self.activation, len(self.filters))
        specs = sequence_specs(
            n_inputs,
            self.filters,
            self.kernel_sizes,
            conv_activation,
            self.pooling,
            self.batch_normalization,
            self.momentum,
            self.recurrent_units,
            self.cell,
            self.truncate,
        )
        width = specs[-1][1]["fan_in"]  # the pooling's: the last block's or layer's width
        dense = dense_specs(
            (width, *self.hidden, n_outputs),
            dense_activation,
            output_activation,
            self.dropout,
            batch_normalization=self.batch_normalization,
            residual=self.residual,
            momentum=self.momentum,
        )
        dense[0][1]["first"] = False  # the pooling comes first
        return specs + dense


def split_activation(activation, n_blocks):
    """``activation`` (one name, or one per layer) as the blocks' and the hidden layers'."""
    if isinstance(activation, str):
        return activation, activation
    return tuple(activation[:n_blocks]), tuple(activation[n_blocks:])


def _positive_ints(values, name):
    values = [values] if isinstance(values, Integral) else list(in_order(values, name))
    if not all(isinstance(n, Integral) and not isinstance(n, bool) and n >= 1 for n in values):
        raise ValueError(f"{name} must be a tuple of positive ints, got {values!r}.")
    return values


def _hidden_layer_sizes(sizes):
    given = sizes
    sizes = [sizes] if isinstance(sizes, Integral) else list(in_order(sizes, "hidden_layer_sizes"))
    if not all(isinstance(n, Integral) and not isinstance(n, bool) and n >= 1 for n in sizes):
        raise ValueError(
            "hidden_layer_sizes must be a tuple of positive ints (or () for no "
            f"hidden layer), got {given!r}."
        )
    return sizes


def dropout_rates(dropout, n_hidden):
    """``dropout`` as one rate per hidden layer, checked."""
    if isinstance(dropout, Real):
        return (float(dropout),) * n_hidden
    rates = tuple(in_order(dropout, "dropout"))
    is_rate = [isinstance(r, Real) and not isinstance(r, bool) and 0 <= r < 1 for r in rates]
    if len(rates) != n_hidden or not all(is_rate):
        raise ValueError(
            "dropout must be a float in [0, 1) or a tuple with one such rate per "
            f"hidden layer ({n_hidden} here), got {dropout!r}."
        )
    return tuple(float(rate) for rate in rates)


def _activations(activation, n_hidden):
    """``activation`` as the layers take it: one name, or a tuple of one per hidden layer."""
    if isinstance(activation, str):
        return activation
    names = tuple(in_order(activation, "activation"))
    if len(names) != n_hidden or not all(
        isinstance(name, str) and name in HIDDEN_ACTIVATIONS for name in names
    ):
        raise ValueError(
            f"activation must be one of {sorted(HIDDEN_ACTIVATIONS)} or a sequence with "
            f"one of them per hidden layer ({n_hidden} here), got {activation!r}."
        )
    return names


# -- training ------------------------------------------------------------------


def network_to_train(architecture, n_inputs, n_outputs, output_activation, dtype, fitted=None):
    """A new network (to initialise), or with ``fitted`` (an estimator's attributes) holding them.

    Resuming checks that the fitted model has the architecture's layers.
    """
    specs = architecture.specs(n_inputs, n_outputs, output_activation)
    description = {**architecture.description(), "specs": specs}
    if fitted is not None:
        # The network the last fit trained, still holding the fitted arrays, is copied:
        # the same model, without building it anew on every partial_fit.
        kept = _kept_network(fitted)
        if (
            kept is not None
            and kept.params is not None
            and kept.dtype == dtype
            and kept.description.get("specs") == specs
        ):
            return kept.copy()
    network = Network(build(specs), dtype, description=description)
    if fitted is None:
        return network
    arrays = network.fitted_arrays()
    if any(
        [a.shape for a in arrays.get(name, ())] != [a.shape for a in fitted.get(name) or ()]
        for name in ("coefs_", "conv_coefs_", "recurrent_hidden_coefs_", "recurrent_input_coefs_")
    ):
        raise ValueError(
            f"warm_start and partial_fit need the same {architecture.SHAPED_BY} and "
            "outputs as the previous fit; refit with warm_start=False to change them."
        )
    # Without layers to normalise, either setting is the same model.
    normalized = "gammas_" in arrays or "conv_gammas_" in arrays
    was_normalized = any(fitted.get(name) is not None for name in ("gammas_", "conv_gammas_"))
    for name, before, now in [
        ("batch_normalization", was_normalized, normalized),
        ("residual", any(fitted.get("_residual_layers", ())), any(_skips(network))),
    ]:
        if before != now:
            raise ValueError(
                f"warm_start and partial_fit need the same {name} as the previous "
                f"fit; refit with warm_start=False to change it."
            )
    return network.set_parameters(fitted_arrays(fitted))


def _skips(network):
    return tuple(getattr(layer, "skip", False) for layer in network.layers[:-1])


def _layer_sizes(fitted):
    coefs = fitted["coefs_"]
    return [coef.shape[0] for coef in coefs] + [coefs[-1].shape[1]]


# -- the fitted-state schema -------------------------------------------------------


def fitted_attributes(network, copy=False):
    """The fitted attributes that make an estimator predict with ``network``'s weights.

    Views of its buffers, or with ``copy`` a snapshot of their current values.
    A network over series (``"pooling"`` in its description) also has the
    convolution blocks' arrays (None without blocks) and ``_pooling``.
    """
    arrays = network.fitted_arrays()
    sequence = "pooling" in network.description
    attributes = dict.fromkeys(_ALL_ARRAY_ATTRIBUTES if sequence else ARRAY_ATTRIBUTES)
    for name, views in arrays.items():
        attributes[name] = [view.copy() for view in views] if copy else views
    if sequence:
        attributes["_pooling"] = network.description["pooling"]
    return {
        **attributes,
        "_residual_layers": _skips(network),
        "n_layers_": len(network.layer_sizes),
        "n_outputs_": network.layer_sizes[-1],
        "out_activation_": network.output_activation,
        "_hidden_activation": network.description["activation"],
    }


def fitted_arrays(fitted):
    """``{attribute: [array per layer]}`` of an estimator's fitted attributes (present ones)."""
    return {name: fitted[name] for name in _ALL_ARRAY_ATTRIBUTES if fitted.get(name) is not None}


def layers_from_fitted(fitted, dropout=None):
    """The layers of the model that an estimator's fitted attributes describe."""
    activation = fitted["_hidden_activation"]
    specs = []
    if "_pooling" in fitted:  # series: the blocks, recurrent layers and pooling first
        conv_coefs = fitted.get("conv_coefs_") or []
        recurrent = fitted.get("recurrent_hidden_coefs_") or []
        conv_activation, activation = split_activation(activation, len(conv_coefs))
        if conv_coefs:
            n_channels = conv_coefs[0].shape[1]
        elif recurrent:
            n_channels = fitted["recurrent_input_coefs_"][0].shape[1]
        else:
            n_channels = fitted["coefs_"][0].shape[0]
        specs = sequence_specs(
            n_channels,
            [coef.shape[0] for coef in conv_coefs],
            [coef.shape[2] for coef in conv_coefs],
            conv_activation,
            fitted["_pooling"],
            fitted.get("conv_gammas_") is not None,
            recurrent_units=[coef.shape[1] for coef in recurrent],
            # Gates per unit: one for Elman, three for a GRU.
            cell="elman" if recurrent and len(recurrent[0]) == recurrent[0].shape[1] else "gru",
        )
    dense = dense_specs(
        _layer_sizes(fitted),
        activation,
        fitted["out_activation_"],
        dropout,
        batch_normalization=fitted.get("gammas_") is not None,
        residual=any(fitted.get("_residual_layers") or ()),
    )
    if specs:
        dense[0][1]["first"] = False
    return build(specs + dense)


# -- prediction ------------------------------------------------------------------------

# Rows (path points, for integrated gradients) per backward pass to the inputs: memory
# stays bounded, the arrays stay in cache (1,000 digits rows at 50 steps: 0.09 s against
# 0.16 s in chunks of 8192, on one thread), and the products stay small enough for one
# BLAS thread by the size rule, which a busy neighbour does not slow down.
GRADIENT_CHUNK_ROWS = 1024
NON_FINITE_GRADIENT = (
    "The network's output or its gradient is not finite (inf or NaN) for some rows "
    "of X: their values are far outside what it was trained on."
)


def prediction_numerics():
    """The floating-point error state prediction's numerics need, whatever the caller set.

    Underflow (exp of a very negative logit) is harmless, and overflow or
    invalid results are caught by explicit finiteness checks, which report
    them as divergence or as inputs far outside the training data.
    """
    return np.errstate(under="ignore", over="ignore", invalid="ignore")


def _arrays_of(fitted):
    # On every predict call: a plain loop, not fitted_arrays' dict.
    arrays = []
    for name in _ALL_ARRAY_ATTRIBUTES:
        values = fitted.get(name)
        if values is not None:
            arrays.extend(values)
    return arrays


def _kept_network(fitted):
    """The network :func:`keep_predicting_network` kept, if the fitted arrays are still its own."""
    cached = fitted.get("_predicting_network")
    if cached is None:
        return None
    arrays = _arrays_of(fitted)
    if len(cached[0]) == len(arrays) and all(
        mine is theirs for mine, theirs in zip(cached[0], arrays, strict=True)
    ):
        return cached[1]
    return None


def predicting_network(fitted, dropout=None):
    """The network reading the fitted arrays of ``fitted`` (an estimator's attributes).

    It reads ``coefs_``, ``intercepts_`` (and batch normalization's arrays)
    themselves, so editing them in place changes the predictions, as in
    scikit-learn: the fitted arrays are the whole model, and every way of
    using it (predict, the ONNX export, a saved copy) reads them. The one
    :func:`keep_predicting_network` made is returned for as long as those
    arrays are the fitted ones; ``dropout`` (MC-dropout's rates) makes a new one.
    """
    if dropout is None:
        kept = _kept_network(fitted)
        if kept is not None:
            return kept
    return Network.reading(
        layers_from_fitted(fitted, dropout),
        fitted_arrays(fitted),
        description=_description(fitted),
    )


def network_outputs(network, X, logits=False):
    """``network``'s outputs for validated X: chunk by chunk, in one thread section.

    Raises ValueError if any is not finite.
    """
    # Prediction runs in chunks of at most PREDICT_MAX_CHUNK_ROWS rows.
    product = network.largest_product(min(X.shape[0], PREDICT_MAX_CHUNK_ROWS), steps(X))
    with threads_for(product) as threads:
        output = network.predict(X, logits=logits, between_chunks=threads.give_way)
    if not np.isfinite(output).all():
        raise ValueError(NON_FINITE_OUTPUT)
    return output


def _description(fitted):
    """The network description (``Architecture.description``) the fitted attributes keep."""
    description = {"activation": fitted["_hidden_activation"]}
    if "_pooling" in fitted:
        description["pooling"] = fitted["_pooling"]
    return description


def keep_predicting_network(fitted, trained=None):
    """Keep the predicting network of ``fitted`` there (a cache, never saved).

    ``trained``, the network whose buffers the fitted arrays are views of,
    is that network itself (its training workspaces let go); without it
    (a loaded model), one is made that reads the arrays.
    """
    fitted["_predicting_network"] = None  # predicting_network must not return the old one
    if trained is not None:
        trained.release_workspaces()
    network = trained if trained is not None else predicting_network(fitted)
    fitted["_predicting_network"] = (_arrays_of(fitted), network)


def fitted_model(estimator, dropout=False):
    """The :class:`FittedModel` of a fitted estimator (with ``dropout``: for MC-dropout)."""
    fitted = vars(estimator)
    if not dropout:
        return FittedModel(estimator, predicting_network(fitted))
    rates = estimator._dropout_rates(len(fitted["coefs_"]) - 1)
    if not any(rates):
        raise ValueError(
            f"MC-dropout draws predictions with dropout active, but dropout={estimator.dropout!r}: "
            "fit with dropout > 0 (0.1 to 0.5, say) to use it."
        )
    return FittedModel(estimator, predicting_network(fitted, rates))


class FittedModel:
    """A fitted estimator's network, and what the add-ons do with it.

    The documented-internal interface of a fitted model: ``inspection``,
    ``onnx`` and the plots use this, never the estimator's private state.
    """

    def __init__(self, estimator, network):
        self.estimator = estimator
        self.network = network
        self.dtype = network.dtype
        self.n_outputs = network.layer_sizes[-1]
        #: "binary", "multiclass", "multilabel-indicator" or "continuous" (regressors).
        self.target_type = estimator._target_type()
        #: The regressor's quantile levels in output order (None: one output per target).
        self.quantile_levels = vars(estimator).get("_quantile_levels")

    def validated(self, X):
        """X checked as ``predict`` checks it (an array or CSR matrix)."""
        return self.estimator._input_to_predict(X)

    def as_predicted(self, output):
        """What ``predict`` (classifier: ``predict_proba``) returns for network outputs."""
        return self.estimator._as_predicted(output)

    @property
    def takes_series(self):
        """Whether the network's input is series (its first layer a sequence layer)."""
        return "pooling" in self.network.description

    def in_input_layout(self, values, X):
        """Values per input of X (validated; input gradients) in the layout the caller gave X in."""
        return self.estimator._in_input_layout(values, X)

    def outputs_behind_column(self, X, column):
        """For each row of X (validated), the network output that ``predict``'s ``column`` is."""
        return self.estimator._outputs_behind_column(X, column)

    def input_gradients(self, X, columns, signs, workspaces=None):
        """Each row's ``d F / d x``, ``F`` the output ``columns`` (times ``signs``) of the row.

        ``workspaces`` (a dict) keeps the gradient workspaces across calls:
        made anew on every call, arrays this size are fresh pages each time.
        """
        network = self.network
        X = X.astype(network.dtype, copy=False)
        chunk = min(X.shape[0], GRADIENT_CHUNK_ROWS)

        def gradient(block, ws, rows):
            network.forward(block, ws=ws)
            delta = network.output_gradient(ws, columns[rows], signs[rows])
            return network.input_gradient(ws, delta.astype(network.dtype))

        workspaces = {} if workspaces is None else workspaces
        with prediction_numerics(), threads_for(network.largest_product(chunk, steps(X))):
            gradients = network.map_chunks(X, gradient, chunk, workspaces=workspaces)
        _check_finite(gradients)
        return gradients

    def dropout_draws(self, X, n_draws, rng):
        """``n_draws`` predictions of validated X with dropout active (MC-dropout)."""
        network = self.network
        X = X.astype(network.dtype, copy=False)
        chunk = min(X.shape[0], PREDICT_MAX_CHUNK_ROWS)

        def draw(block, ws, rows):
            return network.forward(block, ws=ws, rng=rng, dropout=True).output

        draws, workspaces = [], {}
        with prediction_numerics(), threads_for(network.largest_product(chunk, steps(X))):
            for _ in range(n_draws):
                output = network.map_chunks(X, draw, chunk, workspaces=workspaces)
                _check_finite(output)
                draws.append(self.as_predicted(output))
        return np.stack(draws)

    def onnx(self, x, graph):
        """The forward pass as ONNX nodes, layer after layer (see ``onnx``'s graph)."""
        for layer in self.network.layers:
            x = layer.onnx(x, graph)
        return x


def _check_finite(values):
    if not np.isfinite(values).all():
        raise ValueError(NON_FINITE_GRADIENT)
