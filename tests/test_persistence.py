"""Safe persistence with skops (extra skbackprop[skops]) and joblib."""

import warnings

import joblib
import numpy as np
import pytest
import skops.io as sio
from sklearn.datasets import load_iris

from skbackprop import BackpropClassifier, BackpropRegressor

X, y = load_iris(return_X_y=True)


@pytest.mark.parametrize(
    "model, target",
    [
        (BackpropClassifier(max_iter=5, early_stopping=True, random_state=0), y),
        (
            BackpropClassifier(solver="momentum", max_iter=5, random_state=0),
            np.array(list("abc"))[y],
        ),
        (BackpropRegressor(solver="sgd", max_iter=5, random_state=0), X[:, :2]),
    ],
)
def test_skops_round_trip_trusts_only_our_own_classes(model, target, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, target)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert untrusted == [f"skbackprop._estimators.{type(model).__name__}"]
    restored = sio.load(path, trusted=untrusted)
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    # The solver state came along: training goes on exactly where it stopped.
    if not model.early_stopping:
        model.partial_fit(X, target)
        restored.partial_fit(X, target)
        np.testing.assert_array_equal(restored.coefs_[0], model.coefs_[0])


def test_joblib_round_trip(tmp_path):
    model = BackpropClassifier(max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    joblib.dump(model, tmp_path / "model.joblib")
    restored = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
