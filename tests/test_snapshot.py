"""The layer refactor changed no bit: fits, predictions and saved models against 0.3's arrays.

``tests/data/snapshot_0_3.npz`` holds what 0.3 computed for every case of
``snapshot_cases`` (on one BLAS thread), and ``models_0_3.pkl`` and the
``.skops`` files the models it fitted. On the machine, BLAS, numpy and scipy
that wrote them the comparison is bit for bit; elsewhere BLAS rounds
differently, so it is to a tolerance that a changed formula still exceeds.
"""

import copy
import pickle
import warnings

import numpy as np
import pytest
import snapshot_cases as cases
from threadpoolctl import threadpool_limits

SNAPSHOT = np.load(cases.SNAPSHOT)
SAME_MACHINE = str(SNAPSHOT["__machine__"]) == cases.machine()


def _assert_same(name, actual, expected):
    if SAME_MACHINE:
        np.testing.assert_array_equal(actual, expected, err_msg=name)
    else:
        tolerance = 5e-2 if np.asarray(expected).dtype == np.float32 else 1e-3
        np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance, err_msg=name)


def _onnx_runs():
    try:
        import onnxruntime  # noqa: F401
        import skl2onnx  # noqa: F401
    except ImportError:
        return False
    return True


def test_every_fit_and_prediction_gives_0_3s_arrays():
    results, _ = cases.compute()
    expected = {key for key in SNAPSHOT.files if key != "__machine__" and "/resumed/" not in key}
    if not _onnx_runs():  # the minimum-versions run has no extras: the export's arrays aside
        expected = {key for key in expected if "/onnx" not in key}
    assert set(results) == expected
    for key in sorted(expected):
        _assert_same(key, results[key], SNAPSHOT[key])


def test_the_snapshot_covers_the_onnx_export():
    assert any("/onnx" in key for key in SNAPSHOT.files)


@pytest.fixture(scope="module")
def saved_models():
    # 0.3's models were pickled with numpy 2, whose pickles name numpy._core: numpy 1 cannot
    # read them (the minimum-versions run); the skops files below load on either.
    if int(np.__version__.split(".")[0]) < 2:
        pytest.skip(f"pickles written by numpy 2 do not load in numpy {np.__version__}")
    with open(cases.SAVED_MODELS, "rb") as file:
        return pickle.load(file)


def _X(name):
    dtype = name.rsplit("_", 1)[1]
    data = cases._digits() if name.startswith("clf") else cases._diabetes()
    return data[0].astype(dtype), data[1]


def _predicted(model, X):
    with threadpool_limits(1):
        return cases._predictions(model, X)


def test_models_pickled_by_0_3_predict_as_they_did(saved_models):
    for name, model in saved_models.items():
        X, _ = _X(name)
        for key, value in _predicted(model, X).items():
            _assert_same(f"{name}/{key}", value, SNAPSHOT[f"{name}/{key}"])


def test_models_pickled_by_0_3_train_on_exactly(saved_models):
    models = copy.deepcopy(saved_models)
    for key, value in cases.resumed(models).items():
        _assert_same(key, value, SNAPSHOT[key])


@pytest.mark.parametrize("name", cases.SKOPS_MODELS)
def test_models_saved_with_skops_by_0_3_predict_as_they_did(name):
    skops_io = pytest.importorskip("skops.io")
    path = cases.DATA / f"{name}_0_3.skops"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skops' notes on the types it trusts
        model = skops_io.load(path, trusted=skops_io.get_untrusted_types(file=path))
    X, _ = _X(name)
    for key, value in _predicted(model, X).items():
        _assert_same(f"{name}/{key}", value, SNAPSHOT[f"{name}/{key}"])
