"""The README's promises, over combinations of how a model is fitted (property-based).

- Divergence raises a ValueError and loses nothing: a fitted model predicts as before.
- Ctrl-C keeps the last complete epoch (or the best validated one): the interrupted
  fit is the fit that ran exactly the completed epochs.

Each holds for dense float64, float32, sparse and pandas input, with or without
early stopping, sample weights, class weights, batch normalization and residual
connections, and for fit, a warm-started fit and partial_fit.
"""

import warnings
from unittest import mock

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import assert_same_weights, ctrl_c_after
from hypothesis import event, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from skbackprop import BackpropClassifier, BackpropRegressor
from skbackprop._network import Network

N_ROWS, N_FEATURES, BATCH_SIZE = 60, 4, 20
rng = np.random.default_rng(0)
X = rng.normal(size=(N_ROWS, N_FEATURES))
TARGETS = {"classifier": (X[:, 0] + X[:, 1] > 0).astype(int), "regressor": X[:, 0] - X[:, 2]}
BASE = dict(hidden_layer_sizes=(5,), batch_size=BATCH_SIZE, tol=0.0, n_iter_no_change=100)
FORMATS = {
    "float64": lambda X: X,
    "float32": lambda X: X.astype(np.float32),
    "csr": sp.csr_matrix,
    "csc_array": sp.csc_array,
}
try:
    import pandas as pd
except ImportError:  # pandas comes with the test extra; the other formats still run
    pass
else:
    FORMATS["pandas"] = lambda X: pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
LAYER_OPTIONS = [
    {},
    {"batch_normalization": True},
    {"residual": True, "hidden_layer_sizes": (5, 5)},
    {"batch_normalization": True, "residual": True, "hidden_layer_sizes": (5, 5)},
]
# Deterministic runs, a budget that keeps the suite fast.
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None)


@st.composite
def setups(draw):
    kind = draw(st.sampled_from(["classifier", "regressor"]))
    mode = draw(st.sampled_from(["fit", "warm_start", "partial_fit"]))
    params = dict(
        BASE,
        solver=draw(st.sampled_from(["sgd", "momentum", "adam"])),
        shuffle=draw(st.booleans()),
        random_state=draw(st.integers(0, 1000)),
        # partial_fit has no held-out data: it refuses early stopping.
        early_stopping=mode != "partial_fit" and draw(st.booleans()),
        validation_fraction=0.2,
    )
    # The deep-network options: batch normalization keeps running statistics, which
    # rollbacks and continuations must carry along with the weights.
    params.update(draw(st.sampled_from(LAYER_OPTIONS)))
    if kind == "classifier":
        params["class_weight"] = draw(st.sampled_from([None, {0: 2.0, 1: 0.5}]))
    sample_weight = None
    if draw(st.booleans()):
        sample_weight = np.random.default_rng(params["random_state"]).uniform(0.5, 2, N_ROWS)
    return kind, mode, draw(st.sampled_from(list(FORMATS))), params, sample_weight


def _make(kind, **params):
    return (BackpropClassifier if kind == "classifier" else BackpropRegressor)(**params)


def _train(model, mode, X_in, y, sample_weight):
    """One call of ``mode``: fit (also the warm-started one) or partial_fit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if mode == "partial_fit":
            extra = {"classes": [0, 1]} if isinstance(model, BackpropClassifier) else {}
            return model.partial_fit(X_in, y, sample_weight=sample_weight, **extra)
        return model.fit(X_in, y, sample_weight=sample_weight)


def _first_model(kind, mode, X_in, y, params, sample_weight):
    """A fitted model for ``mode`` to continue (warm_start, partial_fit) or replace (fit)."""
    model = _make(kind, **params, max_iter=3, warm_start=mode == "warm_start")
    return _train(model, mode, X_in, y, sample_weight)


def _state(model):
    return {name: value for name, value in vars(model).items() if name.endswith("_")}


def _prediction(model, X_in):
    if isinstance(model, BackpropClassifier):
        return model.predict_proba(X_in)
    return model.predict(X_in)


@SETTINGS
@given(setups())
def test_divergence_raises_and_loses_nothing(setup):
    kind, mode, fmt, params, sample_weight = setup
    X_in, y = FORMATS[fmt](X), TARGETS[kind]
    model = _first_model(kind, mode, X_in, y, params, sample_weight)
    before, state = _prediction(model, X_in), _state(model)

    # Unscaled inputs (as large as the dtype allows) and a step size that cannot cope.
    # Batch normalization rescales such inputs away and keeps a large step's updates
    # bounded: there only a step that overflows the weights themselves diverges.
    step = 1e300 if params.get("batch_normalization") else 1e6
    model.set_params(solver="sgd", learning_rate_init=step, max_iter=20)
    y_bad = y if kind == "classifier" else y * 1e30
    X_bad = FORMATS[fmt](X * (1e15 if fmt == "float32" else 1e150))
    with pytest.raises(ValueError, match="diverged"):
        _train(model, mode, X_bad, y_bad, sample_weight)
    np.testing.assert_array_equal(_prediction(model, X_in), before)
    assert _state(model).keys() == state.keys()
    assert all(_state(model)[name] is value for name, value in state.items())


def _interrupt_at_batch(count):
    """Patch the backward pass so that its ``count``-th call is followed by a Ctrl-C."""
    wrapped = ctrl_c_after(Network, "backward", lambda calls: calls == count)
    return mock.patch.object(Network, "backward", wrapped)


@SETTINGS
@given(setups(), st.integers(1, 12))
def test_ctrl_c_keeps_the_completed_epochs(setup, batch):
    kind, mode, fmt, params, sample_weight = setup
    X_in, y = FORMATS[fmt](X), TARGETS[kind]
    n_train = N_ROWS - int(params["early_stopping"]) * round(0.2 * N_ROWS)
    batches_per_epoch = -(-n_train // BATCH_SIZE)
    completed = batch // batches_per_epoch  # the press lands after this many full epochs
    if mode == "partial_fit":
        completed = min(completed, 1)

    model = _first_model(kind, mode, X_in, y, params, sample_weight)
    before = _prediction(model, X_in)
    model.set_params(max_iter=5)
    reference = _first_model(kind, mode, X_in, y, params, sample_weight)
    reference.set_params(max_iter=max(completed, 1))

    event(f"{mode}, {completed} complete epochs")
    with _interrupt_at_batch(batch):
        if completed == 0 or (mode == "partial_fit" and batch < batches_per_epoch):
            # Nothing complete to keep: the fit aborts and the previous model stays.
            with pytest.raises(KeyboardInterrupt):
                _train(model, mode, X_in, y, sample_weight)
            np.testing.assert_array_equal(_prediction(model, X_in), before)
            return
        if completed < 5 and mode != "partial_fit":
            with pytest.warns(UserWarning, match=f"after {completed} complete epoch"):
                _train(model, mode, X_in, y, sample_weight)
        else:
            _train(model, mode, X_in, y, sample_weight)
    _train(reference, mode, X_in, y, sample_weight)
    assert_same_weights(model, reference)
    assert model.n_iter_ == reference.n_iter_
    assert model.loss_curve_ == reference.loss_curve_
    assert np.isfinite(_prediction(model, X_in)).all()
