"""Displays of :mod:`skbackprop.inspection`'s answers, in scikit-learn's Display style.

Each is built ``from_estimator`` (or from the arrays themselves), draws with
``plot(ax=...)`` and keeps what it drew (``ax_``, ``figure_``, the artists).
Extra ``skbackprop[plot]`` (matplotlib).
"""

import numpy as np
from sklearn.base import is_regressor

from ._attribution import _network_estimator, integrated_gradients, predictive_draws
from ._model import fitted_model
from ._plot import _axes, _pyplot


class AttributionDisplay:
    """How much each feature moved the predictions: bars of mean absolute attribution, or maps.

    For series (the sequence estimators), each series is drawn with its
    timepoints coloured by their attribution.

    Parameters
    ----------
    attributions : ndarray of shape (n_samples, n_features)
        Attributions per row, from :func:`skbackprop.inspection.integrated_gradients`
        or :func:`~skbackprop.inspection.input_gradients`; for series, of shape
        (n_samples, n_channels, n_timepoints), or a list of (n_channels,
        n_timepoints_i) arrays.
    feature_names : sequence of str, default=None
        Names for the bars; ``"x0"``, ``"x1"`` ... by default.
    images : ndarray of shape (n_samples, n_features), default=None
        The rows themselves, drawn beside their maps when ``image_shape`` is
        set; for series, the series (required), in the attributions' layout.
    image_shape : tuple of int, default=None
        Features that are pixels (``(8, 8)`` for digits): ``plot`` draws each
        row and its attribution map instead of bars.

    Attributes
    ----------
    ax_ : matplotlib Axes or ndarray of Axes
    figure_ : matplotlib Figure
    bars_ : BarContainer or None
        The bars (without ``image_shape``).
    importances_ : ndarray of shape (n_features,) or None
        Mean absolute attribution of each feature over the rows; for series
        of equal lengths, of each channel and timepoint, ``(n_channels,
        n_timepoints)`` (None for unequal lengths).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skbackprop import BackpropClassifier
    >>> from skbackprop.inspection import AttributionDisplay
    >>> X, y = load_iris(return_X_y=True)
    >>> model = BackpropClassifier(max_iter=300, random_state=0).fit(X, y)
    >>> display = AttributionDisplay.from_estimator(model, X)
    >>> display.importances_.shape
    (4,)
    """

    def __init__(self, attributions, feature_names=None, images=None, image_shape=None):
        self.series = isinstance(attributions, list) or np.ndim(attributions) == 3
        self.attributions = (
            attributions if isinstance(attributions, list) else np.asarray(attributions)
        )
        self.feature_names = feature_names
        self.images = images
        self.image_shape = image_shape

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        *,
        target=None,
        baseline=None,
        n_steps=50,
        method="gausslegendre",
        feature_names=None,
        image_shape=None,
        max_features=20,
        ax=None,
    ):
        """Attribute the predictions on X by integrated gradients and plot them.

        Parameters
        ----------
        estimator : fitted BackpropClassifier or BackpropRegressor, or Pipeline
            As for :func:`skbackprop.inspection.integrated_gradients`.
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The rows to explain (a DataFrame's column names name the bars).
        target, baseline, n_steps, method
            As for :func:`skbackprop.inspection.integrated_gradients`.
        feature_names : sequence of str, default=None
            Names for the bars; a DataFrame's columns by default.
        image_shape : tuple of int, default=None
            Draw each row and its map instead of bars (a few rows: up to 8).
        max_features : int, default=20
            The bar chart shows the features of largest mean absolute attribution.
        ax : matplotlib Axes, default=None
            Where to draw the bars; a new figure if None (maps always make one).

        Returns
        -------
        display : AttributionDisplay
        """
        if feature_names is None and hasattr(X, "columns"):
            feature_names = [str(name) for name in X.columns]
        attributions = integrated_gradients(
            estimator, X, target=target, baseline=baseline, n_steps=n_steps, method=method
        )
        if isinstance(attributions, list):  # series of unequal lengths
            images = [np.asarray(series, dtype=float) for series in X]
        else:
            images = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=float)
            if fitted_model(_network_estimator(estimator, X, False)[0]).takes_series:
                if attributions.ndim == 2:  # 2-D X: series of one channel
                    attributions, images = attributions[:, None], images[:, None]
        display = cls(attributions, feature_names, images, image_shape)
        return display.plot(ax=ax, max_features=max_features)

    def plot(self, ax=None, max_features=20):
        """Draw the bars (or, with ``image_shape``, the rows and their maps).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw the bars; a new figure if None.
        max_features : int, default=20
            Bars for at most this many features, the largest first.

        Returns
        -------
        self : AttributionDisplay
        """
        self.bars_ = None
        if self.series:
            return self._plot_series()
        self.importances_ = np.abs(self.attributions).mean(axis=0)
        if self.image_shape is not None:
            return self._plot_maps()
        ax = _axes(ax)
        names = self.feature_names or [f"x{index}" for index in range(len(self.importances_))]
        order = np.argsort(self.importances_)[::-1][:max_features][::-1]
        self.bars_ = ax.barh([names[index] for index in order], self.importances_[order])
        ax.set_xlabel("mean |attribution|")
        ax.set_title("Integrated gradients")
        self.ax_, self.figure_ = ax, ax.figure
        return self

    def _plot_series(self, max_series=4):
        """The first series, one panel each, their timepoints coloured by attribution."""
        if self.images is None:
            raise ValueError("Drawing attributions over series needs the series: pass images=X.")
        self.importances_ = (
            None if isinstance(self.attributions, list) else np.abs(self.attributions).mean(axis=0)
        )
        rows = min(len(self.attributions), max_series)
        figure, axes = _pyplot().subplots(
            rows, 1, figsize=(7, 1.8 * rows), squeeze=False, sharex=True, layout="constrained"
        )
        limit = max(float(np.abs(self.attributions[index]).max()) for index in range(rows)) or 1.0
        for index in range(rows):
            ax, series = axes[index, 0], np.asarray(self.images[index])
            attribution = np.asarray(self.attributions[index])
            steps = np.arange(series.shape[1])
            for channel in range(series.shape[0]):
                ax.plot(steps, series[channel], color="0.6", linewidth=0.8)
                self.map_ = ax.scatter(
                    steps,
                    series[channel],
                    c=attribution[channel],
                    cmap="RdBu_r",
                    vmin=-limit,
                    vmax=limit,
                    s=10,
                )
            ax.set_ylabel(f"series {index}")
        axes[-1, 0].set_xlabel("timepoint")
        axes[0, 0].set_title("Attribution of each timepoint (each channel a line)")
        figure.colorbar(self.map_, ax=axes[:, 0], shrink=0.8, label="attribution")
        self.ax_, self.figure_ = axes, figure
        return self

    def _plot_maps(self):
        shape = tuple(self.image_shape)
        if int(np.prod(shape)) != self.attributions.shape[1]:
            raise ValueError(
                f"image_shape={self.image_shape!r} holds {int(np.prod(shape))} pixels, but the "
                f"rows have {self.attributions.shape[1]} features: give the shape of one image."
            )
        rows = min(len(self.attributions), 8)
        figure, axes = _pyplot().subplots(
            2, rows, figsize=(1.6 * rows, 3.4), squeeze=False, layout="constrained"
        )
        limit = np.abs(self.attributions[:rows]).max() or 1.0
        for index in range(rows):
            if self.images is not None:
                axes[0, index].imshow(self.images[index].reshape(self.image_shape), cmap="gray_r")
            attribution = self.attributions[index].reshape(self.image_shape)
            self.map_ = axes[1, index].imshow(attribution, cmap="RdBu_r", vmin=-limit, vmax=limit)
            for ax in axes[:, index]:
                ax.set_xticks([])
                ax.set_yticks([])
        axes[0, 0].set_ylabel("input")
        axes[1, 0].set_ylabel("attribution")
        figure.colorbar(self.map_, ax=axes[1, :], shrink=0.8)
        self.ax_, self.figure_ = axes, figure
        return self


