"""The displays draw what the estimator recorded (Agg backend, extra skbackprop[plot])."""

import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib", reason="needs the plot extra")
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier, GradientFlowDisplay, TrainingCurveDisplay

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from helpers import quiet_fit

X, y = make_classification(n_samples=200, n_features=6, random_state=0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _fit(**params):
    return quiet_fit(BackpropClassifier(random_state=0, **params), X, y)


def test_training_curve_with_early_stopping():
    model = _fit(early_stopping=True, learning_rate_init=0.01, n_iter_no_change=4, max_iter=200)
    display = TrainingCurveDisplay.from_estimator(model)
    epochs = np.arange(1, model.n_iter_ + 1)
    np.testing.assert_array_equal(display.line_.get_xdata(), epochs)
    np.testing.assert_allclose(display.line_.get_ydata(), model.loss_curve_)
    np.testing.assert_allclose(
        display.validation_loss_line_.get_ydata(), model.validation_loss_curve_
    )
    np.testing.assert_allclose(display.validation_score_line_.get_ydata(), model.validation_scores_)
    best = int(np.argmax(model.validation_scores_)) + 1
    assert model.best_epoch_ == best
    assert display.best_epoch_line_.get_xdata()[0] == best
    assert display.ax_.get_xlabel() == "epoch" and display.ax_.get_ylabel() == "loss"
    assert display.score_ax_.get_ylabel() == "validation accuracy"
    labels = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    assert labels == [
        "training loss",
        "validation loss",
        "validation accuracy",
        f"kept weights (epoch {best})",
    ]
    assert display.figure_ is display.ax_.figure


def test_training_curve_without_validation_draws_only_the_loss_on_given_axes():
    model = _fit(max_iter=5)
    _, ax = plt.subplots()
    display = TrainingCurveDisplay.from_estimator(model, ax=ax)
    assert display.ax_ is ax and len(ax.get_lines()) == 1
    assert display.validation_loss_line_ is None and display.best_epoch_line_ is None
    assert display.score_ax_ is None


def test_the_kept_epoch_is_marked_where_it_is_after_a_warm_start():
    params = dict(early_stopping=True, warm_start=True, tol=0, n_iter_no_change=100, max_iter=10)
    model = _fit(**params)
    model.fit(X, y)  # ten more epochs, numbered 11 to 20
    assert len(model.validation_scores_) == 20
    best = int(np.argmax(model.validation_scores_)) + 1
    assert model.best_epoch_ == best
    display = TrainingCurveDisplay.from_estimator(model)
    assert display.best_epoch_line_.get_xdata()[0] == best


@pytest.mark.parametrize(
    "scoring, label", [("neg_log_loss", "validation neg_log_loss"), ("loss", None)]
)
def test_the_score_axis_says_what_the_score_is(scoring, label):
    model = _fit(early_stopping=True, scoring=scoring, max_iter=5)
    display = TrainingCurveDisplay.from_estimator(model)
    if label is None:  # the watched score is the validation loss, already drawn
        assert display.score_ax_ is None and display.validation_loss_line_ is not None
    else:
        assert display.score_ax_.get_ylabel() == label


def test_gradient_flow_draws_one_log_scaled_line_per_layer():
    model = _fit(hidden_layer_sizes=(8, 8, 8), activation="logistic", max_iter=6)
    display = GradientFlowDisplay.from_estimator(model)
    assert len(display.lines_) == 4
    for layer, line in enumerate(display.lines_):
        np.testing.assert_allclose(line.get_ydata(), model.gradient_norms_[:, layer])
    assert display.ax_.get_yscale() == "log"
    labels = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    assert labels == ["layer 1", "layer 2", "layer 3", "layer 4 (output)"]


def test_a_deep_networks_legend_names_only_the_first_and_the_output_layer():
    model = _fit(hidden_layer_sizes=(4,) * 12, max_iter=2)
    display = GradientFlowDisplay.from_estimator(model)
    assert len(display.lines_) == 13
    labels = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    assert labels == ["layer 1", "layer 13 (output)"]


@pytest.mark.parametrize("Display", [GradientFlowDisplay, TrainingCurveDisplay])
def test_displays_need_a_fitted_estimator(Display):
    with pytest.raises(NotFittedError):
        Display.from_estimator(BackpropClassifier())
    with pytest.raises(NotFittedError):
        Display.from_estimator(make_pipeline(StandardScaler(), BackpropClassifier()))


@pytest.mark.parametrize("Display", [GradientFlowDisplay, TrainingCurveDisplay])
def test_displays_take_a_fitted_pipeline_and_draw_its_last_step(Display):
    model = BackpropClassifier(max_iter=5, early_stopping=True, random_state=0)
    pipeline = quiet_fit(make_pipeline(StandardScaler(), model), X, y)
    direct, through = Display.from_estimator(model), Display.from_estimator(pipeline)
    for mine, theirs in zip(direct.ax_.get_lines(), through.ax_.get_lines(), strict=True):
        np.testing.assert_array_equal(mine.get_ydata(), theirs.get_ydata())


def test_the_score_axis_label_stays_inside_the_figure():
    # Negative scores have the widest tick labels, which pushed the label off the edge.
    model = _fit(max_iter=5, early_stopping=True, scoring="neg_log_loss")
    display = TrainingCurveDisplay.from_estimator(model)
    figure = display.figure_
    figure.canvas.draw()
    label = display.score_ax_.yaxis.label.get_window_extent()
    assert label.x1 <= figure.bbox.x1 and label.x0 >= figure.bbox.x0


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"skbackprop\[plot\]"):
        TrainingCurveDisplay([1.0, 0.5]).plot()
