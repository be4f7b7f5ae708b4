"""The inspection functions: gradients to the inputs, integrated gradients, MC-dropout draws.

Published by :mod:`skbackprop.inspection`; they work through the fitted model's
interface (:class:`skbackprop._model.FittedModel`).
"""

import numpy as np
import scipy.sparse as sp
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler
from sklearn.utils import Bunch, check_random_state
from sklearn.utils.validation import check_is_fitted

from ._estimators import BackpropClassifier, BackpropRegressor
from ._model import GRADIENT_CHUNK_ROWS, fitted_model, prediction_numerics
from ._network import steps
from ._series import Series
from ._threads import threads_for

AFFINE_SCALERS = (StandardScaler, MinMaxScaler, MaxAbsScaler)


def input_gradients(estimator, X, *, target=None):
    """The gradient of each row's output with respect to its input features.

    Parameters
    ----------
    estimator : fitted BackpropClassifier or BackpropRegressor, or Pipeline
        A Pipeline's steps before the network must be ``StandardScaler``,
        ``MinMaxScaler`` or ``MaxAbsScaler``; the gradient is then with
        respect to the pipeline's input features.

    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The rows to differentiate at; for the sequence estimators, series as
        their ``predict`` takes them (the gradients come in the same layout:
        per channel and timepoint).

    target : class label or int, default=None
        Classifier: the class whose ``predict_proba`` column is
        differentiated; by default each row's predicted class. Regressor:
        the column of ``predict`` (multi-output, or several quantile levels);
        may be omitted for a single output.

    Returns
    -------
    gradients : ndarray of shape (n_samples, n_features)
        ``d F(x) / d x`` for each row, in the network's precision.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skbackprop import BackpropClassifier
    >>> from skbackprop.inspection import input_gradients
    >>> X, y = load_iris(return_X_y=True)
    >>> model = BackpropClassifier(max_iter=300, random_state=0).fit(X, y)
    >>> input_gradients(model, X[:2], target=0).shape
    (2, 4)
    """
    model, X_net, slope = _resolve(estimator, X)
    fitted = fitted_model(model)
    columns, signs = _target_columns(model, fitted, X_net, target)
    gradients = fitted.in_input_layout(fitted.input_gradients(X_net, columns, signs), X_net)
    if np.ndim(slope) == 0 and slope == 1.0:  # no scaler in between
        return gradients
    return (gradients * slope).astype(gradients.dtype, copy=False)


