"""ONNX export: onnxruntime reproduces our predictions (extra skbackprop[onnx])."""

import sys

import numpy as np
import onnxruntime
import pytest
from skl2onnx import to_onnx
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier, BackpropRegressor
from skbackprop.onnx import register_converters

ACTIVATIONS = ["identity", "logistic", "tanh", "relu", "leaky_relu"]
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


def _run(model, X_in, **options):
    onx = to_onnx(model, X_in[:1], options=options or None)
    session = onnxruntime.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: X_in})


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_classifier_matches_onnxruntime(target, activation):
    model = BackpropClassifier(
        hidden_layer_sizes=(8, 6),
        activation=activation,
        learning_rate_init=0.01,
        max_iter=30,
        random_state=0,
    )
    model.fit(X, TARGETS[target])
    label, proba = _run(model, X, zipmap=False)
    np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(label, model.predict(X))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_multi_output_regressor_matches_onnxruntime(activation):
    Y = np.column_stack([X[:, 0] - X[:, 1], X[:, 2] ** 2])
    model = BackpropRegressor(
        hidden_layer_sizes=(8,), activation=activation, max_iter=30, random_state=0
    ).fit(X, Y)
    (output,) = _run(model, X)
    assert output.shape == (len(X), 2)
    np.testing.assert_allclose(output, model.predict(X), rtol=1e-5, atol=1e-5)


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
