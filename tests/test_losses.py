from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.metrics import log_loss, mean_poisson_deviance, mean_squared_error

from skbackprop._activations import OUTPUT_ACTIVATIONS
from skbackprop._losses import LOSSES


def _targets(output_activation, rng, n, k):
    if output_activation == "softmax":
        return np.eye(k)[rng.integers(0, k, n)]
    if output_activation == "logistic":
        return rng.integers(0, 2, (n, k)).astype(float)
    if output_activation == "exp":  # counts, zeros included
        return rng.poisson(1.5, (n, k)).astype(float)
    return rng.normal(size=(n, k))


def _workspace(output_activation, logits):
    """The arrays a forward pass leaves for the loss, as a network's workspace holds them."""
    n = len(logits)
    ws = SimpleNamespace(
        logits=logits,
        output=np.empty_like(logits),
        row_stats=np.empty((n, 2)),
        output_delta=np.empty_like(logits),
        loss_scratch=np.empty_like(logits),
        loss_scratch2=np.empty_like(logits),
        row_scratch=np.empty((n, 1)),
    )
    OUTPUT_ACTIVATIONS[output_activation](ws.logits, ws.output, ws.row_stats)
    return ws


def _value(output_activation, logits, y, scale):
    return LOSSES[output_activation].value(_workspace(output_activation, logits), y, scale)


def _sklearn_loss(output_activation, y, p, sample_weight=None):
    """scikit-learn's MLP losses, written with its public metrics."""
    if output_activation == "softmax":
        return log_loss(y.argmax(axis=1), p, sample_weight=sample_weight, labels=range(y.shape[1]))
    if output_activation == "logistic":  # summed over the outputs
        return sum(
            log_loss(y[:, k], p[:, k], sample_weight=sample_weight, labels=[0, 1])
            for k in range(y.shape[1])
        )
    if output_activation == "exp":  # half the deviance, summed over the outputs
        return sum(
            mean_poisson_deviance(y[:, k], p[:, k], sample_weight=sample_weight) / 2
            for k in range(y.shape[1])
        )
    return mean_squared_error(y, p, sample_weight=sample_weight) / 2


@pytest.mark.parametrize(
    "output_activation, k",
    [
        ("softmax", 4),
        ("logistic", 1),
        ("logistic", 3),
        ("identity", 1),
        ("identity", 3),
        ("exp", 1),
        ("exp", 2),
    ],
)
def test_loss_matches_scikit_learn_definition(output_activation, k):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(7, k))
    y = _targets(output_activation, rng, 7, k)
    weights = rng.uniform(0.5, 2, size=7)
    output = np.empty_like(logits)
    OUTPUT_ACTIVATIONS[output_activation](logits, output, np.empty((7, 2)))
    expected = _sklearn_loss(output_activation, y, output, weights)
    scale = (weights / weights.sum())[:, None]
    assert _value(output_activation, logits, y, scale) == pytest.approx(expected, rel=1e-12)
    expected_unweighted = _sklearn_loss(output_activation, y, output)
    assert _value(output_activation, logits, y, 1 / 7) == pytest.approx(expected_unweighted)


@pytest.mark.parametrize(
    "output_activation, k",
    [
        ("softmax", 2),
        ("softmax", 4),
        ("logistic", 1),
        ("logistic", 3),
        ("identity", 1),
        ("identity", 3),
        ("exp", 1),
        ("exp", 3),
    ],
)
def test_output_delta_is_gradient_of_value(output_activation, k):
    rng = np.random.default_rng(1)
    n = 6
    logits = rng.normal(size=(n, k))
    y = _targets(output_activation, rng, n, k)
    weights = rng.uniform(0.1, 3, size=n)
    scale = (weights / weights.sum())[:, None]
    ws = _workspace(output_activation, logits)
    LOSSES[output_activation].output_delta(ws, y, scale)
    delta = ws.output_delta

    eps = 1e-6
    numeric = np.empty_like(logits)
    for index in np.ndindex(logits.shape):
        plus, minus = logits.copy(), logits.copy()
        plus[index] += eps
        minus[index] -= eps
        numeric[index] = (
            _value(output_activation, plus, y, scale) - _value(output_activation, minus, y, scale)
        ) / (2 * eps)
    np.testing.assert_allclose(delta, numeric, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("output_activation", ["softmax", "logistic"])
def test_cross_entropy_is_finite_for_confident_wrong_predictions(output_activation):
    logits = np.array([[800.0, -800.0], [-800.0, 800.0]])
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    value = _value(output_activation, logits, y, 0.5)
    assert np.isfinite(value)
    # Each sample is wrong by a margin of 1600 (softmax) or two labels of 800 (logistic).
    assert value == pytest.approx(1600.0)


@pytest.mark.parametrize(
    "output_activation, k", [("softmax", 4), ("logistic", 3), ("identity", 2), ("exp", 2)]
)
@pytest.mark.parametrize("weighted", [False, True])
def test_value_reads_the_forward_pass_and_writes_only_its_scratch(output_activation, k, weighted):
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(5, k))
    y = _targets(output_activation, rng, 5, k)
    scale = (rng.uniform(0.1, 1, size=(5, 1)) / 5) if weighted else 0.2
    ws = _workspace(output_activation, logits)
    ws.output_delta[...] = 7.0
    read = {name: getattr(ws, name).copy() for name in ("logits", "output", "row_stats")}
    loss = LOSSES[output_activation]
    first, second = loss.value(ws, y, scale), loss.value(ws, y, scale)
    assert first == second
    for name, before in read.items():
        np.testing.assert_array_equal(getattr(ws, name), before)
    assert (ws.output_delta == 7.0).all()