def integrated_gradients(
    estimator,
    X,
    *,
    baseline=None,
    n_steps=50,
    method="gausslegendre",
    target=None,
    batch_size=None,
    return_gap=False,
):
    """Integrated gradients: how much each feature moved the output from the baseline's.

    ``attribution_i = (x_i - baseline_i) * mean over the path of d F / d x_i``,
    the mean over the straight path from the baseline to ``x`` taken by a
    quadrature rule of ``n_steps`` points. The attributions of a row add up
    to ``F(x) - F(baseline)`` (completeness) up to the rule's error. With
    the default Gauss-Legendre rule (captum's default) that error is under
    0.01% of ``|F(x) - F(baseline)|`` at 50 steps for smooth activations
    (tanh, logistic, gelu ...); the trapezoid rule's is about 0.1%, and
    relu's kinks make either a few percent. The ``gap``
    (``return_gap=True``) says how far each row is off.

    Parameters
    ----------
    estimator : fitted BackpropClassifier or BackpropRegressor, or Pipeline
        As for :func:`input_gradients`.

    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The rows to explain; for the sequence estimators, series as their
        ``predict`` takes them (the attributions come in the same layout).

    baseline : array-like broadcastable to X, default=None
        Where the path starts, in the space of ``X``. By default the point
        the network sees as all zeros: zeros for a bare network, and behind
        a ``StandardScaler`` (in a Pipeline, or on X scaled beforehand) the
        training mean, the usual "absence of signal". For series: None
        (zeros) or one number for every timepoint.

    n_steps : int, default=50
        Points of the Gauss-Legendre rule, or intervals of the trapezoid rule.

    method : {"gausslegendre", "trapezoid"}, default="gausslegendre"
        The quadrature rule along the path: Gauss-Legendre's nodes and
        weights (exact for polynomials of degree ``2 n_steps - 1``), or the
        trapezoid rule on ``n_steps`` equal intervals (``n_steps + 1`` points).

    target : class label or int, default=None
        As for :func:`input_gradients`; by default each row's predicted
        class at ``X`` (kept along the path).

    batch_size : int, default=None
        Rows explained per backward pass; by default as many as keep each
        pass to 1024 path points, which bounds the memory.

    return_gap : bool, default=False
        Return a Bunch with ``attributions``, ``gap`` (each row's sum of
        attributions minus ``F(x) - F(baseline)``), ``outputs`` (``F(x)``)
        and ``baseline_outputs`` instead of the attributions alone.

    Returns
    -------
    attributions : ndarray of shape (n_samples, n_features) or Bunch

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from skbackprop import BackpropClassifier
    >>> from skbackprop.inspection import integrated_gradients
    >>> X, y = load_iris(return_X_y=True)
    >>> model = BackpropClassifier(activation="tanh", max_iter=300, random_state=0).fit(X, y)
    >>> result = integrated_gradients(model, X[:5], return_gap=True)
    >>> result.attributions.shape
    (5, 4)
    >>> bool(np.all(np.abs(result.gap) <= 0.01 * np.abs(result.outputs - result.baseline_outputs)))
    True
    """
    _check_positive_int("n_steps", n_steps)
    alphas, weights = _path_rule(method, n_steps)
    model, X_net, slope = _resolve(estimator, X)
    X_net = X_net.toarray() if sp.issparse(X_net) else X_net
    start = _baseline(estimator, model, X, X_net, baseline)
    fitted = fitted_model(model)
    columns, signs = _target_columns(model, fitted, X_net, target)
    if batch_size is None:
        batch_size = max(GRADIENT_CHUNK_ROWS // len(alphas), 1)
    else:
        _check_positive_int("batch_size", batch_size)
    path = _Path(model, fitted, X_net, start, alphas, weights, target)
    attributions = path.integrate(columns, signs, batch_size)
    if not return_gap:
        return fitted.in_input_layout(attributions, X_net)
    # In the network's input space, where the path is straight too: the scaling cancels.
    outputs = _target_outputs(fitted, X_net, columns, signs)
    baseline_outputs = _target_outputs(
        fitted,
        path.start_input,
        *_path_targets(model, fitted, path.start_input, target, columns, signs),
    )
    gap = attributions.reshape(len(attributions), -1).sum(axis=1) - (outputs - baseline_outputs)
    return Bunch(
        attributions=fitted.in_input_layout(attributions, X_net),
        gap=gap,
        outputs=outputs,
        baseline_outputs=baseline_outputs,
    )


class _Path:
    """The straight paths from the baselines to the rows (or series) of X_net; their integral."""

    def __init__(self, model, fitted, X_net, start, alphas, weights, target):
        self.model, self.fitted, self.target = model, fitted, target
        self.alphas, self.weights = alphas, weights
        # Series: their values, (rows, steps, channels), and lengths, which the path keeps.
        self.series = X_net if isinstance(X_net, Series) else None
        self.values = X_net if self.series is None else X_net.values
        self.start = start
        self.start_input = start if self.series is None else Series(start, X_net.lengths)

    def _points(self, points, rows):
        if self.series is None:
            return points
        lengths = self.series.lengths
        lengths = None if lengths is None else np.tile(lengths[rows], len(self.alphas))
        return Series(points, lengths)

    def integrate(self, columns, signs, batch_size):
        """Each row's ``(x - baseline) * mean over the path of d F / d x``."""
        values, network, n_points = self.values, self.fitted.network, len(self.alphas)
        shape = values.shape[1:]
        attributions = np.empty(values.shape, dtype=network.dtype)
        # One thread section for the whole call: each chunk in a section of its own would
        # switch BLAS threads twice per chunk, which costs more than the chunk.
        chunk = min(len(values) * n_points, GRADIENT_CHUNK_ROWS)
        # The path and the workspaces are made once for the call, not once per batch.
        path = np.empty((n_points, min(batch_size, len(values)), *shape), values.dtype)
        alphas = self.alphas.reshape(-1, 1, *[1] * len(shape))
        workspaces = {}
        with threads_for(network.largest_product(chunk, steps(values))):
            for begin in range(0, len(values), batch_size):
                rows = slice(begin, begin + batch_size)
                difference = values[rows] - self.start[rows]
                n = difference.shape[0]
                np.multiply(alphas, difference[None], out=path[:, :n])
                path[:, :n] += self.start[rows][None]
                points = self._points(path[:, :n].reshape(n_points * n, *shape), rows)
                targets = _path_targets(
                    self.model, self.fitted, points, self.target, columns[rows], signs[rows]
                )
                gradients = self.fitted.input_gradients(points, *targets, workspaces=workspaces)
                gradients = gradients.reshape(n_points, n, *shape)
                attributions[rows] = difference * np.tensordot(self.weights, gradients, axes=1)
        return attributions


def predictive_draws(estimator, X, *, n_draws=100, random_state=None):
    """Predictions with dropout active: MC-dropout's samples of the predictive distribution.

    Each draw predicts every row of X with a fresh dropout mask (batch
    normalization, if any, keeps its running statistics), as Gal &
    Ghahramani (2016) read a network trained with dropout as an approximate
    Bayesian model: the spread of the draws is its uncertainty, wide where
    the training data said little. The fitted model and its random stream
    are left as they were.

    Parameters
    ----------
    estimator : fitted BackpropClassifier or BackpropRegressor, or Pipeline
        Fitted with ``dropout > 0``. A Pipeline's steps before the network
        may be any transformers.

    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The rows to predict.

    n_draws : int, default=100
        Number of dropout masks drawn.

    random_state : int, RandomState instance or None, default=None
        Seeds the masks: an int makes the draws reproducible.

    Returns
    -------
    draws : ndarray of shape (n_draws, n_samples) or (n_draws, n_samples, n_outputs)
        What ``predict`` returns (regressor) or ``predict_proba`` (classifier,
        ``(n_draws, n_samples, n_classes)``), once per draw.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from skbackprop import BackpropRegressor
    >>> from skbackprop.inspection import predictive_draws
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = BackpropRegressor(dropout=0.2, max_iter=50, random_state=0).fit(X, y / 100)
    >>> predictive_draws(model, X[:3], n_draws=20, random_state=0).shape
    (20, 3)
    """
    _check_positive_int("n_draws", n_draws)
    model, X_net = _network_estimator(estimator, X, affine_only=False)
    fitted = fitted_model(model, dropout=True)
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    return fitted.dropout_draws(X_net, n_draws, np.random.default_rng(seed))


# -- what the functions share ----------------------------------------------------


def _check_positive_int(name, value):
    if not (isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 1):
        raise ValueError(f"{name} must be a positive int, got {value!r}.")


PATH_RULES = ("gausslegendre", "trapezoid")


def _path_rule(method, n_steps):
    """``(alphas, weights)``: where on the path from 0 to 1 the gradient is taken, and
    the weights whose sum of weighted gradients is their mean over the path."""
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n_steps)
        return (nodes + 1.0) / 2.0, weights / 2.0  # from [-1, 1] to [0, 1]
    if method == "trapezoid":
        weights = np.full(n_steps + 1, 1.0 / n_steps)
        weights[[0, -1]] /= 2
        return np.linspace(0.0, 1.0, n_steps + 1), weights
    raise ValueError(f"method must be one of {', '.join(PATH_RULES)}; got {method!r}.")


