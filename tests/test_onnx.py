"""ONNX export: onnxruntime reproduces our predictions (extra skbackprop[onnx])."""

import sys

import numpy as np
import pytest
from helpers import quiet_fit

onnxruntime = pytest.importorskip("onnxruntime", reason="needs the onnx extra")
skl2onnx = pytest.importorskip("skl2onnx", reason="needs the onnx extra")

from skl2onnx import to_onnx
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import (
    BackpropClassifier,
    BackpropRegressor,
    BackpropSequenceClassifier,
    BackpropSequenceRegressor,
)
from skbackprop._activations import HIDDEN_ACTIVATIONS
from skbackprop.onnx import pad_series, register_converters

# Every activation, and one network mixing them layer by layer.
ACTIVATIONS = [*sorted(HIDDEN_ACTIVATIONS), ("gelu", "elu")]
rng = np.random.default_rng(0)
X = rng.normal(size=(120, 5)).astype(np.float32)
TARGETS = {
    "binary": np.array(["no", "yes"])[(X[:, 0] > 0).astype(int)],
    "multiclass": np.digitize(X[:, 1], [-0.5, 0.5]) - 5,
    "multilabel": (X[:, :3] > 0).astype(int),
}


@pytest.fixture(scope="module", autouse=True)
def _converters():
    register_converters()


def _session(onx):
    return onnxruntime.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])


def _run(model, X_in, **options):
    onx = to_onnx(model, X_in[:1], options=options or None)
    session = _session(onx)
    return session.run(None, {session.get_inputs()[0].name: X_in})


