"""The backward pass against central finite differences of the whole objective."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import dense_network, fitted

from skbackprop._activations import HIDDEN_ACTIVATIONS
from skbackprop._layers import THIN_LAYER_UNITS, dense_stack, residual_layers
from skbackprop._losses import LOSSES
from skbackprop._model import ARRAY_ATTRIBUTES
from skbackprop._network import Network
from skbackprop._normalization import fold
from skbackprop._solvers import Sgd
from skbackprop._training import Trainer


def _problem(output_activation, rng, n=9, n_features=4, n_outputs=3):
    X = rng.normal(size=(n, n_features))
    if output_activation == "softmax":
        Y = np.eye(n_outputs)[rng.integers(0, n_outputs, n)]
    elif output_activation == "logistic":
        Y = rng.integers(0, 2, (n, n_outputs)).astype(float)
    elif output_activation == "exp":
        Y = rng.poisson(1.5, (n, n_outputs)).astype(float)
    else:
        Y = rng.normal(size=(n, n_outputs))
    return X, Y


def _trainer(network, l1, l2, n):
    return Trainer(
        network,
        LOSSES[network.output_activation],
        Sgd(0.1),
        batch_size=n,
        l1=l1,
        l2=l2,
        penalty_n_samples=n,
        shuffle=False,
        rng=np.random.default_rng(0),
        tol=0,
        n_iter_no_change=10,
    )


def _objective(network, trainer, X, Y, scale, dropout_seed=None):
    """Weighted mean loss plus penalty, and its gradient from backpropagation."""
    rng = np.random.default_rng(dropout_seed)
    ws = network.forward(X, training=True, rng=rng, row_weights=scale)
    loss = trainer.loss
    value = loss.value(ws, Y, scale)
    loss.output_delta(ws, Y, scale)
    network.backward(X, ws)
    trainer._add_penalty_gradient()
    return value + trainer.penalty(), network.grads.copy()


def _numeric_gradient(network, trainer, X, Y, scale, dropout_seed=None, eps=1e-6):
    numeric = np.empty_like(network.params)
    for i in range(network.params.size):
        saved = network.params[i]
        network.params[i] = saved + eps
        plus, _ = _objective(network, trainer, X, Y, scale, dropout_seed)
        network.params[i] = saved - eps
        minus, _ = _objective(network, trainer, X, Y, scale, dropout_seed)
        network.params[i] = saved
        numeric[i] = (plus - minus) / (2 * eps)
    return numeric


def _relative_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


CASES = list(
    itertools.product(sorted(HIDDEN_ACTIVATIONS), ["softmax", "logistic", "identity", "exp"])
)


@pytest.mark.parametrize("activation, output_activation", CASES)
def test_gradient_matches_finite_differences(activation, output_activation):
    rng = np.random.default_rng(42)
    X, Y = _problem(output_activation, rng)
    network = dense_network([4, 5, 3, 3], activation, output_activation, np.float64)
    network.initialize(rng)
    network.params[network.n_weights :] = rng.normal(
        scale=0.1, size=network.params.size - network.n_weights
    )
    weights = rng.uniform(0.2, 3.0, size=len(X))
    scale = (weights / weights.sum())[:, None]
    trainer = _trainer(network, l1=0.3, l2=0.7, n=len(X))
    _, analytic = _objective(network, trainer, X, Y, scale)
    numeric = _numeric_gradient(network, trainer, X, Y, scale)
    assert _relative_error(analytic, numeric) < 1e-6


@pytest.mark.parametrize("output_activation", ["softmax", "logistic", "identity", "exp"])
def test_gradient_without_hidden_layer_and_unweighted(output_activation):
    rng = np.random.default_rng(3)
    X, Y = _problem(output_activation, rng)
    network = dense_network([4, 3], "relu", output_activation, np.float64).initialize(rng)
    trainer = _trainer(network, l1=0.0, l2=0.5, n=len(X))
    _, analytic = _objective(network, trainer, X, Y, 1 / len(X))
    numeric = _numeric_gradient(network, trainer, X, Y, 1 / len(X))
    assert _relative_error(analytic, numeric) < 1e-6


@pytest.mark.parametrize("activation", ["tanh", "logistic", "relu"])
def test_gradient_with_dropout_masks_held_fixed(activation):
    rng = np.random.default_rng(7)
    X, Y = _problem("softmax", rng)
    network = dense_network([4, 6, 5, 3], activation, "softmax", np.float64, dropout=(0.3, 0.5))
    network.initialize(rng)
    trainer = _trainer(network, l1=0.0, l2=0.1, n=len(X))
    _, analytic = _objective(network, trainer, X, Y, 1 / len(X), dropout_seed=5)
    numeric = _numeric_gradient(network, trainer, X, Y, 1 / len(X), dropout_seed=5)
    assert _relative_error(analytic, numeric) < 1e-6
    # Some units really were dropped.
    ws = network.forward(X, training=True, rng=np.random.default_rng(5))
    assert ws.training
    assert (ws.layers[0].dropout_mask == 0).any() and (ws.layers[1].dropout_mask == 0).any()


def test_gradient_through_wide_and_thin_layers():
    # Deltas go back through thin layers by a transposed copy of the weights
    # and through wider ones by a transposed view: check both, and that the
    # copy follows the weights as they change.
    rng = np.random.default_rng(11)
    X, Y = _problem("softmax", rng)
    wide = THIN_LAYER_UNITS + 4
    network = dense_network([4, 5, wide, 3], "tanh", "softmax", np.float64).initialize(rng)
    thin = {i for i, layer in enumerate(network.layers) if layer._thin_transpose is not None}
    assert thin == {2}
    trainer = _trainer(network, l1=0.0, l2=0.2, n=len(X))
    for _ in range(2):
        _, analytic = _objective(network, trainer, X, Y, 1 / len(X))
        numeric = _numeric_gradient(network, trainer, X, Y, 1 / len(X))
        assert _relative_error(analytic, numeric) < 1e-6
        network.params += rng.normal(scale=0.3, size=network.params.size)


def test_sparse_input_gives_the_same_gradient_as_dense():
    rng = np.random.default_rng(0)
    X, Y = _problem("softmax", rng)
    X[X < 0.3] = 0
    network = dense_network([4, 5, 3], "relu", "softmax", np.float64).initialize(rng)
    trainer = _trainer(network, l1=0.1, l2=0.1, n=len(X))
    value_dense, grad_dense = _objective(network, trainer, X, Y, 1 / len(X))
    value_sparse, grad_sparse = _objective(network, trainer, sp.csr_matrix(X), Y, 1 / len(X))
    assert value_sparse == pytest.approx(value_dense)
    np.testing.assert_allclose(grad_sparse, grad_dense)


def test_parameters_are_views_of_one_flat_buffer():
    network = dense_network([3, 4, 2], "relu", "softmax", np.float32)
    assert network.params.dtype == np.float32
    assert all(np.shares_memory(c, network.params) for c in network.coefs + network.intercepts)
    assert network.n_weights == 3 * 4 + 4 * 2
    network.weights[:] = 1.0
    assert all((c == 1).all() for c in network.coefs)
    assert all((b == 0).all() for b in network.intercepts)


def test_predict_in_chunks_matches_one_pass():
    rng = np.random.default_rng(0)
    network = dense_network([5, 8, 3], "tanh", "softmax", np.float64).initialize(rng)
    X = rng.normal(size=(103, 5))
    whole = network.predict(X, chunk_rows=1000)
    np.testing.assert_allclose(network.predict(X, chunk_rows=10), whole)
    np.testing.assert_allclose(whole.sum(axis=1), 1.0)


def test_backward_needs_a_training_forward_pass():
    network = dense_network([3, 4, 2], "relu", "softmax", np.float64)
    ws = network.forward(np.ones((5, 3)))
    with pytest.raises(ValueError, match="training=True"):
        network.backward(np.ones((5, 3)), ws)


def test_snapshot_and_restore_go_back_to_the_same_weights():
    network = dense_network([3, 4, 2], "tanh", "softmax", np.float32)
    network.initialize(np.random.default_rng(0))
    before = [coef.copy() for coef in network.coefs]
    saved = network.snapshot()
    network.params += 1
    network.restore(saved)
    for coef, expected in zip(network.coefs, before, strict=True):
        np.testing.assert_array_equal(coef, expected)
    network.params += 1
    assert network.snapshot(out=saved) is saved  # refilled in place
    network.params -= 5
    network.restore(saved)
    for coef, expected in zip(network.coefs, before, strict=True):
        np.testing.assert_array_equal(coef, expected + 1)


def test_a_copy_trains_on_its_own_buffers_as_the_original_would():
    rng = np.random.default_rng(0)
    network = dense_network([4, 5, 5, 3], "tanh", "softmax", np.float64, batch_normalization=True)
    network.initialize(rng)
    X = rng.normal(size=(7, 4))
    ws = network.forward(X, training=True)  # moves the running statistics off their start
    ws.output_delta[...] = 1.0
    network.backward(X, ws)
    twin = network.copy()
    for buffer in ("params", "statistics"):
        np.testing.assert_array_equal(getattr(twin, buffer), getattr(network, buffer))
        assert not np.shares_memory(getattr(twin, buffer), getattr(network, buffer))
    assert not twin.grads.any()  # as a new network's
    assert all(mine is not theirs for mine, theirs in zip(twin.layers, network.layers, strict=True))
    for arrays in twin.fitted_arrays().values():
        assert all(
            np.shares_memory(a, twin.params) or np.shares_memory(a, twin.statistics) for a in arrays
        )
    before = network.params.copy()
    twin.coefs[0][0, 0] += 1.0
    np.testing.assert_array_equal(network.params, before)
    twin.coefs[0][0, 0] = network.coefs[0][0, 0]
    for model in (network, twin):
        ws = model.forward(X, training=True)
        ws.output_delta[...] = 1.0
        model.backward(X, ws)
    np.testing.assert_array_equal(twin.grads, network.grads)
    np.testing.assert_array_equal(twin.statistics, network.statistics)


def test_latest_statistics_gives_the_layers_their_momentum_back():
    network = dense_network([3, 4, 2], "relu", "softmax", np.float64, batch_normalization=True)
    with network.latest_statistics():
        assert network.layers[0].momentum == 0.0
    assert network.layers[0].momentum == 0.9


def _weighted_scale(rng, n):
    weights = rng.uniform(0.1, 3.0, n)
    weights[0] = 0.0  # a row that counts for nothing, in the statistics too
    return (weights / weights.sum())[:, None]


@pytest.mark.parametrize("activation", sorted(HIDDEN_ACTIVATIONS))
@pytest.mark.parametrize("dropout, weighted", [(None, False), ((0.3, 0.2, 0.4), True)])
def test_gradient_through_batch_normalization(activation, dropout, weighted):
    # Training mode: batch statistics, so every row's delta depends on every row.
    rng = np.random.default_rng(3)
    X, Y = _problem("softmax", rng, n=11)
    network = dense_network(
        [4, 6, 6, 5, 3], activation, "softmax", np.float64, dropout, batch_normalization=True
    )
    network.initialize(rng)
    # Start away from gamma 1, beta 0 so that both matter.
    for gamma, beta in zip(fitted(network, "gammas_"), fitted(network, "betas_"), strict=True):
        gamma[...] = rng.uniform(0.5, 1.5, gamma.size)
        beta[...] = rng.normal(scale=0.3, size=beta.size)
    scale = _weighted_scale(rng, len(X)) if weighted else 1 / len(X)
    trainer = _trainer(network, l1=0.05, l2=0.1, n=len(X))
    _, analytic = _objective(network, trainer, X, Y, scale, dropout_seed=2)
    numeric = _numeric_gradient(network, trainer, X, Y, scale, dropout_seed=2)
    assert _relative_error(analytic, numeric) < 1e-6
    # The bias before a normalisation is redundant with beta: no gradient.
    for grad in [layer.grad_intercept for layer in network.layers[:-1]]:
        np.testing.assert_allclose(grad, 0.0, atol=1e-12)


@pytest.mark.parametrize("activation", sorted(HIDDEN_ACTIVATIONS))
@pytest.mark.parametrize("batch_normalization", [False, True])
def test_gradient_through_residual_connections(activation, batch_normalization):
    rng = np.random.default_rng(4)
    X, Y = _problem("identity", rng, n=8)
    sizes = [4, 5, 5, 6, 6, 6, 3]
    network = dense_network(
        sizes,
        activation,
        "identity",
        np.float64,
        dropout=(0.0, 0.3, 0.0, 0.2, 0.0),
        batch_normalization=batch_normalization,
        residual=True,
    )
    assert tuple(layer.skip for layer in network.layers[:-1]) == (False, True, False, True, True)
    network.initialize(rng)
    trainer = _trainer(network, l1=0.0, l2=0.3, n=len(X))
    scale = _weighted_scale(rng, len(X))
    _, analytic = _objective(network, trainer, X, Y, scale, dropout_seed=9)
    numeric = _numeric_gradient(network, trainer, X, Y, scale, dropout_seed=9)
    assert _relative_error(analytic, numeric) < 1e-6


def test_residual_layer_adds_its_input():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 3))
    plain = dense_network([3, 4, 4, 2], "tanh", "identity", np.float64).initialize(rng)
    residual = dense_network([3, 4, 4, 2], "tanh", "identity", np.float64, residual=True)
    residual.params[...] = plain.params
    first = np.tanh(X @ plain.coefs[0] + plain.intercepts[0])
    second = np.tanh(first @ plain.coefs[1] + plain.intercepts[1])
    expected = (second + first) @ plain.coefs[2] + plain.intercepts[2]
    np.testing.assert_allclose(residual.predict(X), expected)
    np.testing.assert_allclose(plain.predict(X), second @ plain.coefs[2] + plain.intercepts[2])


def test_residual_layers_are_the_equal_width_hidden_layers_after_the_first():
    assert residual_layers((5, 5, 5, 3)) == (False, True)
    assert residual_layers((4, 8, 8, 4, 4, 1)) == (False, True, False, True)
    assert residual_layers((4, 8, 1)) == (False,)
    assert residual_layers((4, 1)) == ()


def test_batch_normalization_normalises_each_unit_over_the_weighted_batch():
    rng = np.random.default_rng(5)
    X = rng.normal(loc=3.0, scale=4.0, size=(50, 3))
    network = dense_network([3, 4, 2], "identity", "identity", np.float64, batch_normalization=True)
    network.initialize(rng)
    scale = _weighted_scale(rng, len(X))
    ws = network.forward(X, training=True, row_weights=scale)
    normalized = ws.layers[0].hidden  # gamma 1, beta 0, identity activation
    mean = (scale * normalized).sum(axis=0)
    variance = (scale * (normalized - mean) ** 2).sum(axis=0)
    np.testing.assert_allclose(mean, 0.0, atol=1e-12)
    np.testing.assert_allclose(variance, 1.0, rtol=1e-3)  # EPSILON keeps it just under 1
    # The running statistics moved a tenth of the way to the batch's.
    z = X @ network.coefs[0] + network.intercepts[0]
    batch_mean = (scale * z).sum(axis=0)
    np.testing.assert_allclose(fitted(network, "running_means_")[0], 0.1 * batch_mean)


def test_a_one_row_batch_is_normalised_with_the_running_statistics():
    rng = np.random.default_rng(6)
    X, Y = _problem("softmax", rng, n=1)
    network = dense_network([4, 5, 3], "tanh", "softmax", np.float64, batch_normalization=True)
    network.initialize(rng)
    fitted(network, "running_means_")[0][...] = rng.normal(size=5)
    fitted(network, "running_variances_")[0][...] = rng.uniform(0.5, 2.0, 5)
    before = network.statistics.copy()
    trainer = _trainer(network, l1=0.0, l2=0.1, n=1)
    value, analytic = _objective(network, trainer, X, Y, 1.0)
    assert np.isfinite(value) and np.isfinite(analytic).all()
    np.testing.assert_array_equal(network.statistics, before)  # left unchanged
    numeric = _numeric_gradient(network, trainer, X, Y, 1.0)
    assert _relative_error(analytic, numeric) < 1e-6
    # It is exactly what prediction computes.
    np.testing.assert_allclose(
        network.forward(X, training=True).output, network.predict(X), rtol=1e-12
    )


def test_folded_weights_predict_as_the_running_statistics_do():
    rng = np.random.default_rng(8)
    network = dense_network(
        [4, 6, 6, 3], "relu", "softmax", np.float64, batch_normalization=True, residual=True
    )
    network.initialize(rng)
    for name in ("gammas_", "betas_", "running_means_"):
        for array in fitted(network, name):
            array[...] = rng.normal(size=array.size)
    for variance in fitted(network, "running_variances_"):
        variance[...] = rng.uniform(0.2, 3.0, variance.size)
    # Each hidden layer's coef, intercept, gamma, beta, running mean and variance, folded.
    hidden_layers = zip(*(fitted(network, name)[:2] for name in ARRAY_ATTRIBUTES), strict=True)
    folded = [fold(*arrays) for arrays in hidden_layers]
    coefs = [coef for coef, _ in folded] + [network.coefs[-1]]
    intercepts = [intercept for _, intercept in folded] + [network.intercepts[-1]]
    plain = Network.reading(
        dense_stack([4, 6, 6, 3], "relu", "softmax", residual=True),
        {"coefs_": coefs, "intercepts_": intercepts},
    )
    X = rng.normal(size=(20, 4))
    np.testing.assert_allclose(plain.predict(X), network.predict(X), rtol=1e-10)


def test_snapshot_covers_the_running_statistics():
    network = dense_network([3, 4, 2], "relu", "softmax", np.float64, batch_normalization=True)
    network.initialize(np.random.default_rng(0))
    saved = network.snapshot()
    network.forward(np.random.default_rng(1).normal(size=(8, 3)), training=True)
    assert not np.array_equal(fitted(network, "running_means_")[0], 0.0)
    network.restore(saved)
    np.testing.assert_array_equal(fitted(network, "running_means_")[0], 0.0)
    np.testing.assert_array_equal(fitted(network, "running_variances_")[0], 1.0)


def test_a_batch_with_one_weighted_row_is_normalised_with_the_running_statistics():
    # One row carries all the weight: its weighted variance is zero, so the rows of
    # zero weight would be scaled by 1 / sqrt(EPSILON) if the batch's statistics were used.
    rng = np.random.default_rng(9)
    X, Y = _problem("exp", rng, n=6)
    network = dense_network([4, 5, 3], "tanh", "exp", np.float64, batch_normalization=True)
    network.initialize(rng)
    scale = np.zeros((6, 1))
    scale[2] = 1.0
    before = network.statistics.copy()
    trainer = _trainer(network, l1=0.0, l2=0.1, n=6)
    value, analytic = _objective(network, trainer, X, Y, scale)
    assert np.isfinite(value) and np.isfinite(analytic).all()
    np.testing.assert_array_equal(network.statistics, before)
    numeric = _numeric_gradient(network, trainer, X, Y, scale)
    assert _relative_error(analytic, numeric) < 1e-6


def test_dropout_masks_keep_units_with_probability_1_minus_p_scaled_by_its_inverse():
    """Inverted dropout: masks in {0, 1/(1-p)}, kept fraction 1-p, activations kept in mean."""
    rate = 0.3
    network = dense_network([20, 400, 2], "relu", "softmax", np.float64, dropout=(rate,))
    network.initialize(np.random.default_rng(0))
    X = np.random.default_rng(1).normal(size=(200, 20))
    expected = network.predict(X, logits=True)  # prediction: no dropout
    plain = network.forward(X).layers[0].hidden.copy()  # a(1) without dropout
    rng = np.random.default_rng(2)
    ws = network.forward(X, training=True, rng=rng)
    mask = ws.layers[0].dropout_mask
    np.testing.assert_allclose(np.unique(mask), [0.0, 1.0 / (1.0 - rate)], rtol=1e-12)
    kept = np.count_nonzero(mask) / mask.size
    assert abs(kept - (1 - rate)) < 4 * np.sqrt(rate * (1 - rate) / mask.size)  # 4 sigma
    # In expectation the dropped-out activation is the plain one: over many draws, its mean.
    draws = [network.forward(X, training=True, rng=rng).inputs[1].mean() for _ in range(50)]
    assert np.mean(draws) == pytest.approx(plain.mean(), rel=0.01)
    # And prediction uses no mask at all.
    np.testing.assert_array_equal(network.predict(X, logits=True), expected)