def _network_estimator(estimator, X, affine_only):
    """The fitted network estimator, and X as it sees it (through a Pipeline's steps)."""
    if isinstance(estimator, Pipeline):
        for name, step in estimator.steps[:-1]:
            if step is None or step == "passthrough":
                continue
            if affine_only and isinstance(step, MinMaxScaler) and step.clip:
                raise ValueError(
                    f"The Pipeline's step {name!r} is MinMaxScaler(clip=True), which is flat "
                    "outside the training range: the chain rule through it is not the affine "
                    "map's. Use clip=False, or explain the network on its own input: pass "
                    "pipeline[:-1].transform(X) and pipeline[-1]."
                )
            if affine_only and not isinstance(step, AFFINE_SCALERS):
                raise ValueError(
                    f"The Pipeline's step {name!r} ({type(step).__name__}) is not an affine "
                    "scaler (StandardScaler, MinMaxScaler, MaxAbsScaler), so gradients cannot "
                    "reach the pipeline's input through it. Explain the network on its own "
                    "input instead: pass pipeline[:-1].transform(X) and pipeline[-1]."
                )
            X = step.transform(X)
        estimator = estimator[-1]
    if not isinstance(estimator, BackpropClassifier | BackpropRegressor):
        raise TypeError(
            "skbackprop.inspection explains BackpropClassifier and BackpropRegressor (or a "
            f"Pipeline ending in one), not {type(estimator).__name__}."
        )
    check_is_fitted(estimator)
    return estimator, fitted_model(estimator).validated(X)


