"""BackpropRegressor's absolute error, Huber and quantile losses, through the estimator.

The losses' values and gradients are checked in test_losses.py; here, what a user
fits with them: scikit-learn's QuantileRegressor reached, intervals that cover what
they claim, sorted levels, the score, persistence and the ONNX export.
"""

import pickle

import numpy as np
import pytest
from helpers import quiet_fit
from sklearn.linear_model import QuantileRegressor
from sklearn.metrics import mean_pinball_loss, r2_score

from skbackprop import BackpropRegressor

rng = np.random.default_rng(0)
# Heteroscedastic: the noise grows with |x1|, so the quantiles fan out.
X = rng.uniform(-2, 2, size=(2400, 2))
y = X[:, 0] + rng.normal(size=len(X)) * (0.3 + np.abs(X[:, 1]))
X_train, y_train, X_test, y_test = X[:1600], y[:1600], X[1600:], y[1600:]
LEVELS = (0.05, 0.5, 0.95)
LINEAR = dict(
    hidden_layer_sizes=(),
    l2=0,
    learning_rate_init=0.01,
    learning_rate="cosine",
    max_iter=150,
    n_iter_no_change=200,
    random_state=0,
)


@pytest.mark.parametrize("level", [0.1, 0.5, 0.9])
def test_no_hidden_layer_reaches_quantile_regressors_pinball_loss(level):
    """A linear model trained on the pinball loss: QuantileRegressor(alpha=0)'s optimum."""
    linear = QuantileRegressor(quantile=level, alpha=0, solver="highs").fit(X_train, y_train)
    theirs = mean_pinball_loss(y_train, linear.predict(X_train), alpha=level)
    model = quiet_fit(
        BackpropRegressor(loss="quantile", quantile=level, **LINEAR), X_train, y_train
    )
    ours = mean_pinball_loss(y_train, model.predict(X_train), alpha=level)
    assert ours <= 1.01 * theirs


def _interval_model(**params):
    model = BackpropRegressor(
        (64, 64),
        loss="quantile",
        quantile=LEVELS,
        learning_rate_init=0.01,
        max_iter=60,
        random_state=0,
        **params,
    )
    return quiet_fit(model, X_train, y_train)


def test_held_out_coverage_is_each_level_within_0_03():
    predictions = _interval_model().predict(X_test)
    assert predictions.shape == (len(X_test), 3)
    for column, level in enumerate(LEVELS):
        coverage = np.mean(y_test <= predictions[:, column])
        assert abs(coverage - level) <= 0.03, (level, coverage)
    # The band is wider where the noise is: the fan the data has.
    width = predictions[:, 2] - predictions[:, 0]
    noisy, quiet = np.abs(X_test[:, 1]) > 1.5, np.abs(X_test[:, 1]) < 0.5
    assert width[noisy].mean() > 2 * width[quiet].mean()


def test_levels_come_back_in_the_given_order_and_never_cross():
    model = BackpropRegressor(
        (8,), loss="quantile", quantile=(0.9, 0.1, 0.5), max_iter=20, random_state=0
    )
    quiet_fit(model, X_train, y_train)
    model.coefs_[-1][:, 0] *= -1  # make the 0.9 output cross the others
    predictions = model.predict(X_test)
    assert np.all(predictions[:, 0] >= predictions[:, 2])
    assert np.all(predictions[:, 2] >= predictions[:, 1])
    # Sorting only reorders each row's values.
    raw = model._forward(X_test)
    np.testing.assert_array_equal(np.sort(raw, axis=1), np.sort(predictions, axis=1))


def test_several_targets_give_each_targets_levels_in_turn():
    Y = np.column_stack([y_train, -2 * y_train])
    model = BackpropRegressor((16,), loss="quantile", quantile=(0.2, 0.8), max_iter=30)
    model = quiet_fit(model.set_params(random_state=0), X_train, Y)
    predictions = model.predict(X_test)
    assert model.n_outputs_ == 4 and predictions.shape == (len(X_test), 4)
    assert np.all(predictions[:, 0] <= predictions[:, 1])  # target 0: 0.2 then 0.8
    assert np.all(predictions[:, 2] <= predictions[:, 3])  # target 1