# Each model trains in its input's dtype and is exported for that dtype.
DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=str)
def test_classifier_matches_onnxruntime(target, activation, dtype):
    model = BackpropClassifier(
        hidden_layer_sizes=(8, 6),
        activation=activation,
        learning_rate_init=0.01,
        max_iter=30,
        random_state=0,
    )
    X_in = X.astype(dtype)
    model.fit(X_in, TARGETS[target])
    label, proba = _run(model, X_in, zipmap=False)
    assert proba.dtype == dtype
    np.testing.assert_allclose(proba, model.predict_proba(X_in), atol=1e-5)
    assert label.dtype == model.predict(X_in).dtype or label.dtype == object
    np.testing.assert_array_equal(label, model.predict(X_in))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_outputs", [1, 2])
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=str)
def test_regressor_matches_onnxruntime(activation, n_outputs, dtype):
    Y = np.column_stack([X[:, 0] - X[:, 1], X[:, 2] ** 2])[:, :n_outputs]
    X_in = X.astype(dtype)
    sizes = (8,) if isinstance(activation, str) else (8, 6)
    model = BackpropRegressor(
        hidden_layer_sizes=sizes, activation=activation, max_iter=30, random_state=0
    ).fit(X_in, Y.ravel() if n_outputs == 1 else Y)
    (output,) = _run(model, X_in)
    assert output.shape == (len(X), n_outputs) and output.dtype == dtype
    np.testing.assert_allclose(
        output.reshape(model.predict(X_in).shape), model.predict(X_in), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("Estimator", [BackpropClassifier, BackpropRegressor])
@pytest.mark.parametrize("init", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal"])
@pytest.mark.parametrize(
    "batch_normalization, residual", [(True, False), (False, True), (True, True)]
)
def test_deep_network_options_export_folded(Estimator, init, batch_normalization, residual):
    # Batch normalization is exported folded into the weights, residual layers as Adds.
    target = TARGETS["multiclass"] if Estimator is BackpropClassifier else X[:, 0] * X[:, 1]
    model = Estimator(
        hidden_layer_sizes=(8, 8, 8),
        init=init,
        batch_normalization=batch_normalization,
        residual=residual,
        learning_rate_init=0.01,
        max_iter=30,
        random_state=0,
    ).fit(X, target)
    outputs = _run(model, X, zipmap=False) if Estimator is BackpropClassifier else _run(model, X)
    expected = model.predict_proba(X) if Estimator is BackpropClassifier else model.predict(X)
    np.testing.assert_allclose(outputs[-1].reshape(expected.shape), expected, rtol=1e-5, atol=1e-5)
    if Estimator is BackpropClassifier:
        np.testing.assert_array_equal(outputs[0], model.predict(X))


@pytest.mark.parametrize("dtype", DTYPES)
def test_poisson_regressor_exports_its_exponential_output(dtype):
    counts = np.random.default_rng(0).poisson(np.exp(X[:, 0]))
    X_in = X.astype(dtype)
    model = BackpropRegressor(loss="poisson", max_iter=30, random_state=0).fit(X_in, counts)
    (output,) = _run(model, X_in)
    np.testing.assert_allclose(output.ravel(), model.predict(X_in), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "classes",
    [
        np.array([0.0, 1.0, 2.0]),
        np.array([0.0, 1.0], dtype=np.float32),
        np.array([False, True]),
        np.array([3, 7], dtype=np.int32),
        np.array([1, 2, 4], dtype=np.uint8),
        np.array(["a", "b", "c"]),
    ],
    ids=lambda classes: classes.dtype.name,
)
def test_labels_have_predicts_values_and_dtype(classes):
    y = classes[np.digitize(X[:, 0], [-0.5, 0.5]) % len(classes)]
    model = BackpropClassifier(max_iter=30, random_state=0).fit(X, y)
    label, _ = _run(model, X, zipmap=False)
    expected = model.predict(X)
    assert label.dtype == (object if expected.dtype.kind == "U" else expected.dtype)
    np.testing.assert_array_equal(label, expected)


@pytest.mark.parametrize("model", [BackpropClassifier(), BackpropRegressor()], ids=repr)
def test_exporting_an_unfitted_model_raises_not_fitted(model):
    with pytest.raises(NotFittedError):
        to_onnx(model, X[:1])
    with pytest.raises(NotFittedError):
        to_onnx(make_pipeline(StandardScaler().fit(X), model), X[:1])


def test_float64_model_and_input_and_a_pipeline():
    X64 = X.astype(np.float64) * 10 + 3
    pipeline = make_pipeline(StandardScaler(), BackpropClassifier(max_iter=30, random_state=0))
    pipeline.fit(X64, TARGETS["multiclass"])
    label, proba = _run(pipeline, X64, zipmap=False)
    assert proba.dtype == np.float64
    np.testing.assert_allclose(proba, pipeline.predict_proba(X64), atol=1e-10)
    np.testing.assert_array_equal(label, pipeline.predict(X64))


def test_register_without_skl2onnx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    with pytest.raises(ImportError, match=r"skbackprop\[onnx\]"):
        register_converters()


SEQUENCE_NETWORKS = {
    "blocks, normalized": dict(conv_filters=(4, 3), kernel_sizes=(4, 3)),
    "blocks, max": dict(conv_filters=(4,), kernel_sizes=(5,), pooling="max"),
    "gru, last": dict(conv_filters=(4,), kernel_sizes=(3,), recurrent_units=(6,), pooling="last"),
    "elman": dict(conv_filters=(), kernel_sizes=(), recurrent_units=(5, 4), cell="elman"),
}
SERIES = rng.normal(size=(40, 2, 30))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("network", list(SEQUENCE_NETWORKS))
def test_sequence_classifier_matches_onnxruntime(network, dtype):
    X_in = SERIES.astype(dtype)
    y = np.digitize(X_in[:, 0, 3], [-0.5, 0.5])
    model = BackpropSequenceClassifier(**SEQUENCE_NETWORKS[network], max_iter=5, random_state=0)
    model.fit(X_in, y)
    label, proba = _run(model, X_in, zipmap=False)
    assert proba.dtype == dtype
    # onnxruntime's Conv, GRU and RNN run in float32 only.
    np.testing.assert_allclose(proba, model.predict_proba(X_in), atol=1e-5)
    np.testing.assert_array_equal(label, model.predict(X_in))
    # Exported with a free number of timepoints, it takes series of any length.
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    tensor = FloatTensorType if dtype == np.float32 else DoubleTensorType
    onx = to_onnx(model, initial_types=[("X", tensor([None, 2, None]))], options={"zipmap": False})
    session = _session(onx)
    for n_steps in (30, 17, 1):
        proba = session.run(None, {"X": X_in[:, :, :n_steps]})[1]
        np.testing.assert_allclose(proba, model.predict_proba(X_in[:, :, :n_steps]), atol=1e-5)


def test_sequence_regressor_of_2d_series_matches_onnxruntime():
    X_in = SERIES[:, 0].astype(np.float32)
    model = BackpropSequenceRegressor((4,), (3,), (5,), max_iter=5, random_state=0)
    model.fit(X_in, X_in[:, 3] - X_in[:, 20])
    (output,) = _run(model, X_in)
    np.testing.assert_allclose(output[:, 0], model.predict(X_in), atol=1e-5)


def _with_lengths(model, dtype, n_channels=2, **options):
    """``model`` exported with a second input, each series' length."""
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, Int64TensorType

    tensor = FloatTensorType if dtype == np.float32 else DoubleTensorType
    inputs = [("X", tensor([None, n_channels, None])), ("lengths", Int64TensorType([None]))]
    return to_onnx(model, initial_types=inputs, options=options or None)


UNEQUAL = [rng.normal(size=(2, n)) for n in rng.integers(1, 30, 40)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("network", list(SEQUENCE_NETWORKS))
def test_series_of_unequal_lengths_match_onnxruntime_with_their_lengths(network, dtype):
    series = [array.astype(dtype) for array in UNEQUAL]
    y = np.digitize([array[0, 0] for array in series], [-0.5, 0.5])
    model = BackpropSequenceClassifier(**SEQUENCE_NETWORKS[network], max_iter=5, random_state=0)
    quiet_fit(model, series, y)
    session = _session(_with_lengths(model, dtype, zipmap=False))
    X_padded, lengths = pad_series(series, dtype)
    assert X_padded.dtype == dtype and lengths.dtype == np.int64
    assert [int(n) for n in lengths] == [array.shape[1] for array in series]
    past_end = np.arange(X_padded.shape[2]) >= lengths[:, None, None]
    for padding in (0.0, 7.0):  # what the padding holds does not matter, as in predict
        padded = np.where(past_end, padding, X_padded).astype(dtype)
        label, proba = session.run(None, {"X": padded, "lengths": lengths})
        assert proba.dtype == dtype
        np.testing.assert_allclose(proba, model.predict_proba(series), atol=1e-5)
        np.testing.assert_array_equal(label, model.predict(series))
    # Series of one length: the same as the export without lengths.
    equal = X_padded[:, :, :5]
    full = np.full(len(equal), 5, dtype=np.int64)
    np.testing.assert_allclose(
        session.run(None, {"X": equal, "lengths": full})[1], model.predict_proba(equal), atol=1e-5
    )


def test_a_regressor_exports_with_lengths_too_alone_and_in_a_pipeline():
    series = [array.astype(np.float32) for array in UNEQUAL]
    model = BackpropSequenceRegressor((4,), (3,), max_iter=5, random_state=0)
    quiet_fit(model, series, [array[0].mean() for array in series])
    X_padded, lengths = pad_series(series)
    # In a Pipeline the estimator is the only step (no scikit-learn transformer takes
    # 3-D series): the Pipeline's two inputs reach it.
    for exported in (model, make_pipeline(model)):
        (output,) = _session(_with_lengths(exported, np.float32)).run(
            None, {"X": X_padded, "lengths": lengths}
        )
        np.testing.assert_allclose(output[:, 0], model.predict(series), atol=1e-5)


def test_lengths_are_refused_where_x_is_not_3d_series():
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType

    lengths = ("lengths", Int64TensorType([None]))
    flat = BackpropSequenceRegressor((4,), (3,), max_iter=2, random_state=0)
    quiet_fit(flat, SERIES[:, 0], SERIES[:, 0, 0])
    dense = quiet_fit(BackpropRegressor(max_iter=2, random_state=0), X, X[:, 0])
    for model, x_type in ((flat, FloatTensorType([None, 30])), (dense, FloatTensorType([None, 5]))):
        with pytest.raises(ValueError, match="second input, each series' length"):
            to_onnx(model, initial_types=[("X", x_type), lengths])


def test_pad_series_says_what_is_wrong():
    with pytest.raises(ValueError, match="non-empty list"):
        pad_series([])
    with pytest.raises(ValueError, match="at least one timepoint"):
        pad_series([np.zeros((1, 3)), np.zeros((1, 0))])
    with pytest.raises(ValueError, match="different numbers of channels"):
        pad_series([np.zeros((1, 3)), np.zeros((2, 3))])
