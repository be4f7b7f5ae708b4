"""Property-based tests: whatever valid but odd input, fit succeeds with finite
predictions or reports divergence with advice; nothing else."""

import re
import warnings

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning

from skbackprop import BackpropClassifier, BackpropRegressor

DTYPES = ["int64", "int32", "bool", "float16", "float32", "float64", "object"]
SCALES = [1.0, 1e-30, 1e30, 1e-300]


@st.composite
def datasets(draw):
    n_rows = draw(st.integers(2, 25))
    n_features = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, n_features)) * draw(st.sampled_from(SCALES))
    if draw(st.booleans()):
        X[:, rng.integers(0, n_features)] = draw(st.sampled_from([0.0, 1.0, -7.5]))
    if draw(st.booleans()):  # duplicated rows
        X = np.vstack([X, X[: draw(st.integers(1, n_rows))]])
    dtype = draw(st.sampled_from(DTYPES))
    if dtype == "float16":
        X = np.clip(X, -6e4, 6e4)
    elif dtype.startswith("int"):
        X = np.clip(X, -1e9, 1e9)
    X = X.astype(dtype) if dtype != "object" else X.astype(object)
    if draw(st.booleans()) and dtype != "object":
        X = sp.csr_matrix(X.astype(np.float64))
        X = X.tolil()
        X[rng.integers(0, X.shape[0])] = 0  # an empty row
        X = X.tocsr()
        X.eliminate_zeros()
    # At least two classes (rows are at least two): one class is refused, tested elsewhere.
    n_classes = draw(st.integers(2, 4))
    labels = rng.permutation(np.arange(X.shape[0]) % n_classes)
    targets = draw(st.sampled_from(["labels", "constant", "huge", "tiny"]))
    return X, labels, targets, seed


# The one ValueError valid data may raise: divergence, with what to do about it.
DIVERGED = re.compile(
    r"(became non-finite \(inf or NaN\)|outputs reached \S+, more than \S+ times the "
    r"targets' scale,) at epoch \d+: training diverged\. Try a smaller learning_rate_init, "
    r"or scale the inputs"
)


def _fit_or_diverge(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", DataConversionWarning)
        try:
            model.fit(X, y)
        except ValueError as error:
            assert DIVERGED.search(str(error)), f"unexpected error: {error}"
            event("diverged")
            return None
    event("fitted")
    return model


# derandomize: the same examples on every run, so the suite stays deterministic.
FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
PARAMS = dict(hidden_layer_sizes=(4,), max_iter=5)
LAYER_OPTIONS = st.sampled_from(
    [
        {},
        {"batch_normalization": True},
        {"residual": True, "hidden_layer_sizes": (4, 4)},
        {"batch_normalization": True, "residual": True, "hidden_layer_sizes": (4, 4)},
    ]
)


@FUZZ
@given(
    datasets(),
    st.sampled_from(["sgd", "momentum", "adam"]),
    st.sampled_from(["relu", "logistic", "tanh"]),
    LAYER_OPTIONS,
)
def test_classifier_fits_or_explains(data, solver, activation, layers):
    X, labels, _, seed = data
    params = {**PARAMS, **layers}
    model = BackpropClassifier(solver=solver, activation=activation, random_state=seed, **params)
    if _fit_or_diverge(model, X, labels) is None:
        return
    proba = model.predict_proba(X)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert set(model.predict(X)) <= set(model.classes_)


@FUZZ
@given(datasets(), st.sampled_from(["sgd", "momentum", "adam"]), LAYER_OPTIONS)
def test_regressor_fits_or_explains(data, solver, layers):
    X, labels, targets, seed = data
    y = {
        "labels": labels.astype(float),
        "constant": np.full(len(labels), 3.0),
        "huge": labels * 1e30,
        "tiny": labels * 1e-300,
    }[targets]
    model = BackpropRegressor(solver=solver, random_state=seed, **{**PARAMS, **layers})
    if _fit_or_diverge(model, X, y) is None:
        return
    assert np.isfinite(model.predict(X)).all()