class PredictionBandDisplay:
    """A prediction band against one feature: MC-dropout's spread, or quantile outputs.

    Parameters
    ----------
    x : ndarray of shape (n_samples,)
        The feature the band is drawn against (sorted by ``plot``).
    center, lower, upper : ndarray of shape (n_samples,)
        The central prediction and the band's edges at each ``x``.
    y : ndarray of shape (n_samples,), default=None
        Observed targets, drawn as points.
    label : str, default="band"
        What the band is, for the legend.
    feature_name : str, default="x"
        The x-axis label: the feature's name (``from_estimator`` takes a
        DataFrame's column name, or ``"x<feature>"``).

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    line_, band_, points_ : the artists drawn (``points_`` None without y)

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop import BackpropRegressor
    >>> from skbackprop.inspection import PredictionBandDisplay
    >>> x = np.linspace(-2, 2, 200).reshape(-1, 1)
    >>> model = BackpropRegressor(dropout=0.2, max_iter=50, random_state=0).fit(x, x.ravel() ** 2)
    >>> display = PredictionBandDisplay.from_estimator(model, x, n_draws=20, random_state=0)
    >>> bool(np.all(display.lower <= display.upper))
    True
    """

    def __init__(self, x, center, lower, upper, y=None, label="band", feature_name="x"):
        self.x, self.center, self.lower, self.upper = x, center, lower, upper
        self.y, self.label, self.feature_name = y, label, feature_name

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        *,
        feature=0,
        y=None,
        levels=(0.05, 0.95),
        n_draws=100,
        random_state=None,
        ax=None,
    ):
        """The band of a fitted regressor over the rows of X, against ``X[:, feature]``.

        A regressor fitted with several quantile levels draws its lowest and
        highest levels around the one nearest 0.5; any other draws
        MC-dropout's mean and the ``levels`` quantiles of its draws (it needs
        ``dropout > 0``).

        Parameters
        ----------
        estimator : fitted BackpropRegressor, or a Pipeline ending in one
            With a single output.
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The rows to predict.
        feature : int, default=0
            The column of X the band is drawn against.
        y : array-like of shape (n_samples,), default=None
            Observed targets of X, drawn as points.
        levels : tuple of two floats, default=(0.05, 0.95)
            The draws' quantiles that bound an MC-dropout band.
        n_draws : int, default=100
            MC-dropout's draws.
        random_state : int, RandomState instance or None, default=None
            Seeds MC-dropout's masks.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure if None.

        Returns
        -------
        display : PredictionBandDisplay
        """
        model, _ = _network_estimator(estimator, X, affine_only=False)
        if not is_regressor(model):
            raise ValueError(
                "PredictionBandDisplay draws a regressor's prediction band, but the estimator "
                f"is a {type(model).__name__}: it needs a BackpropRegressor."
            )
        x = np.asarray(X.toarray() if hasattr(X, "toarray") else X)[:, feature]
        feature_name = str(X.columns[feature]) if hasattr(X, "columns") else f"x{feature}"
        quantile_levels = fitted_model(model).quantile_levels
        if quantile_levels is not None and model.n_outputs_ == len(quantile_levels):
            predictions = estimator.predict(X)
            order = np.argsort(quantile_levels)
            middle = int(np.argmin(np.abs(np.asarray(quantile_levels) - 0.5)))
            lower, upper = predictions[:, order[0]], predictions[:, order[-1]]
            center = predictions[:, middle]
            label = f"quantiles {quantile_levels[order[0]]:g} to {quantile_levels[order[-1]]:g}"
        else:
            draws = predictive_draws(estimator, X, n_draws=n_draws, random_state=random_state)
            if draws.ndim != 2:
                raise ValueError("PredictionBandDisplay draws the band of a single output.")
            center = draws.mean(axis=0)
            lower, upper = np.quantile(draws, levels, axis=0)
            label = f"MC-dropout, {levels[0]:g} to {levels[1]:g} quantiles of {n_draws} draws"
        y = None if y is None else np.asarray(y)
        display = cls(x, center, lower, upper, y, label, feature_name=feature_name)
        return display.plot(ax=ax)

    def plot(self, ax=None):
        """Draw the band, the central prediction and the observed points.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure if None.

        Returns
        -------
        self : PredictionBandDisplay
        """
        ax = _axes(ax)
        order = np.argsort(self.x)
        self.points_ = None
        if self.y is not None:
            self.points_ = ax.scatter(self.x, self.y, s=4, color="grey", alpha=0.5, label="data")
        self.band_ = ax.fill_between(
            self.x[order], self.lower[order], self.upper[order], alpha=0.3, label=self.label
        )
        (self.line_,) = ax.plot(self.x[order], self.center[order], label="prediction")
        ax.set_xlabel(self.feature_name)
        ax.set_ylabel("prediction")
        ax.legend(loc="best", fontsize="small")
        self.ax_, self.figure_ = ax, ax.figure
        return self
