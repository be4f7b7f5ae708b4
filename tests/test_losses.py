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


def _numeric_gradient(value, logits, eps):
    """Central differences of ``value(logits)`` with respect to each logit."""
    numeric = np.empty_like(logits)
    for index in np.ndindex(logits.shape):
        plus, minus = logits.copy(), logits.copy()
        plus[index] += eps
        minus[index] -= eps
        numeric[index] = (value(plus) - value(minus)) / (2 * eps)
    return numeric


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

    numeric = _numeric_gradient(lambda z: _value(output_activation, z, y, scale), logits, 1e-6)
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


# -- the regression losses of identity outputs (issue 19) ------------------------

from sklearn.metrics import mean_absolute_error, mean_pinball_loss  # noqa: E402

from skbackprop._losses import AbsoluteError, Huber, Pinball  # noqa: E402

ROBUST = {
    "absolute_error": lambda k: AbsoluteError(),
    "huber": lambda k: Huber(delta=0.7),
    "quantile": lambda k: Pinball(np.linspace(0.1, 0.9, k)),
}


def _robust_value(loss, predictions, y, scale):
    return loss.value(_workspace("identity", predictions), y, scale)


def _by_definition(name, y, p, weights, k):
    r = p - y
    if name == "absolute_error":
        return mean_absolute_error(y, p, sample_weight=weights)
    if name == "huber":
        delta = 0.7
        elementwise = np.where(np.abs(r) <= delta, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta))
        return np.average(elementwise.mean(axis=1), weights=weights)
    levels = np.linspace(0.1, 0.9, k)
    return np.mean(
        [
            mean_pinball_loss(y[:, j], p[:, j], alpha=levels[j], sample_weight=weights)
            for j in range(k)
        ]
    )


@pytest.mark.parametrize("name", sorted(ROBUST))
@pytest.mark.parametrize("k", [1, 3])
def test_robust_losses_match_their_definitions(name, k):
    rng = np.random.default_rng(4)
    p, y = rng.normal(size=(7, k)), rng.normal(size=(7, k))
    weights = rng.uniform(0.1, 3, size=7)
    scale = (weights / weights.sum())[:, None]
    value = _robust_value(ROBUST[name](k), p, y, scale)
    assert value == pytest.approx(_by_definition(name, y, p, weights, k), rel=1e-12)
    unweighted = _robust_value(ROBUST[name](k), p, y, 1 / 7)
    assert unweighted == pytest.approx(_by_definition(name, y, p, None, k), rel=1e-12)


@pytest.mark.parametrize("name", sorted(ROBUST))
@pytest.mark.parametrize("k", [1, 3])
def test_robust_output_delta_is_the_gradient_of_value(name, k):
    rng = np.random.default_rng(5)
    p, y = rng.normal(size=(6, k)), rng.normal(size=(6, k))
    weights = rng.uniform(0.1, 3, size=6)
    scale = (weights / weights.sum())[:, None]
    loss = ROBUST[name](k)
    ws = _workspace("identity", p)
    loss.output_delta(ws, y, scale)
    numeric = _numeric_gradient(lambda z: _robust_value(loss, z, y, scale), p, 1e-7)
    # Residuals are normal draws: none sits on a kink (|r| = delta, r = 0).
    np.testing.assert_allclose(ws.output_delta, numeric, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("name", sorted(ROBUST))
def test_robust_value_writes_only_its_scratch(name):
    rng = np.random.default_rng(6)
    p, y = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    ws = _workspace("identity", p)
    ws.output_delta[...] = 7.0
    before = ws.output.copy()
    loss = ROBUST[name](2)
    assert loss.value(ws, y, 0.2) == loss.value(ws, y, 0.2)
    np.testing.assert_array_equal(ws.output, before)
    assert (ws.output_delta == 7.0).all()


def test_huber_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    p, y = rng.normal(scale=2, size=(8, 3)), rng.normal(size=(8, 3))
    ws = _workspace("identity", p)
    loss = Huber(delta=0.7)
    value = loss.value(ws, y, 1 / 8)
    loss.output_delta(ws, y, 1 / 8)
    p_torch = torch.tensor(p, requires_grad=True)
    reference = torch.nn.HuberLoss(delta=0.7)(p_torch, torch.tensor(y))
    reference.backward()
    assert value == pytest.approx(reference.item(), rel=1e-12)
    np.testing.assert_allclose(ws.output_delta, p_torch.grad.numpy(), rtol=1e-12)
