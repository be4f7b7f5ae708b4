"""Convolution and pooling over series, in a network: PyTorch's maths, gradients, padding.

The layers' own finite-difference checks are in ``test_layers``; here they
are composed (conv -> conv -> pool -> dense -> output) as the sequence
estimators will compose them, and compared with PyTorch's ``Conv1d``,
``BatchNorm1d`` and pooling on the same weights where PyTorch is installed.
"""

from types import SimpleNamespace

import numpy as np
import pytest
from helpers import numeric_gradient

from skbackprop._layers import Run, build, dense_specs
from skbackprop._losses import LOSSES
from skbackprop._network import Network

N_CHANNELS, N_STEPS, N_CLASSES = 2, 9, 3


def _specs(pooling, normalized, kernel_sizes=(3, 4), filters=(4, 5)):
    channels = (N_CHANNELS, *filters)
    convs = [
        (
            "conv",
            {
                "fan_in": channels[index],
                "width": channels[index + 1],
                "kernel_size": taps,
                "activation": "relu",
                "normalized": normalized,
                "momentum": 0.9,
                "first": index == 0,
            },
        )
        for index, taps in enumerate(kernel_sizes)
    ]
    head = dense_specs((channels[-1], 6, N_CLASSES), "tanh", "softmax")
    head[0][1]["first"] = False
    return [*convs, ("pool", {"fan_in": channels[-1], "pooling": pooling}), *head]


def _network(pooling="average", normalized=True, seed=0, kernel_sizes=(3, 4)):
    network = Network(build(_specs(pooling, normalized, kernel_sizes)), np.float64)
    rng = np.random.default_rng(seed)
    network.initialize(rng)
    network.params[...] = rng.normal(scale=0.5, size=network.params.size)
    return network


def _batch(seed=0, n_rows=6):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, N_STEPS, N_CHANNELS))
    Y = np.eye(N_CLASSES)[rng.integers(0, N_CLASSES, n_rows)]
    return X, Y


def _loss(network, X, Y, lengths=None):
    ws = network.forward(X, training=True, lengths=lengths)
    return LOSSES["softmax"].value(ws, Y, 1.0 / len(X))


def _gradient(network, X, Y, lengths=None):
    ws = network.forward(X, training=True, lengths=lengths)
    LOSSES["softmax"].output_delta(ws, Y, 1.0 / len(X))
    network.backward(X, ws)
    return network.grads.copy()


@pytest.mark.parametrize("n_steps", [1, 5, 9])
@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4, 11])
def test_a_block_computes_the_convolution_it_states(kernel_size, n_steps):
    # z[n, t, o] = sum_{i, k} W[o, i, k] x[n, t + k - (K - 1) // 2, i] + b[o], zeros outside.
    spec = _specs("average", False, kernel_sizes=(kernel_size,), filters=(3,))
    network = Network(build(spec), np.float64)
    rng = np.random.default_rng(kernel_size)
    network.params[...] = rng.normal(size=network.params.size)
    block = network.layers[0]
    X = rng.normal(size=(4, n_steps, N_CHANNELS))
    ws = block.workspace(len(X), np.float64, False, n_steps=n_steps)
    run = SimpleNamespace(training=False, mask=None)
    expected = np.tile(block.intercept, (len(X), n_steps, 1))
    for t in range(n_steps):
        for k in range(kernel_size):
            source = t + k - (kernel_size - 1) // 2
            if 0 <= source < n_steps:
                expected[:, t] += X[:, source] @ block.coef[:, :, k].T
    np.testing.assert_allclose(block.forward(X, ws, run), np.maximum(expected, 0), rtol=1e-12)


