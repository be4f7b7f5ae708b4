"""Convolution and pooling over series, in a network: PyTorch's maths, gradients, padding.

The layers' own finite-difference checks are in ``test_layers``; here they
are composed (conv -> conv -> pool -> dense -> output) as the sequence
estimators will compose them, and compared with PyTorch's ``Conv1d``,
``BatchNorm1d`` and pooling on the same weights where PyTorch is installed.
"""

import numpy as np
import pytest

from skbackprop._layers import build, dense_specs
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


def _network(pooling="average", normalized=True, seed=0):
    network = Network(build(_specs(pooling, normalized)), np.float64)
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


@pytest.mark.parametrize("pooling", ["average", "max", "last"])
@pytest.mark.parametrize("lengths", [None, np.array([9, 4, 1, 9, 6, 2])], ids=["equal", "unequal"])
def test_network_gradient_matches_finite_differences(pooling, lengths):
    network = _network(pooling)
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


@pytest.mark.parametrize("pooling", ["average", "max", "last"])
def test_a_series_predicts_the_same_whatever_it_is_batched_with(pooling):
    # Padded to the longest series of its batch, each series must give what it gives alone.
    network = _network(pooling)
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
