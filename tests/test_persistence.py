"""Safe persistence with skops (extra skbackprop[skops]) and joblib."""

import os
import warnings

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier, BackpropRegressor

sio = pytest.importorskip("skops.io", reason="needs the skops extra")

X, y = load_iris(return_X_y=True)
# The recipe of the README, the user guide and examples/persistence_and_onnx.py.
OURS = [
    "skbackprop._estimators.BackpropClassifier",
    "skbackprop._estimators.BackpropRegressor",
    "skbackprop._sequence_estimators.BackpropSequenceClassifier",
    "skbackprop._sequence_estimators.BackpropSequenceRegressor",
]


@pytest.mark.parametrize(
    "model, target",
    [
        (BackpropClassifier(max_iter=5, early_stopping=True, random_state=0), y),
        (
            BackpropClassifier(solver="momentum", max_iter=5, random_state=0),
            np.array(list("abc"))[y],
        ),
        (BackpropRegressor(solver="sgd", max_iter=5, random_state=0), X[:, :2]),
        # Issue 19's options: adamw, cosine with warm-up, one activation per layer.
        (
            BackpropClassifier(
                (8, 8),
                activation=("gelu", "silu"),
                solver="adamw",
                learning_rate="cosine",
                warmup_iter=2,
                max_iter=5,
                random_state=0,
            ),
            y,
        ),
    ],
)
def test_skops_round_trip_trusts_only_our_own_classes(model, target, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, target)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert untrusted == [f"skbackprop._estimators.{type(model).__name__}"]
    restored = sio.load(path, trusted=OURS)
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    # The solver state came along: training goes on exactly where it stopped.
    if not model.early_stopping:
        model.partial_fit(X, target)
        restored.partial_fit(X, target)
        np.testing.assert_array_equal(restored.coefs_[0], model.coefs_[0])


def test_joblib_round_trip(tmp_path):
    model = BackpropClassifier(max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    joblib.dump(model, tmp_path / "model.joblib")
    restored = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("pipeline", [False, True])
def test_skops_recipe_refuses_a_file_with_a_smuggled_function(pipeline, tmp_path):
    tampered = BackpropClassifier(max_iter=5, scoring=os.system, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        tampered.fit(X, y)
    if pipeline:
        tampered = make_pipeline(StandardScaler().fit(X), tampered)
    path = tmp_path / "tampered.skops"
    sio.dump(tampered, path)
    assert "posix.system" in sio.get_untrusted_types(file=path) or os.name != "posix"
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException, match="system"):
        sio.load(path, trusted=OURS)


@pytest.mark.parametrize(
    "Estimator, options",
    [
        ("BackpropSequenceClassifier", dict(conv_filters=(4,), kernel_sizes=(3,))),
        (
            "BackpropSequenceRegressor",
            dict(conv_filters=(), kernel_sizes=(), recurrent_units=(5,), cell="elman"),
        ),
    ],
)
def test_skops_round_trip_of_the_sequence_estimators(Estimator, options, tmp_path):
    import skbackprop

    rng = np.random.default_rng(0)
    series = rng.normal(size=(30, 2, 12))
    target = (series[:, 0, 3] > 0).astype(int)
    model = getattr(skbackprop, Estimator)(**options, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(series, target)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    assert sio.get_untrusted_types(file=path) == [f"skbackprop._sequence_estimators.{Estimator}"]
    restored = sio.load(path, trusted=OURS)
    np.testing.assert_array_equal(restored.predict(series), model.predict(series))
    model.partial_fit(series, target)
    restored.partial_fit(series, target)
    np.testing.assert_array_equal(restored.coefs_[0], model.coefs_[0])
