"""The layer contract, checked for every kind of layer in ``LAYERS`` on its own.

Each layer's backward pass against finite differences of its forward pass:
the parameters' gradients in training mode, and the input gradient both in
training mode and in prediction mode without parameter gradients (the path
input gradients take). A new kind of layer gets its examples here.
"""

import numpy as np
import pytest
from helpers import numeric_gradient

from skbackprop._activations import HIDDEN_ACTIVATIONS
from skbackprop._layers import (
    LAYERS,
    NEW,
    PARAMETER_KINDS,
    POOLINGS,
    STATISTIC_KINDS,
    Layer,
    Run,
    build,
)

# Example options of each kind; every kind in LAYERS needs at least one.
EXAMPLES = {
    "dense": [
        {"activation": name, "normalized": normalized, "skip": skip}
        for name in sorted(HIDDEN_ACTIVATIONS)
        for normalized, skip in [(False, False), (True, False), (False, True), (True, True)]
    ],
    "output": [{"output_activation": name} for name in ("identity", "logistic", "softmax", "exp")],
    "conv": [
        {"kernel_size": taps, "activation": name, "normalized": normalized}
        for taps in (1, 2, 3, 4)
        for name in ("relu", "tanh", "gelu")
        for normalized in (False, True)
    ],
    "pool": [{"pooling": pooling} for pooling in POOLINGS],
    # Truncation below the steps is not the gradient of the output (by design), so finite
    # differences check full BPTT here, and test_sequence_layers the truncated kind.
    "recurrent": [
        {"cell": cell, "truncate": truncate} for cell in ("elman", "gru") for truncate in (None, 9)
    ],
}
BASE = {
    "dense": {"fan_in": 5, "width": 5, "dropout": 0.0, "momentum": 0.9, "first": False},
    "output": {"fan_in": 5, "width": 3, "init_activation": "relu", "first": False},
    "conv": {"fan_in": 3, "width": 4, "momentum": 0.9, "first": False},
    "pool": {"fan_in": 3},
    "recurrent": {"fan_in": 3, "width": 4, "first": False},
}
# Kinds whose input is a batch of series, (rows, steps, channels).
SEQUENCE_KINDS = {"conv", "pool", "recurrent"}
N_ROWS, N_STEPS = 7, 5
# Each row's steps: the series of unequal lengths, padded to N_STEPS.
LENGTHS = np.array([5, 1, 3, 5, 2, 4, 5])


def _cases():
    return [
        pytest.param(kind, {**BASE[kind], **options}, lengths, id=f"{kind}-{options}-{name}")
        for kind, examples in EXAMPLES.items()
        for options in examples
        for name, lengths in (
            [("equal", None), ("unequal", LENGTHS)] if kind in SEQUENCE_KINDS else [("rows", None)]
        )
    ]


def test_every_layer_has_examples_and_keeps_the_contract():
    assert set(EXAMPLES) == set(LAYERS)
    for kind, layer_class in LAYERS.items():
        assert issubclass(layer_class, Layer), kind
        layer = build([(kind, {**BASE[kind], **EXAMPLES[kind][0]})])[0]
        assert all(p.kind in PARAMETER_KINDS for p in layer.parameters())
        assert all(s.kind in STATISTIC_KINDS for s in layer.statistics())


def _bound(layer, rng):
    """Bind ``layer`` to random parameters (and zeroed gradients); return both dicts."""
    values = {p.name: rng.normal(scale=0.6, size=p.shape) for p in layer.parameters()}
    grads = {p.name: np.zeros(p.shape) for p in layer.parameters()}
    statistics = {s.name: rng.uniform(0.5, 1.5, s.shape) for s in layer.statistics()}
    layer.bind(values, grads, statistics)
    return values, grads


def _run(training, n_rows, gradients=True, lengths=None):
    run = Run(training, False, None, 1.0 / n_rows, np.ones(n_rows), gradients)
    if lengths is not None:
        run.lengths = lengths
        run.mask = (np.arange(N_STEPS)[None, :, None] < lengths[:, None, None]).astype(float)
    return run


def _workspace(layer, x, training):
    steps = {"n_steps": x.shape[1]} if x.ndim == 3 else {}
    return layer.workspace(len(x), np.float64, training, **steps)


def _objective(layer, x, weights, training, lengths=None):
    """``sum(weights * what backward differentiates)``: the output, or the output layer's z."""
    ws = _workspace(layer, x, training)
    output = layer.forward(x, ws, _run(training, len(x), lengths=lengths))
    return float(np.sum(weights * (ws.logits if hasattr(ws, "logits") else output)))


def _analytic(layer, x, weights, training, gradients=True, lengths=None):
    ws = _workspace(layer, x, True)
    run = _run(training, len(x), gradients, lengths)
    layer.forward(x, ws, run)
    into = np.empty_like(x)
    returned = layer.backward(weights.copy(), x, ws, run, into)
    assert returned is into
    return into


def _problem(kind, options, seed):
    """A bound layer of ``kind``, its parameters and gradients, an input, and output weights."""
    rng = np.random.default_rng(seed)
    layer = build([(kind, options)])[0]
    values, grads = _bound(layer, rng)
    steps = (N_STEPS,) if kind in SEQUENCE_KINDS else ()
    x = rng.normal(size=(N_ROWS, *steps, layer.fan_in))
    output_steps = steps if kind != "pool" else ()
    return layer, values, grads, x, rng.normal(size=(N_ROWS, *output_steps, layer.width))


@pytest.mark.parametrize("kind, options, lengths", _cases())
def test_backward_in_training_matches_finite_differences(kind, options, lengths):
    layer, values, grads, x, weights = _problem(kind, options, seed=0)
    input_gradient = _analytic(layer, x, weights, training=True, lengths=lengths)

    def f():
        return _objective(layer, x, weights, training=True, lengths=lengths)

    np.testing.assert_allclose(input_gradient, numeric_gradient(f, x), rtol=1e-5, atol=1e-7)
    for name, value in values.items():
        np.testing.assert_allclose(grads[name], numeric_gradient(f, value), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind, options, lengths", _cases())
def test_input_gradient_in_prediction_mode_fills_no_parameter_gradient(kind, options, lengths):
    layer, _, grads, x, weights = _problem(kind, options, seed=1)
    input_gradient = _analytic(layer, x, weights, False, gradients=False, lengths=lengths)
    numeric = numeric_gradient(lambda: _objective(layer, x, weights, False, lengths), x)
    np.testing.assert_allclose(input_gradient, numeric, rtol=1e-5, atol=1e-7)
    assert all(not grad.any() for grad in grads.values())


def test_a_new_array_is_returned_for_the_first_layers_input_gradient():
    rng = np.random.default_rng(2)
    layer = build([("output", {**BASE["output"], "output_activation": "identity"})])[0]
    _bound(layer, rng)
    x = rng.normal(size=(N_ROWS, layer.fan_in))
    ws = layer.workspace(N_ROWS, np.float64, True)
    run = _run(False, N_ROWS, gradients=False)
    layer.forward(x, ws, run)
    delta = rng.normal(size=(N_ROWS, layer.width))
    np.testing.assert_allclose(layer.backward(delta, x, ws, run, NEW), delta @ layer.coef.T)
    assert layer.backward(delta, x, ws, run._replace(gradients=True), None) is None