def test_score_is_the_r2_of_the_level_nearest_the_median():
    model = _interval_model()
    median = model.predict(X_test)[:, 1]
    assert model.score(X_test, y_test) == pytest.approx(r2_score(y_test, median))


def test_early_stopping_watches_that_score():
    model = _interval_model(early_stopping=True, n_iter_no_change=5)
    assert len(model.validation_scores_) == model.n_iter_
    assert model.best_validation_score_ == max(model.validation_scores_)


@pytest.mark.parametrize(
    "quantile", [(0.5, 0.5), (0.0, 0.5), (0.5, 1.0), (), ("a",), (0.5, True), 1.5], ids=str
)
def test_bad_levels_name_quantile(quantile):
    model = BackpropRegressor(loss="quantile", quantile=quantile, max_iter=2)
    with pytest.raises(ValueError, match="quantile"):
        model.fit(X_train, y_train)


def test_absolute_error_without_hidden_layer_is_the_median_regression():
    """Mean |r| and the 0.5 pinball loss have the same minimiser."""
    linear = QuantileRegressor(quantile=0.5, alpha=0, solver="highs").fit(X_train, y_train)
    model = quiet_fit(BackpropRegressor(loss="absolute_error", **LINEAR), X_train, y_train)
    np.testing.assert_allclose(model.coefs_[0].ravel(), linear.coef_, atol=0.03)


@pytest.mark.parametrize("loss", ["absolute_error", "huber"])
def test_robust_losses_shrug_off_outliers_that_pull_the_squared_error(loss):
    noisy = y_train.copy()
    noisy[::20] += 200  # 5% of the targets far off
    settings = dict(hidden_layer_sizes=(), l2=0, learning_rate_init=0.05, max_iter=100)
    squared = quiet_fit(BackpropRegressor(random_state=0, **settings), X_train, noisy)
    robust = quiet_fit(BackpropRegressor(loss=loss, random_state=0, **settings), X_train, noisy)
    clean = X_test[:, 0]  # the noise-free signal
    robust_error = np.mean((robust.predict(X_test) - clean) ** 2)
    assert robust_error < 0.2 * np.mean((squared.predict(X_test) - clean) ** 2)


def test_a_huge_huber_delta_is_the_squared_error():
    """Below the kink Huber is 0.5 r**2, our squared error for one output."""
    common = dict(hidden_layer_sizes=(), max_iter=5, random_state=0)
    huge = quiet_fit(BackpropRegressor(loss="huber", huber_delta=1e6, **common), X_train, y_train)
    squared = quiet_fit(BackpropRegressor(**common), X_train, y_train)
    np.testing.assert_allclose(huge.coefs_[0], squared.coefs_[0], rtol=1e-12)


PERSISTED = [
    dict(loss="absolute_error"),
    dict(loss="huber", huber_delta=0.5),
    dict(loss="quantile", quantile=LEVELS),
]


@pytest.mark.parametrize("params", PERSISTED, ids=["absolute_error", "huber", "levels"])
def test_pickle_and_skops_round_trips(params, tmp_path):
    model = BackpropRegressor((8,), max_iter=5, random_state=0, **params)
    model = quiet_fit(model, X_train, y_train)
    expected = model.predict(X_test)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X_test), expected)
    sio = pytest.importorskip("skops.io")
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    restored = sio.load(path, trusted=["skbackprop._estimators.BackpropRegressor"])
    np.testing.assert_array_equal(restored.predict(X_test), expected)


