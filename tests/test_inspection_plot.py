"""AttributionDisplay and PredictionBandDisplay draw what skbackprop.inspection computes."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib", reason="needs the plot extra")
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from helpers import quiet_fit
from sklearn.datasets import load_digits, load_iris

from skbackprop import BackpropClassifier, BackpropRegressor
from skbackprop.inspection import (
    AttributionDisplay,
    PredictionBandDisplay,
    integrated_gradients,
    predictive_draws,
)

X, y = load_iris(return_X_y=True)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_bars_are_the_mean_absolute_attributions_largest_on_top():
    model = quiet_fit(BackpropClassifier((8,), max_iter=50, random_state=0), X, y)
    _, ax = plt.subplots()
    display = AttributionDisplay.from_estimator(model, X, max_features=3, ax=ax)
    expected = np.abs(integrated_gradients(model, X)).mean(axis=0)
    np.testing.assert_allclose(display.importances_, expected)
    widths = [bar.get_width() for bar in display.bars_]
    assert len(widths) == 3 and widths == sorted(widths)  # barh: the largest drawn last, on top
    assert widths[-1] == expected.max() and display.ax_ is ax


def test_a_dataframes_columns_name_the_bars():
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(X, columns=["sepal length", "sepal width", "petal length", "petal w"])
    model = quiet_fit(BackpropClassifier((8,), max_iter=50, random_state=0), frame, y)
    display = AttributionDisplay.from_estimator(model, frame)
    labels = {label.get_text() for label in display.ax_.get_yticklabels()}
    assert labels == set(frame.columns)


def test_image_shaped_features_draw_each_row_and_its_map():
    digits_X, digits_y = load_digits(return_X_y=True)
    model = quiet_fit(
        BackpropClassifier((32,), max_iter=20, random_state=0), digits_X / 16, digits_y
    )
    display = AttributionDisplay.from_estimator(model, digits_X[:5] / 16, image_shape=(8, 8))
    assert display.ax_.shape == (2, 5) and display.bars_ is None
    shown = display.ax_[1, 0].get_images()[0].get_array()
    np.testing.assert_allclose(shown, integrated_gradients(model, digits_X[:1] / 16).reshape(8, 8))


def test_mc_dropout_band_against_one_feature():
    x = np.linspace(-2, 2, 150).reshape(-1, 1)
    target = x.ravel() ** 2
    model = BackpropRegressor((32,), dropout=0.2, max_iter=30, random_state=0)
    model = quiet_fit(model, x, target)
    display = PredictionBandDisplay.from_estimator(model, x, y=target, n_draws=40, random_state=0)
    draws = predictive_draws(model, x, n_draws=40, random_state=0)
    np.testing.assert_allclose(display.upper, np.quantile(draws, 0.95, axis=0))
    assert np.all(display.lower <= display.upper) and display.points_ is not None
    assert "MC-dropout" in display.band_.get_label()


def test_a_quantile_model_draws_its_own_levels():
    x = np.linspace(-2, 2, 150).reshape(-1, 1)
    model = BackpropRegressor((16,), loss="quantile", quantile=(0.9, 0.5, 0.1), max_iter=20)
    model = quiet_fit(model.set_params(random_state=0), x, x.ravel())
    display = PredictionBandDisplay.from_estimator(model, x)
    predictions = model.predict(x)
    np.testing.assert_array_equal(display.lower, predictions[:, 2])  # the 0.1 level
    np.testing.assert_array_equal(display.upper, predictions[:, 0])  # the 0.9 level
    assert "quantiles 0.1 to 0.9" in display.band_.get_label()


def test_a_band_needs_dropout_or_quantile_levels():
    model = quiet_fit(BackpropRegressor((8,), max_iter=5, random_state=0), X, y.astype(float))
    with pytest.raises(ValueError, match="dropout"):
        PredictionBandDisplay.from_estimator(model, X)


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_a_band_of_a_classifier_says_it_needs_a_regressor(dropout):
    model = quiet_fit(BackpropClassifier((8,), dropout=dropout, max_iter=5), X, y)
    with pytest.raises(ValueError, match="needs a BackpropRegressor"):
        PredictionBandDisplay.from_estimator(model, X)


def test_the_band_names_its_feature_on_the_x_axis():
    model = BackpropRegressor((8,), dropout=0.2, max_iter=5, random_state=0)
    model = quiet_fit(model, X, y.astype(float))
    display = PredictionBandDisplay.from_estimator(model, X, feature=2, n_draws=5)
    assert display.ax_.get_xlabel() == "x2" and display.ax_.get_ylabel() == "prediction"
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["sepal length", "sepal width", "petal length", "w"])
    model = quiet_fit(model, frame, y.astype(float))
    display = PredictionBandDisplay.from_estimator(model, frame, feature=2, n_draws=5)
    assert display.ax_.get_xlabel() == "petal length"
    figure = display.figure_
    figure.canvas.draw()
    label = display.ax_.xaxis.label.get_window_extent()
    assert 0 <= label.y0 and label.y1 <= figure.bbox.height  # inside the figure


def test_a_wrong_image_shape_is_named():
    model = quiet_fit(BackpropClassifier((8,), max_iter=5, random_state=0), X, y)
    with pytest.raises(ValueError, match=r"image_shape=\(3, 3\) holds 9 pixels, but the rows"):
        AttributionDisplay.from_estimator(model, X[:2], image_shape=(3, 3))
