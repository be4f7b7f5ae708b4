"""Plots of training, following scikit-learn's Display API (extra ``skbackprop[plot]``).

Each display is built ``from_estimator`` (or from the arrays themselves), draws
with ``plot(ax=...)``, and keeps what it drew as attributes (``ax_``,
``figure_``, the lines), so a test or a user can restyle it afterwards.
"""

import numpy as np
from sklearn.base import is_classifier, is_regressor
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

_EXTRA_HINT = 'Plotting needs matplotlib: pip install "skbackprop[plot]"'


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(_EXTRA_HINT) from error
    return plt


def _axes(ax):
    if ax is None:
        # Constrained layout keeps a twin axis's label inside the figure.
        _, ax = _pyplot().subplots(layout="constrained")
    else:
        _pyplot()
    return ax


def _network_estimator(estimator):
    """The fitted network estimator itself, or the last step of a fitted Pipeline."""
    if isinstance(estimator, Pipeline):
        estimator = estimator[-1]
    check_is_fitted(estimator)
    return estimator


def _label_epochs(ax):
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _fitted_attribute(estimator, name):
    value = getattr(estimator, name, None)
    if value is None:
        raise ValueError(
            f"{type(estimator).__name__} has no {name}: fit it first"
            + (" with early_stopping=True." if "validation" in name else ".")
        )
    return value


def _score_name(estimator):
    """What an estimator's validation score measures, for an axis label."""
    scoring = getattr(estimator, "scoring", None)
    if isinstance(scoring, str):
        return f"validation {scoring}"
    if scoring is None and is_classifier(estimator):
        return "validation accuracy"
    if scoring is None and is_regressor(estimator):
        return "validation R²"
    return "validation score"


