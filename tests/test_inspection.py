"""skbackprop.inspection: input gradients, integrated gradients and MC-dropout."""

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import assert_same_weights, quiet_fit
from sklearn.datasets import load_iris, make_regression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, PolynomialFeatures, StandardScaler

from skbackprop import BackpropClassifier, BackpropRegressor
from skbackprop._activations import HIDDEN_ACTIVATIONS
from skbackprop.inspection import input_gradients, integrated_gradients, predictive_draws

X_iris, y_iris = load_iris(return_X_y=True)
X_iris = (X_iris - X_iris.mean(axis=0)) / X_iris.std(axis=0)
X_reg, y_reg = make_regression(n_samples=120, n_features=5, n_targets=2, random_state=0)
X_reg, y_reg = X_reg / X_reg.std(), y_reg / y_reg.std()
EPS = 1e-6


def _numeric_gradient(function, X):
    """Central differences of ``function`` (one value per row) with respect to each feature."""
    numeric = np.empty_like(X)
    for feature in range(X.shape[1]):
        step = np.zeros(X.shape[1])
        step[feature] = EPS
        numeric[:, feature] = (function(X + step) - function(X - step)) / (2 * EPS)
    return numeric


# Every output kind: softmax, binary and multilabel logistic, identity (two targets), exp.
TARGETS = {
    "multiclass": (BackpropClassifier, y_iris),
    "binary": (BackpropClassifier, np.array(["a", "b"])[(y_iris > 0).astype(int)]),
    "multilabel": (BackpropClassifier, np.column_stack([y_iris > 0, y_iris > 1]).astype(int)),
    "regression": (BackpropRegressor, np.column_stack([X_iris[:, 0], X_iris[:, 1] ** 2])),
    "poisson": (BackpropRegressor, np.round(np.exp(X_iris[:, 2]))),
}
LAYERS = {
    "plain": {},
    "batch normalization": dict(batch_normalization=True),
    "residual": dict(residual=True),
    "both": dict(batch_normalization=True, residual=True),
}


def _fitted(kind, activation="tanh", layers="plain", **params):
    Estimator, y = TARGETS[kind]
    extra = {"loss": "poisson"} if kind == "poisson" else {}
    model = Estimator(
        (6, 6), activation=activation, max_iter=20, random_state=0, **LAYERS[layers], **extra
    )
    return quiet_fit(model.set_params(**params), X_iris, y)


def _output(model, column):
    if isinstance(model, BackpropClassifier):
        return lambda X: model.predict_proba(X)[:, column]
    return lambda X: model.predict(X).reshape(len(X), -1)[:, column]


@pytest.mark.parametrize("activation", sorted(HIDDEN_ACTIVATIONS))
@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_gradients_are_finite_differences_of_the_predictions(kind, activation):
    model = _fitted(kind, activation)
    column = 1 if kind != "poisson" else 0
    target = model.classes_[column] if kind in ("multiclass", "binary") else column
    analytic = input_gradients(model, X_iris[:8], target=target)
    numeric = _numeric_gradient(_output(model, column), X_iris[:8])
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("layers", sorted(LAYERS))
@pytest.mark.parametrize("activation", ["relu", "gelu", "logistic"])
def test_gradients_through_batch_normalization_and_residual_layers(layers, activation):
    model = _fitted("multiclass", activation, layers)
    analytic = input_gradients(model, X_iris[::15], target=2)
    numeric = _numeric_gradient(_output(model, 2), X_iris[::15])
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_the_default_target_is_each_rows_predicted_class_and_binary_class_0_is_1_minus_p():
    model = _fitted("multiclass")
    predicted = model.predict(X_iris)
    by_default = input_gradients(model, X_iris)
    for label in model.classes_:
        rows = predicted == label
        np.testing.assert_array_equal(
            by_default[rows], input_gradients(model, X_iris[rows], target=label)
        )
    binary = _fitted("binary")
    np.testing.assert_allclose(
        input_gradients(binary, X_iris, target="a"), -input_gradients(binary, X_iris, target="b")
    )


def test_gradients_match_pytorch_autograd_on_the_same_weights():
    torch = pytest.importorskip("torch")
    model = _fitted("multiclass", "tanh")
    x = torch.tensor(X_iris[:10], requires_grad=True)
    a = x
    for index, (W, b) in enumerate(zip(model.coefs_, model.intercepts_, strict=True)):
        z = a @ torch.tensor(W) + torch.tensor(b)
        a = torch.tanh(z) if index < len(model.coefs_) - 1 else torch.softmax(z, dim=1)
    a[:, 1].sum().backward()
    np.testing.assert_allclose(
        input_gradients(model, X_iris[:10], target=1), x.grad.numpy(), rtol=1e-10, atol=1e-14
    )