# The products read each group of steps K apart as one strided matrix: kernels of one
# tap, of even and odd sizes, and wider than the series cover its cases.
@pytest.mark.parametrize("kernel_sizes", [(3, 4), (1, 2), (11, 5)], ids=str)
@pytest.mark.parametrize("pooling", ["average", "max", "last"])
@pytest.mark.parametrize("lengths", [None, np.array([9, 4, 1, 9, 6, 2])], ids=["equal", "unequal"])
def test_network_gradient_matches_finite_differences(pooling, lengths, kernel_sizes):
    network = _network(pooling, kernel_sizes=kernel_sizes)
    X, Y = _batch()
    analytic = _gradient(network, X, Y, lengths)
    saved_statistics = network.statistics.copy()
    numeric = np.zeros_like(analytic)
    for index in range(network.params.size):
        saved = network.params[index]
        network.params[index] = saved + 1e-6
        up = _loss(network, X, Y, lengths)
        network.params[index] = saved - 1e-6
        down = _loss(network, X, Y, lengths)
        network.params[index] = saved
        numeric[index] = (up - down) / 2e-6
    network.statistics[...] = saved_statistics
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("kernel_sizes", [(3, 4), (1, 2), (11, 5)], ids=str)
@pytest.mark.parametrize("pooling", ["average", "max", "last"])
def test_a_series_predicts_the_same_whatever_it_is_batched_with(pooling, kernel_sizes):
    # Padded to the longest series of its batch, each series must give what it gives alone.
    network = _network(pooling, kernel_sizes=kernel_sizes)
    rng = np.random.default_rng(3)
    lengths = np.array([9, 3, 1, 6])
    X = rng.normal(size=(4, N_STEPS, N_CHANNELS))
    X[np.arange(N_STEPS)[None, :] >= lengths[:, None]] = 0.0
    together = network.predict(X, lengths=lengths)
    for row, length in enumerate(lengths):
        alone = network.predict(X[row : row + 1, :length])
        np.testing.assert_allclose(together[row], alone[0], rtol=1e-12, atol=1e-14)
    longer = np.concatenate([X, np.zeros((4, 5, N_CHANNELS))], axis=1)  # more padding
    np.testing.assert_allclose(network.predict(longer, lengths=lengths), together, rtol=1e-12)


def test_batch_statistics_count_each_valid_step_once():
    # Series padded (with zeros, as the estimators pad) to twice their length train as unpadded:
    # the padded steps' values after each convolution are not in the batch's statistics.
    network, twin = _network(), _network()
    X, Y = _batch()
    padded = np.concatenate([X, np.zeros_like(X)], axis=1)
    lengths = np.full(len(X), N_STEPS)
    np.testing.assert_allclose(
        _gradient(network, padded, Y, lengths), _gradient(twin, X, Y), rtol=1e-12, atol=1e-14
    )
    np.testing.assert_allclose(network.statistics, twin.statistics, rtol=1e-12)


def test_conv_weights_are_in_pytorchs_layout():
    network = _network()
    conv_coefs = network.fitted_arrays()["conv_coefs_"]
    assert [coef.shape for coef in conv_coefs] == [(4, N_CHANNELS, 3), (5, 4, 4)]
    assert network.layer_sizes == (N_CHANNELS, 4, 5, 5, 6, N_CLASSES)


def _torch_model(torch, network, pooling):
    """PyTorch's modules holding ``network``'s weights, and its forward pass."""
    arrays = network.fitted_arrays()
    convs, norms = [], []
    for index, coef in enumerate(arrays["conv_coefs_"]):
        conv = torch.nn.Conv1d(coef.shape[1], coef.shape[0], coef.shape[2], padding="same")
        conv = conv.double()
        conv.weight.data = torch.tensor(coef.copy())
        conv.bias.data = torch.tensor(arrays["conv_intercepts_"][index].copy())
        norm = torch.nn.BatchNorm1d(coef.shape[0], momentum=0.1, eps=1e-5).double()
        norm.weight.data = torch.tensor(arrays["conv_gammas_"][index].copy())
        norm.bias.data = torch.tensor(arrays["conv_betas_"][index].copy())
        convs.append(conv)
        norms.append(norm)
    dense = [
        (torch.tensor(W.copy(), requires_grad=True), torch.tensor(b.copy(), requires_grad=True))
        for W, b in zip(arrays["coefs_"], arrays["intercepts_"], strict=True)
    ]

    def forward(x):  # x: (n, channels, steps), PyTorch's layout
        for conv, norm in zip(convs, norms, strict=True):
            x = torch.relu(norm(conv(x)))
        if pooling == "average":
            x = x.mean(dim=2)
        elif pooling == "max":
            x = x.amax(dim=2)
        else:
            x = x[:, :, -1]
        (W1, b1), (W2, b2) = dense
        return torch.softmax(torch.tanh(x @ W1 + b1) @ W2 + b2, dim=1)

    return forward, convs, norms, dense