class TrainingCurveDisplay:
    """Training loss, validation loss and validation score per epoch.

    Parameters
    ----------
    loss_curve : array-like of shape (n_epochs,)
        Training loss after every epoch (``loss_curve_``).
    validation_loss_curve : array-like of shape (n_epochs,), default=None
        Loss on held-out data (``validation_loss_curve_``).
    validation_scores : array-like of shape (n_epochs,), default=None
        Validation score (``validation_scores_``), drawn on a second y axis.
    best_epoch : int, default=None
        The epoch whose weights early stopping kept (1-based, as
        ``best_epoch_``), marked by a vertical line.
    score_name : str, default="validation score"
        What the score is (``"accuracy"``, a scorer's name ...), the label of
        its axis and line.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The training loss.
    validation_loss_line_ : matplotlib Line2D or None
    validation_score_line_ : matplotlib Line2D or None
    best_epoch_line_ : matplotlib Line2D or None
    ax_ : matplotlib Axes
        The axes of the losses; the score has its own twin axes, ``score_ax_``.
    score_ax_ : matplotlib Axes or None
    figure_ : matplotlib Figure

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skbackprop import BackpropClassifier, TrainingCurveDisplay
    >>> X, y = load_digits(return_X_y=True)
    >>> model = BackpropClassifier(early_stopping=True, random_state=0).fit(X / 16, y)
    >>> display = TrainingCurveDisplay.from_estimator(model)
    >>> display.line_.get_label()
    'training loss'
    """

    def __init__(
        self,
        loss_curve,
        validation_loss_curve=None,
        validation_scores=None,
        best_epoch=None,
        score_name="validation score",
    ):
        self.loss_curve = loss_curve
        self.validation_loss_curve = validation_loss_curve
        self.validation_scores = validation_scores
        self.best_epoch = best_epoch
        self.score_name = score_name

    @classmethod
    def from_estimator(cls, estimator, ax=None):
        """Plot the curves of a fitted BackpropClassifier or BackpropRegressor.

        With ``scoring="loss"`` the watched score is the validation loss
        itself (negated), already drawn: no score axis is added.

        Parameters
        ----------
        estimator : fitted BackpropClassifier or BackpropRegressor, or a Pipeline ending in one
        ax : matplotlib Axes, default=None
            Where to draw; a new figure if None.

        Returns
        -------
        display : TrainingCurveDisplay
        """
        estimator = _network_estimator(estimator)
        loss_curve = _fitted_attribute(estimator, "loss_curve_")
        scores = getattr(estimator, "validation_scores_", None)
        if getattr(estimator, "scoring", None) == "loss":
            scores = None
        display = cls(
            loss_curve,
            getattr(estimator, "validation_loss_curve_", None),
            scores,
            getattr(estimator, "best_epoch_", None),
            _score_name(estimator),
        )
        return display.plot(ax=ax)

    def plot(self, ax=None):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure if None.

        Returns
        -------
        self : TrainingCurveDisplay
        """
        ax = _axes(ax)
        epochs = np.arange(1, len(self.loss_curve) + 1)
        (self.line_,) = ax.plot(epochs, self.loss_curve, label="training loss")
        self.validation_loss_line_ = self.validation_score_line_ = None
        self.best_epoch_line_ = self.score_ax_ = None
        handles = [self.line_]
        if self.validation_loss_curve is not None:
            (self.validation_loss_line_,) = ax.plot(
                epochs[-len(self.validation_loss_curve) :],
                self.validation_loss_curve,
                label="validation loss",
            )
            handles.append(self.validation_loss_line_)
        if self.validation_scores is not None:
            self.score_ax_ = ax.twinx()
            (self.validation_score_line_,) = self.score_ax_.plot(
                epochs[-len(self.validation_scores) :],
                self.validation_scores,
                color="tab:green",
                linestyle="--",
                label=self.score_name,
            )
            self.score_ax_.set_ylabel(self.score_name)
            handles.append(self.validation_score_line_)
        if self.best_epoch is not None:
            self.best_epoch_line_ = ax.axvline(
                self.best_epoch,
                color="grey",
                linestyle=":",
                label=f"kept weights (epoch {self.best_epoch})",
            )
            handles.append(self.best_epoch_line_)
        _label_epochs(ax)
        ax.set_ylabel("loss")
        ax.legend(handles=handles, loc="upper right")
        self.ax_, self.figure_ = ax, ax.figure
        return self


# Up to this many layers the legend names every line; beyond, the first and the output.
MAX_LEGEND_LAYERS = 8


class GradientFlowDisplay:
    """Gradient norm of every layer per epoch, on a log scale.

    Vanishing gradients show as the first layers' lines lying orders of
    magnitude below the last layer's; exploding ones as lines shooting up.
    Colours run from the first layer (dark) to the output layer (light); with
    more than 8 layers the legend names only those two.

    Parameters
    ----------
    gradient_norms : array-like of shape (n_epochs, n_layers)
        ``gradient_norms_`` of a fitted estimator.

    Attributes
    ----------
    lines_ : list of matplotlib Line2D
        One line per layer, first layer first.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skbackprop import BackpropClassifier, GradientFlowDisplay
    >>> X, y = load_digits(return_X_y=True)
    >>> model = BackpropClassifier(hidden_layer_sizes=(32, 32), max_iter=20).fit(X / 16, y)
    >>> display = GradientFlowDisplay.from_estimator(model)
    >>> len(display.lines_)
    3
    """

    def __init__(self, gradient_norms):
        self.gradient_norms = gradient_norms

    @classmethod
    def from_estimator(cls, estimator, ax=None):
        """Plot ``gradient_norms_`` of a fitted BackpropClassifier or BackpropRegressor.

        Parameters
        ----------
        estimator : fitted BackpropClassifier or BackpropRegressor, or a Pipeline ending in one
        ax : matplotlib Axes, default=None
            Where to draw; a new figure if None.

        Returns
        -------
        display : GradientFlowDisplay
        """
        estimator = _network_estimator(estimator)
        return cls(_fitted_attribute(estimator, "gradient_norms_")).plot(ax=ax)

    def plot(self, ax=None):
        """Draw one line per layer.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure if None.

        Returns
        -------
        self : GradientFlowDisplay
        """
        ax = _axes(ax)
        norms = np.asarray(self.gradient_norms)
        epochs = np.arange(1, len(norms) + 1)
        n_layers = norms.shape[1]
        colors = _pyplot().get_cmap("viridis")(np.linspace(0, 0.9, n_layers))
        self.lines_ = [
            ax.plot(
                epochs,
                norms[:, layer],
                color=colors[layer],
                label=f"layer {layer + 1}" + (" (output)" if layer == n_layers - 1 else ""),
            )[0]
            for layer in range(n_layers)
        ]
        ax.set_yscale("log")
        _label_epochs(ax)
        ax.set_ylabel("RMS of the weight gradient")
        # A deep network's legend would cover the plot: name the two ends of the colour scale.
        shown = self.lines_ if n_layers <= MAX_LEGEND_LAYERS else self.lines_[:: n_layers - 1]
        ax.legend(handles=shown, loc="best", fontsize="small")
        self.ax_, self.figure_ = ax, ax.figure
        return self