@pytest.mark.parametrize("Scaler", [StandardScaler, MinMaxScaler, MaxAbsScaler])
def test_a_pipeline_of_scalers_is_differentiated_to_its_own_inputs(Scaler):
    raw = X_iris * [3.0, 0.5, 10.0, 2.0] + [5.0, -1.0, 0.0, 2.0]
    pipeline = quiet_fit(
        make_pipeline(Scaler(), StandardScaler(), BackpropClassifier((8,), max_iter=20)),
        raw,
        y_iris,
    )
    analytic = input_gradients(pipeline, raw[:6], target=0)
    numeric = _numeric_gradient(lambda X: pipeline.predict_proba(X)[:, 0], raw[:6])
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-9)


def test_any_other_step_is_named_with_what_to_do():
    pipeline = quiet_fit(
        make_pipeline(PolynomialFeatures(2), BackpropClassifier((4,), max_iter=5)), X_iris, y_iris
    )
    with pytest.raises(ValueError, match="'polynomialfeatures'.*pipeline\\[:-1\\].transform"):
        input_gradients(pipeline, X_iris)
    with pytest.raises(ValueError, match="polynomialfeatures"):
        integrated_gradients(pipeline, X_iris)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sparse", [False, True])
def test_sparse_and_float32_inputs(dtype, sparse):
    X = X_iris.astype(dtype)
    model = quiet_fit(BackpropClassifier((8,), max_iter=10, random_state=0), X, y_iris)
    X_in = sp.csr_matrix(X) if sparse else X
    gradients = input_gradients(model, X_in, target=0)
    assert gradients.shape == X.shape and gradients.dtype == dtype
    dense = input_gradients(model, X, target=0)  # sparse products round differently
    np.testing.assert_allclose(gradients, dense, rtol=1e-4 if dtype == np.float32 else 1e-10)
    attributions = integrated_gradients(model, X_in, n_steps=10)
    assert attributions.shape == X.shape and attributions.dtype == dtype


def test_regressor_targets_and_errors():
    model = quiet_fit(BackpropRegressor((8,), max_iter=10, random_state=0), X_reg, y_reg)
    assert input_gradients(model, X_reg[:3], target=1).shape == (3, 5)
    with pytest.raises(ValueError, match="2 outputs: say which with target"):
        input_gradients(model, X_reg[:3])
    with pytest.raises(ValueError, match="target must be an output index"):
        input_gradients(model, X_reg[:3], target=2)
    with pytest.raises(ValueError, match="not one of classes_"):
        input_gradients(_fitted("multiclass"), X_iris[:3], target=7)
    with pytest.raises(TypeError, match="BackpropClassifier and BackpropRegressor"):
        input_gradients(StandardScaler().fit(X_iris), X_iris)


# -- integrated gradients ---------------------------------------------------------


@pytest.mark.parametrize("activation, tolerance", [("tanh", 0.01), ("logistic", 0.01)])
@pytest.mark.parametrize("kind", ["multiclass", "binary", "regression"])
def test_completeness_within_1_percent_for_smooth_activations(kind, activation, tolerance):
    model = _fitted(kind, activation)
    target = None if kind != "regression" else 0
    result = integrated_gradients(model, X_iris, target=target, return_gap=True)
    change = np.abs(result.outputs - result.baseline_outputs)
    np.testing.assert_allclose(
        result.attributions.sum(axis=1) - result.gap, result.outputs - result.baseline_outputs
    )
    assert np.all(np.abs(result.gap) <= tolerance * change + 1e-12)


def test_relus_kinks_cost_a_few_percent_and_more_steps_close_the_gap():
    model = _fitted("multiclass", "relu")
    coarse = integrated_gradients(model, X_iris, return_gap=True)
    fine = integrated_gradients(model, X_iris, n_steps=400, return_gap=True)
    change = np.abs(coarse.outputs - coarse.baseline_outputs)
    assert np.median(np.abs(coarse.gap) / change) < 0.05
    assert np.abs(fine.gap).mean() < np.abs(coarse.gap).mean()


def test_batches_and_baselines():
    model = _fitted("multiclass")
    whole = integrated_gradients(model, X_iris, n_steps=20)
    np.testing.assert_allclose(integrated_gradients(model, X_iris, n_steps=20, batch_size=7), whole)
    # A baseline equal to the row explains nothing away: zero attributions.
    np.testing.assert_array_equal(integrated_gradients(model, X_iris[:3], baseline=X_iris[:3]), 0)
    # One row broadcasts; zeros is the default.
    np.testing.assert_allclose(
        integrated_gradients(model, X_iris, baseline=np.zeros(4), n_steps=20), whole
    )