def _slope(estimator):
    """d (network input) / d (pipeline input), per feature: the affine steps' scales."""
    slope = 1.0
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps[:-1]:
            if isinstance(step, StandardScaler) and step.scale_ is not None:
                slope = slope / step.scale_
            elif isinstance(step, MinMaxScaler):
                slope = slope * step.scale_
            elif isinstance(step, MaxAbsScaler):
                slope = slope / step.scale_
    return slope


def _resolve(estimator, X):
    model, X_net = _network_estimator(estimator, X, affine_only=True)
    return model, X_net, _slope(estimator)


def _baseline(estimator, model, X, X_net, baseline):
    """The path's start in the network's input space, one row per row of X."""
    if isinstance(X_net, Series):
        return _series_baseline(X_net, baseline)
    if baseline is None:
        return np.zeros_like(X_net)
    try:
        values = np.asarray(baseline, dtype=float)
        start = np.broadcast_to(values, np.shape(X))
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"baseline must be numbers broadcastable to X's shape {np.shape(X)} (one row of "
            f"{np.shape(X)[1]} features, or one per row), got shape {np.shape(baseline)}."
        ) from error
    if not np.isfinite(values).all():
        raise ValueError("baseline has NaN or infinite values: it must be a finite point.")
    if isinstance(estimator, Pipeline):
        if hasattr(X, "columns") and hasattr(X, "iloc"):  # a DataFrame: its feature names too
            start = type(X)(start, columns=X.columns, index=X.index)
        start = estimator[:-1].transform(start)
    return np.asarray(start, dtype=X_net.dtype)


def _series_baseline(X_net, baseline):
    """Series' path start: zeros, or one number, at each series' own steps (the padding stays 0)."""
    start = np.zeros_like(X_net.values)
    if baseline is not None:
        if np.ndim(baseline) != 0 or not np.isfinite(baseline):
            raise ValueError(
                "For series, baseline must be None or one finite number (the value every "
                f"timepoint starts from), got {baseline!r}."
            )
        start[...] = baseline
        if X_net.lengths is not None:
            steps = np.arange(start.shape[1])
            start[steps[None, :] >= X_net.lengths[:, None]] = 0.0
    return start


def _target_columns(model, fitted, X_net, target):
    """For each row, the network output that ``F`` is, and its sign (binary class 0: 1 - p)."""
    n = X_net.shape[0]
    if isinstance(model, BackpropClassifier):
        # X_net is validated already (and has lost a DataFrame's names): the network itself.
        with prediction_numerics():
            output = fitted.network.predict(X_net.astype(fitted.dtype, copy=False))
            proba = fitted.as_predicted(output)
        if target is None:
            columns = np.argmax(proba, axis=1)
        else:
            matches = np.flatnonzero(model.classes_ == target)
            if len(matches) == 0:
                raise ValueError(f"target={target!r} is not one of classes_ {model.classes_!r}.")
            columns = np.full(n, matches[0])
        if fitted.target_type == "binary":
            return np.zeros(n, dtype=int), np.where(columns == 1, 1.0, -1.0)
        return columns, np.ones(n)
    width = model.n_outputs_
    if target is None:
        if width > 1:
            raise ValueError(
                f"The regressor has {width} outputs: say which with target=0 .. {width - 1}."
            )
        target = 0
    if not (isinstance(target, int | np.integer) and 0 <= target < width):
        raise ValueError(f"target must be an output index in 0 .. {width - 1}, got {target!r}.")
    # With several quantile levels predict sorts them: its column is a different
    # output on different rows.
    return fitted.outputs_behind_column(X_net, target), np.ones(n)


def _path_targets(model, fitted, points, target, columns, signs):
    """The columns and signs of ``F`` at the path's points, one row per point.

    A classifier keeps the class chosen at X along the whole path; a
    regressor's ``F`` is a column of ``predict``, whose output may change along it.
    """
    if isinstance(model, BackpropClassifier):
        repeats = points.shape[0] // len(columns)
        return np.tile(columns, repeats), np.tile(signs, repeats)
    return _target_columns(model, fitted, points, target)


def _target_outputs(fitted, X_net, columns, signs):
    """``F`` at each row: the chosen probability (binary class 0: 1 - p) or prediction."""
    output = fitted.network.predict(X_net.astype(fitted.dtype, copy=False))
    chosen = output[np.arange(len(columns)), columns]
    return np.where(signs < 0, 1 - chosen, chosen)