@pytest.mark.parametrize("n_targets", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_onnx_exports_the_sorted_levels(n_targets, dtype):
    onnxruntime = pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from skbackprop.onnx import register_converters

    register_converters()
    Y = y_train if n_targets == 1 else np.column_stack([y_train, -y_train])
    model = BackpropRegressor((8,), loss="quantile", quantile=(0.9, 0.1, 0.5), max_iter=5)
    model = quiet_fit(model.set_params(random_state=0), X_train.astype(dtype), Y)
    model.coefs_[-1][:, 0] *= -1  # crossing outputs: the export must sort them too
    graph = skl2onnx.to_onnx(model, X_test[:1].astype(dtype))
    session = onnxruntime.InferenceSession(
        graph.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    (output,) = session.run(None, {session.get_inputs()[0].name: X_test.astype(dtype)})
    np.testing.assert_allclose(output, model.predict(X_test.astype(dtype)), rtol=1e-5, atol=1e-5)


# -- the edges of several levels (issue 23) -----------------------------------------


def test_levels_reordered_between_warm_starts_are_followed_by_predict():
    model = BackpropRegressor(loss="quantile", quantile=(0.1, 0.9), max_iter=50, random_state=0)
    model = quiet_fit(model.set_params(warm_start=True), X_train, y_train)
    low_high = model.predict(X_test)
    assert (low_high[:, 0] <= low_high[:, 1]).all()
    quiet_fit(model.set_params(quantile=(0.9, 0.1), max_iter=2), X_train, y_train)
    high_low = model.predict(X_test)
    assert (high_low[:, 0] >= high_low[:, 1]).all()  # column 0 is the 0.9 level now
    model.partial_fit(X_train, y_train)
    assert (model.predict(X_test)[:, 0] >= model.predict(X_test)[:, 1]).all()


def test_a_changed_number_of_levels_names_quantile_and_keeps_the_model():
    model = BackpropRegressor(loss="quantile", quantile=(0.1, 0.9), max_iter=5, warm_start=True)
    model = quiet_fit(model, X_train, y_train)
    before = model.predict(X_test)
    with pytest.raises(ValueError, match=r"quantile=\(0.1, 0.5, 0.9\) has 3 level\(s\)"):
        model.set_params(quantile=(0.1, 0.5, 0.9)).fit(X_train, y_train)
    np.testing.assert_array_equal(model.predict(X_test), before)


def test_a_zero_dimensional_array_is_one_level():
    model = quiet_fit(
        BackpropRegressor(loss="quantile", quantile=np.array(0.9), **LINEAR), X_train, y_train
    )
    plain = quiet_fit(BackpropRegressor(loss="quantile", quantile=0.9, **LINEAR), X_train, y_train)
    np.testing.assert_array_equal(model.predict(X_test), plain.predict(X_test))


@pytest.mark.parametrize(
    "params",
    [
        dict(loss="quantile", quantile={0.1, 0.9}),
        dict(loss="quantile", quantile=frozenset({0.1, 0.9})),
        dict(hidden_layer_sizes=(4, 4), activation={"relu", "tanh"}),
        dict(hidden_layer_sizes=(4, 4), dropout={0.1, 0.2}),
        dict(hidden_layer_sizes={4, 5}),
    ],
    ids=["quantile", "frozenset", "activation", "dropout", "hidden_layer_sizes"],
)
def test_sets_are_refused_for_their_order_is_not_defined(params):
    (name,) = [key for key in params if key != "loss" and isinstance(params[key], set | frozenset)]
    with pytest.raises(ValueError, match=f"{name} must be a list or tuple .* not defined"):
        BackpropRegressor(max_iter=2, **params).fit(X_train, y_train)


@pytest.mark.parametrize("scoring", ["neg_mean_absolute_error", "r2"])
def test_early_stopping_scores_the_median_level_with_a_metric(scoring):
    """A metric compares one prediction per target with y: that of the level nearest 0.5."""
    model = _interval_model(early_stopping=True, n_iter_no_change=5, scoring=scoring)
    assert len(model.validation_scores_) == model.n_iter_
    _, validation = model._validation_rows(y_train, model._seed())
    X_val, y_val = X_train[validation], y_train[validation]
    median = model.predict(X_val)[:, 1]
    assert model.predict(X_val).shape == (len(X_val), 3)  # the model predicts every level
    metric = {"neg_mean_absolute_error": lambda: -np.mean(np.abs(y_val - median))}
    metric["r2"] = lambda: r2_score(y_val, median)
    assert model.best_validation_score_ == pytest.approx(metric[scoring](), rel=1e-12)