def test_a_pipelines_default_baseline_is_where_the_network_sees_zeros():
    """Behind a StandardScaler, zeros in the network's input: the training mean."""
    raw = X_iris * 3 + 5
    pipeline = quiet_fit(
        make_pipeline(StandardScaler(), BackpropClassifier((8,), activation="tanh", max_iter=20)),
        raw,
        y_iris,
    )
    default = integrated_gradients(pipeline, raw[:5], return_gap=True)
    at_mean = integrated_gradients(pipeline, raw[:5], baseline=raw.mean(axis=0))
    np.testing.assert_allclose(default.attributions, at_mean, rtol=1e-10)
    np.testing.assert_allclose(
        default.baseline_outputs,
        pipeline.predict_proba(raw.mean(axis=0, keepdims=True))[
            0, default_columns(pipeline, raw[:5])
        ],
    )


def default_columns(pipeline, X):
    return np.argmax(pipeline.predict_proba(X), axis=1)


# -- MC-dropout -------------------------------------------------------------------


def _dropout_regressor(**params):
    params = {"random_state": 0, **params}
    model = BackpropRegressor((32, 32), dropout=0.2, max_iter=30, **params)
    return quiet_fit(model, X_reg, y_reg[:, 0])


def test_draws_are_reproducible_and_leave_the_model_as_it_was():
    model = _dropout_regressor()
    before = {name: value for name, value in vars(model).items() if name != "_predicting_network"}
    prediction = model.predict(X_reg)
    first = predictive_draws(model, X_reg, n_draws=30, random_state=0)
    assert first.shape == (30, len(X_reg))
    np.testing.assert_array_equal(predictive_draws(model, X_reg, n_draws=30, random_state=0), first)
    assert not np.array_equal(predictive_draws(model, X_reg, n_draws=30, random_state=1), first)
    assert first.std(axis=0).min() > 0  # the masks did differ
    np.testing.assert_array_equal(model.predict(X_reg), prediction)
    assert model._rng_state == before["_rng_state"]
    continued, fresh = _dropout_regressor(warm_start=True), _dropout_regressor(warm_start=True)
    predictive_draws(continued, X_reg, random_state=0)
    quiet_fit(continued, X_reg, y_reg[:, 0])
    quiet_fit(fresh, X_reg, y_reg[:, 0])
    assert_same_weights(continued, fresh)  # its random stream went on untouched


def test_predict_with_return_std_is_the_draws_mean_and_spread():
    model = _dropout_regressor()
    mean, std = model.predict(X_reg, return_std=True)
    draws = predictive_draws(model, X_reg, n_draws=100, random_state=0)
    np.testing.assert_allclose(mean, draws.mean(axis=0))
    np.testing.assert_allclose(std, draws.std(axis=0))
    assert np.corrcoef(mean, model.predict(X_reg))[0, 1] > 0.95


def test_classifier_draws_are_probabilities():
    model = quiet_fit(
        BackpropClassifier((16,), dropout=0.3, max_iter=20, random_state=0), X_iris, y_iris
    )
    draws = predictive_draws(model, X_iris, n_draws=10, random_state=0)
    assert draws.shape == (10, len(X_iris), 3)
    np.testing.assert_allclose(draws.sum(axis=2), 1.0)


def test_without_dropout_both_name_dropout():
    model = quiet_fit(BackpropRegressor((8,), max_iter=5, random_state=0), X_reg, y_reg[:, 0])
    with pytest.raises(ValueError, match="dropout=0.0"):
        predictive_draws(model, X_reg)
    with pytest.raises(ValueError, match="dropout"):
        model.predict(X_reg, return_std=True)