# PyTorch warns that an even kernel's "same" padding copies the input: a note on its speed.
@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")
@pytest.mark.parametrize("pooling", ["average", "max", "last"])
def test_forward_gradients_and_statistics_equal_pytorchs(pooling):
    torch = pytest.importorskip("torch")
    network = _network(pooling)
    X, Y = _batch()
    forward, convs, norms, dense = _torch_model(torch, network, pooling)
    x = torch.tensor(X.transpose(0, 2, 1).copy(), requires_grad=True)
    output = forward(x)
    loss = -(torch.tensor(Y) * torch.log(output)).sum() / len(X)
    loss.backward()

    ws = network.forward(X, training=True)
    np.testing.assert_allclose(ws.output, output.detach().numpy(), rtol=1e-10, atol=1e-13)
    LOSSES["softmax"].output_delta(ws, Y, 1.0 / len(X))
    network.backward(X, ws)
    grads = _gradient_arrays(network)
    for index, (conv, norm) in enumerate(zip(convs, norms, strict=True)):
        for mine, theirs in [
            (grads["conv_coefs_"][index], conv.weight.grad),
            (grads["conv_gammas_"][index], norm.weight.grad),
            (grads["conv_betas_"][index], norm.bias.grad),
        ]:
            np.testing.assert_allclose(mine, theirs.numpy(), rtol=1e-10, atol=1e-12)
        # Normalised, the bias has no effect: PyTorch's gradient is rounding noise, ours zero.
        assert not grads["conv_intercepts_"][index].any()
        np.testing.assert_allclose(conv.bias.grad.numpy(), 0.0, atol=1e-12)
        np.testing.assert_allclose(
            network.fitted_arrays()["conv_running_means_"][index],
            norm.running_mean.numpy(),
            rtol=1e-10,
        )
        # PyTorch keeps the unbiased variance (n / (n - 1)) in its running average.
        n = len(X) * N_STEPS
        ours = network.fitted_arrays()["conv_running_variances_"][index]
        np.testing.assert_allclose(
            (ours - 0.9) / 0.1 * n / (n - 1), (norm.running_var.numpy() - 0.9) / 0.1, rtol=1e-10
        )
    for index, (W, b) in enumerate(dense):
        np.testing.assert_allclose(grads["coefs_"][index], W.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(
            grads["intercepts_"][index], b.grad.numpy(), rtol=1e-10, atol=1e-12
        )

    # The gradient with respect to the input, in prediction mode, as inspection takes it
    # (on our running variances: PyTorch's are the unbiased ones).
    for index, norm in enumerate(norms):
        variances = network.fitted_arrays()["conv_running_variances_"][index]
        norm.running_var.copy_(torch.tensor(variances))
        norm.eval()
    x = torch.tensor(X.transpose(0, 2, 1).copy(), requires_grad=True)
    forward(x)[:, 1].sum().backward()
    ws = network.gradient_workspace(len(X), N_STEPS)
    network.forward(X, ws=ws)
    delta = network.output_gradient(ws, np.ones(len(X), dtype=int), np.ones(len(X)))
    mine = network.input_gradient(ws, delta)
    np.testing.assert_allclose(mine.transpose(0, 2, 1), x.grad.numpy(), rtol=1e-10, atol=1e-13)


def _gradient_arrays(network):
    """The gradient buffer as the fitted attributes' arrays: ``{attribute: [array per layer]}``."""
    twin = network.copy()
    twin.params[...] = network.grads
    return twin.fitted_arrays()


# -- recurrent layers: truncated backpropagation through time ----------------------------


def _recurrent(cell, truncate, seed=0, fan_in=3, width=4):
    layer = build(
        [("recurrent", {"fan_in": fan_in, "width": width, "cell": cell, "truncate": truncate})]
    )[0]
    rng = np.random.default_rng(seed)
    values = {p.name: rng.normal(scale=0.5, size=p.shape) for p in layer.parameters()}
    grads = {p.name: np.zeros(p.shape) for p in layer.parameters()}
    layer.bind(values, grads, {})
    return layer, values, grads


def _cell(cell, values, x, h):
    """One step of the cell in plain numpy, PyTorch's equations: the reference."""
    gx = x @ values["input_coef"].T + values["input_intercept"]
    gh = h @ values["hidden_coef"].T + values["hidden_intercept"]
    if cell == "elman":
        return np.tanh(gx + gh)
    w = h.shape[1]
    r = 1 / (1 + np.exp(-(gx[:, :w] + gh[:, :w])))
    z = 1 / (1 + np.exp(-(gx[:, w : 2 * w] + gh[:, w : 2 * w])))
    n = np.tanh(gx[:, 2 * w :] + r * gh[:, 2 * w :])
    return (1 - z) * n + z * h


def _truncated_objective(cell, values, x, weights, k, states):
    """sum_t weights(t) . h(t), each h(t) run from the constant state ``states[t - k]``."""
    total = 0.0
    for t in range(x.shape[1]):
        start = max(t - k + 1, 0) if k else 0
        h = states[start - 1] if start > 0 else np.zeros((len(x), weights.shape[2]))
        for s in range(start, t + 1):
            h = _cell(cell, values, x[:, s], h)
        total += float(np.sum(weights[:, t] * h))
    return total


def _layer_gradients(layer, grads, x, weights):
    ws = layer.workspace(len(x), np.float64, True, n_steps=x.shape[1])
    run = Run(True, False, None, 1.0 / len(x), np.ones(len(x)))
    layer.forward(x, ws, run)
    into = np.empty_like(x)
    layer.backward(weights.copy(), x, ws, run, into)
    return into, {name: grad.copy() for name, grad in grads.items()}, ws.output.copy()


@pytest.mark.parametrize("cell", ["elman", "gru"])
@pytest.mark.parametrize("k", [1, 2, 3, None])
def test_truncated_bptt_is_the_gradient_with_the_state_k_steps_back_held_constant(cell, k):
    layer, values, grads = _recurrent(cell, k)
    rng = np.random.default_rng(1)
    x, weights = rng.normal(size=(3, 7, 3)), rng.normal(size=(3, 7, 4))
    input_gradient, parameter_gradients, states = _layer_gradients(layer, grads, x, weights)
    states = [states[:, t] for t in range(x.shape[1])]  # the forward pass's, held constant
    reference = [_cell(cell, values, x[:, 0], np.zeros((3, 4)))]
    for t in range(1, x.shape[1]):
        reference.append(_cell(cell, values, x[:, t], reference[-1]))
    np.testing.assert_allclose(np.stack(reference, axis=1), np.stack(states, axis=1), rtol=1e-12)

    def f():
        return _truncated_objective(cell, values, x, weights, k, states)

    for name, value in values.items():
        numeric = numeric_gradient(f, value)
        np.testing.assert_allclose(parameter_gradients[name], numeric, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(input_gradient, numeric_gradient(f, x), rtol=1e-5, atol=1e-8)


def test_truncation_changes_the_gradient_only_below_the_series_length():
    rng = np.random.default_rng(2)
    x, weights = rng.normal(size=(2, 6, 3)), rng.normal(size=(2, 6, 4))
    full = _layer_gradients(*_recurrent("gru", None)[::2], x, weights)[1]
    at_length = _layer_gradients(*_recurrent("gru", 6)[::2], x, weights)[1]
    shorter = _layer_gradients(*_recurrent("gru", 2)[::2], x, weights)[1]
    for name in full:
        np.testing.assert_array_equal(full[name], at_length[name])
    assert not np.allclose(full["hidden_coef"], shorter["hidden_coef"])


@pytest.mark.parametrize("cell", ["elman", "gru"])
@pytest.mark.parametrize("k", [1, 3, None])
def test_recurrent_layers_equal_pytorchs_with_the_state_detached_k_steps_back(cell, k):
    torch = pytest.importorskip("torch")
    layer, values, grads = _recurrent(cell, k, fan_in=3, width=5)
    rng = np.random.default_rng(3)
    x, weights = rng.normal(size=(4, 8, 3)), rng.normal(size=(4, 8, 5))
    input_gradient, parameter_gradients, output = _layer_gradients(layer, grads, x, weights)

    module = (torch.nn.RNN if cell == "elman" else torch.nn.GRU)(3, 5, batch_first=True).double()
    for ours, theirs in [
        ("input_coef", "weight_ih_l0"),
        ("hidden_coef", "weight_hh_l0"),
        ("input_intercept", "bias_ih_l0"),
        ("hidden_intercept", "bias_hh_l0"),
    ]:
        getattr(module, theirs).data = torch.tensor(values[ours].copy())
    xt = torch.tensor(x, requires_grad=True)
    full, _ = module(xt)
    np.testing.assert_allclose(output, full.detach().numpy(), rtol=1e-12, atol=1e-14)
    # Each output from the state k steps back, detached: PyTorch's truncated BPTT.
    total = 0
    for t in range(x.shape[1]):
        start = max(t - k + 1, 0) if k else 0
        h0 = full[:, start - 1].detach()[None].contiguous() if start > 0 else None
        out, _ = module(xt[:, start : t + 1], h0)
        total = total + (torch.tensor(weights[:, t]) * out[:, -1]).sum()
    total.backward()
    for ours, theirs in [
        ("input_coef", "weight_ih_l0"),
        ("hidden_coef", "weight_hh_l0"),
        ("input_intercept", "bias_ih_l0"),
        ("hidden_intercept", "bias_hh_l0"),
    ]:
        np.testing.assert_allclose(
            parameter_gradients[ours], getattr(module, theirs).grad.numpy(), rtol=1e-10, atol=1e-12
        )
    np.testing.assert_allclose(input_gradient, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