def test_mc_dropout_widens_its_band_where_the_training_data_has_a_gap():
    """The issue's target: in the middle of a gap, at least twice the spread on the data."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-3, -1, 300), rng.uniform(1, 3, 300)])
    y = np.sin(2 * x) + rng.normal(scale=0.1, size=len(x))
    model = BackpropRegressor(
        (64, 64, 64),
        activation="gelu",
        dropout=0.2,
        learning_rate_init=0.01,
        max_iter=300,
        n_iter_no_change=300,
        random_state=0,
    )
    quiet_fit(model, x.reshape(-1, 1), y)
    draws = predictive_draws(model, np.linspace(-3, 3, 61).reshape(-1, 1), random_state=0)
    spread, grid = draws.std(axis=0), np.linspace(-3, 3, 61)
    gap, data = np.abs(grid) < 0.4, np.abs(grid) > 1.2
    assert spread[gap].mean() >= 2 * spread[data].mean()


# -- the edges of 0.3 (issue 23) -----------------------------------------------------


def _crossing_levels_model():
    """Three levels fitted briefly on noise: their raw outputs cross on many rows."""
    noise = np.random.default_rng(0).normal(size=len(X_iris))
    model = BackpropRegressor(
        (8,), loss="quantile", quantile=(0.9, 0.1, 0.5), activation="tanh", max_iter=3
    )
    return quiet_fit(model.set_params(random_state=0), X_iris, noise)


def test_gradients_of_sorted_levels_are_those_of_predicts_columns():
    model = _crossing_levels_model()
    X = X_iris[::15]
    raw = model._network().predict(X)
    assert (np.argsort(raw, axis=1) != np.argsort(model.predict(X), axis=1)).any(axis=1).sum() > 2
    for column in range(3):
        numeric = _numeric_gradient(_output(model, column), X)
        analytic = input_gradients(model, X, target=column)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


def test_integrated_gradients_of_sorted_levels_add_up_to_predicts_change():
    model = _crossing_levels_model()
    result = integrated_gradients(model, X_iris[::15], target=0, n_steps=400, return_gap=True)
    predicted = model.predict(X_iris[::15])[:, 0]
    np.testing.assert_allclose(result.outputs, predicted, rtol=1e-12)
    baseline = model.predict(np.zeros((1, 4)))[0, 0]
    np.testing.assert_allclose(result.baseline_outputs, baseline, rtol=1e-12)
    change = np.abs(predicted - baseline)
    assert (np.abs(result.gap) <= 0.01 * change + 1e-9).all()


def test_mc_dropout_takes_sparse_rows():
    model = _dropout_regressor()
    sparse = sp.csr_matrix(X_reg[:10])
    np.testing.assert_allclose(  # the same masks; sparse products round differently
        predictive_draws(model, sparse, n_draws=5, random_state=0),
        predictive_draws(model, X_reg[:10], n_draws=5, random_state=0),
        rtol=1e-12,
    )
    mean, std = model.predict(sparse, return_std=True)
    dense_mean, dense_std = model.predict(X_reg[:10], return_std=True)
    np.testing.assert_allclose(mean, dense_mean, rtol=1e-12)
    np.testing.assert_allclose(std, dense_std, rtol=1e-9)


def test_a_clipping_scaler_is_refused_naming_it():
    pipeline = make_pipeline(MinMaxScaler(clip=True), BackpropClassifier(max_iter=5))
    quiet_fit(pipeline, X_iris, y_iris)
    for explain in (input_gradients, integrated_gradients):
        with pytest.raises(ValueError, match=r"MinMaxScaler\(clip=True\).* clip=False"):
            explain(pipeline, X_iris[:3], target=0)


@pytest.mark.parametrize(
    "baseline, message",
    [
        (np.zeros(3), r"baseline must be numbers broadcastable to X's shape \(5, 4\)"),
        (np.zeros((2, 4)), "baseline must be numbers broadcastable"),
        ("zeros", "baseline must be numbers broadcastable"),
        (np.array([0, np.nan, 0, 0]), "baseline has NaN or infinite values"),
        (np.array([0, np.inf, 0, 0]), "baseline has NaN or infinite values"),
    ],
)
def test_a_bad_baseline_is_named(baseline, message):
    model = _fitted("multiclass")
    with pytest.raises(ValueError, match=message):
        integrated_gradients(model, X_iris[:5], baseline=baseline)


def test_return_std_leaves_a_random_state_instance_as_it_was():
    model = _dropout_regressor(random_state=np.random.RandomState(0))
    before = model.random_state.get_state()[1].copy()
    first = model.predict(X_reg[:5], return_std=True)
    np.testing.assert_array_equal(model.random_state.get_state()[1], before)
    second = model.predict(X_reg[:5], return_std=True)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_dataframe_pipelines_baseline_keeps_the_feature_names():
    import warnings

    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X_iris, columns=["a", "b", "c", "d"])
    pipeline = quiet_fit(
        make_pipeline(StandardScaler(), BackpropClassifier(max_iter=5)), frame, y_iris
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        attributions = integrated_gradients(pipeline, frame[:3], baseline=frame.mean().values)
        assert attributions.shape == (3, 4)
    bare = quiet_fit(BackpropClassifier(max_iter=5), frame, y_iris)  # fitted on a DataFrame
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert integrated_gradients(bare, frame[:3]).shape == (3, 4)
        assert input_gradients(bare, frame[:3]).shape == (3, 4)


@pytest.mark.parametrize("network_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("X_dtype", [np.float32, np.float64])
def test_both_functions_answer_in_the_networks_precision(network_dtype, X_dtype):
    model = BackpropClassifier((6,), dtype=np.dtype(network_dtype).name, max_iter=5)
    pipeline = quiet_fit(make_pipeline(StandardScaler(), model), X_iris, y_iris)
    X = X_iris[:4].astype(X_dtype)
    for explained in (pipeline, model):
        assert input_gradients(explained, X, target=0).dtype == network_dtype
        result = integrated_gradients(explained, X, return_gap=True)
        assert result.attributions.dtype == result.gap.dtype == network_dtype


# -- Gauss-Legendre along the path (issue 23) ------------------------------------------


def _digits_tanh():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16
    model = BackpropClassifier((32,), activation="tanh", max_iter=60, random_state=0)
    return quiet_fit(model, X, y), X


def test_gauss_legendre_is_complete_within_a_hundredth_of_a_percent_at_50_steps():
    model, X = _digits_tanh()
    rows = X[:100]
    for method, tolerance, at_least in [("gausslegendre", 1e-4, 95), ("trapezoid", 1e-3, 50)]:
        result = integrated_gradients(model, rows, method=method, return_gap=True)
        change = np.abs(result.outputs - result.baseline_outputs)
        assert (np.abs(result.gap) <= tolerance * change).sum() >= at_least, method
    trapezoid = integrated_gradients(model, rows, method="trapezoid", return_gap=True)
    gauss = integrated_gradients(model, rows, return_gap=True)  # the default
    assert np.median(np.abs(gauss.gap)) < np.median(np.abs(trapezoid.gap)) / 100


def test_the_rules_weights_and_nodes():
    from skbackprop._attribution import _path_rule

    alphas, weights = _path_rule("gausslegendre", 3)
    # Three-point Gauss-Legendre on [0, 1]: 1/2 -+ sqrt(3/5)/2, weights 5/18, 8/18, 5/18.
    np.testing.assert_allclose(alphas, [0.5 - np.sqrt(0.15), 0.5, 0.5 + np.sqrt(0.15)])
    np.testing.assert_allclose(weights, [5 / 18, 8 / 18, 5 / 18])
    alphas, weights = _path_rule("trapezoid", 4)
    np.testing.assert_array_equal(alphas, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_array_equal(weights, [0.125, 0.25, 0.25, 0.25, 0.125])
    with pytest.raises(ValueError, match="method must be one of gausslegendre, trapezoid"):
        integrated_gradients(_fitted("multiclass"), X_iris[:2], method="riemann")


@pytest.mark.parametrize("method", ["gausslegendre", "trapezoid"])
def test_integrated_gradients_match_captums_on_the_same_weights(method):
    """captum's IntegratedGradients on a PyTorch copy of the network, float64, same rule."""
    torch = pytest.importorskip("torch")
    captum_attr = pytest.importorskip("captum.attr")
    model, X = _digits_tanh()
    rows = X[:20]
    layers = [
        torch.nn.Linear(64, 32).double(),
        torch.nn.Tanh(),
        torch.nn.Linear(32, 10).double(),
        torch.nn.Softmax(dim=1),
    ]
    with torch.no_grad():
        for linear, coef, intercept in zip(
            layers[::2], model.coefs_, model.intercepts_, strict=True
        ):
            linear.weight.copy_(torch.tensor(coef.T))
            linear.bias.copy_(torch.tensor(intercept))
    network = torch.nn.Sequential(*layers)
    targets = model.predict(rows)
    captum_method = {"gausslegendre": "gausslegendre", "trapezoid": "riemann_trapezoid"}[method]
    theirs = captum_attr.IntegratedGradients(network).attribute(
        torch.tensor(rows),
        baselines=torch.zeros(1, 64, dtype=torch.float64),
        target=torch.tensor(targets),
        n_steps=50,
        method=captum_method,
    )
    theirs = theirs.detach().numpy()
    ours = integrated_gradients(model, rows, n_steps=50, method=method)
    tolerance = 1e-8
    if method == "trapezoid":
        # captum's trapezoid uses 50 points on 49 intervals, with weights summing to 49/50,
        # and takes its points from a float32 linspace (1e-8 off in alpha).
        ours = integrated_gradients(model, rows, n_steps=49, method=method) * 49 / 50
        tolerance = 1e-7
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=tolerance)
