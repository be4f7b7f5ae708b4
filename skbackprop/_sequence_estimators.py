"""Sequence estimators: the MLP estimators with convolution blocks and pooling over time first.

They are the MLP estimators in everything that applies (solvers, schedules,
penalties, dropout, batch normalization, early stopping, callbacks, warm
start and ``partial_fit``, persistence); what they change is the input and
the layers before the dense ones:

- X is a 3-D array ``(n_samples, n_channels, n_timepoints)`` (aeon's
  convention), a 2-D array ``(n_samples, n_timepoints)`` (one channel; then
  ``n_features_in_`` and feature names follow scikit-learn's contract), or
  a list of 2-D arrays ``(n_channels, n_timepoints_i)`` of unequal lengths,
  padded and masked inside;
- :class:`~skbackprop._model.SequenceArchitecture` adds ``conv_filters``,
  ``kernel_sizes`` and ``pooling`` to the layer specification.
"""

import functools
import inspect
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_array, check_consistent_length, validate_data

from . import _docs
from ._estimators import _FLOAT_DTYPES, BackpropClassifier, BackpropRegressor
from ._layers import CELLS, POOLINGS
from ._model import SequenceArchitecture
from ._series import Series

# The classifier's batch_size="auto" from two batches' worth of series on (see its _batch_size).
SERIES_BATCH_SIZE = 32

_SEQUENCE_CONSTRAINTS = {
    "conv_filters": ["array-like", Interval(Integral, 1, None, closed="left")],
    "kernel_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "recurrent_units": ["array-like", Interval(Integral, 1, None, closed="left")],
    "pooling": [StrOptions(set(POOLINGS))],
    "cell": [StrOptions(set(CELLS))],
    "bptt_truncate": [None, Interval(Integral, 1, None, closed="left")],
}

_SHAPES = (
    "(n_samples, n_timepoints), (n_samples, n_channels, n_timepoints), or a list of "
    "(n_channels, n_timepoints) arrays"
)


def _is_list_of_series(X):
    return (
        isinstance(X, list | tuple)
        and len(X) > 0
        and all(isinstance(series, np.ndarray) and series.ndim == 2 for series in X)
    )


def _ndim(X):
    """X's number of dimensions, or None for what numpy cannot make an array of (ragged lists)."""
    ndim = getattr(X, "ndim", None)
    if ndim is not None:
        return ndim
    try:  # through __array__, as validation will (np.ndim would ask __array_function__)
        return np.asarray(X).ndim
    except ValueError:
        return None


# The MLP estimators' methods that take X, and how their docstrings describe it.
_METHODS_TAKING_X = (
    "fit",
    "partial_fit",
    "predict",
    "predict_proba",
    "predict_log_proba",
    "decision_function",
    "score",
)
_ROWS_DESCRIBED = {
    "to data matrix X": "to series X",
    "X : {array-like, sparse matrix} of shape (n_samples, n_features)": (
        "X : array-like of shape (n_samples, n_channels, n_timepoints) or (n_samples, "
        "n_timepoints), or list of arrays of shape (n_channels, n_timepoints_i)"
    ),
    "X_val : {array-like, sparse matrix} of shape (n_val, n_features)": (
        "X_val : array-like or list of arrays, series as X"
    ),
}


def _series_methods(estimator_class):
    """``estimator_class``'s methods that take X, as methods whose docstrings say series.

    Each calls the inherited method unchanged; only the docstring differs
    (and ``available_if`` conditions are kept), so that ``help()`` and the
    API reference describe what the sequence estimators accept.
    """
    methods = {}
    for name in _METHODS_TAKING_X:
        attribute = inspect.getattr_static(estimator_class, name, None)
        if attribute is None:
            continue
        inherited = getattr(attribute, "fn", attribute)  # available_if keeps the method as fn

        @functools.wraps(inherited)
        def method(self, *args, _inherited=inherited, **kwargs):
            return _inherited(self, *args, **kwargs)

        for rows, series in _ROWS_DESCRIBED.items():
            method.__doc__ = method.__doc__.replace(rows, series)
        if hasattr(attribute, "check"):
            method = available_if(attribute.check)(method)
        methods[name] = method
    return methods


class _SequenceInput:
    """What the sequence estimators change in the MLP estimators: series in, blocks first."""

    def _architecture(self):
        return SequenceArchitecture(vars(self))

    def _validated_X_y(self, X, y, first_call):
        if _is_list_of_series(X) or (_ndim(X) or 2) > 2:
            series = self._series(X, self._training_dtype(), first_call)
            y = validate_data(
                self, y=y, multi_output=True, y_numeric=self._is_regressor(), reset=first_call
            )
            check_consistent_length(series.values, y)
            return series, y
        X, y = validate_data(
            self,
            X,
            y,
            dtype=self._training_dtype(),
            multi_output=True,
            y_numeric=self._is_regressor(),
            reset=first_call,
        )
        return self._one_channel(X, first_call), y

    def _is_regressor(self):
        return not hasattr(self, "predict_proba")

    def _input_to_predict(self, X):
        if isinstance(X, Series):  # already validated (the validation rows of early stopping)
            return X
        return self._validated_to_predict(X, "X")

    def _validated_X_val(self, X_val, dtype):
        return self._validated_to_predict(X_val, "X_val", dtype)

    def _validated_to_predict(self, X, name, dtype=_FLOAT_DTYPES):
        if _is_list_of_series(X) or (_ndim(X) or 2) > 2:
            return self._series(X, dtype, reset=False, name=name)
        if name == "X":
            X = validate_data(self, X, dtype=dtype, reset=False)
        else:
            X = check_array(X, dtype=dtype, input_name=name, estimator=self)
        return self._one_channel(X, reset=False, name=name)

    def _one_channel(self, X, reset, name="X"):
        """A 2-D X (validated) as series of one channel."""
        series = Series(np.ascontiguousarray(X[:, :, None]), form="rows")
        self._check_channels(series, reset, name)
        return series

    def _series(self, X, dtype, reset, name="X"):
        """3-D or listed series, checked, as a :class:`Series` (channels last)."""
        if sp.issparse(X):  # scikit-learn's own TypeError, which names sparse data
            check_array(X, accept_sparse=False, input_name=name, estimator=self)
        if _is_list_of_series(X):
            arrays = [
                check_array(series, dtype=dtype, input_name=f"{name}[{index}]", estimator=self)
                for index, series in enumerate(X)
            ]
            channels = {array.shape[0] for array in arrays}
            if len(channels) > 1:
                raise ValueError(
                    f"The series of {name} have {sorted(channels)} channels: every series "
                    "needs the same channels."
                )
            dtype = np.result_type(*arrays)
            series = Series.padded([array.T for array in arrays], dtype)
        else:
            if _ndim(X) is None:
                raise ValueError(
                    f"{name} must be {_SHAPES}; got a ragged nested sequence. Pass series of "
                    "unequal lengths as a list of 2-D numpy arrays."
                )
            array = check_array(X, allow_nd=True, dtype=dtype, input_name=name, estimator=self)
            if array.ndim != 3:
                raise ValueError(f"{name} must be {_SHAPES}; got a {array.ndim}-D array.")
            if array.shape[2] == 0:
                raise ValueError(
                    f"{name} has series of no timepoints (shape {array.shape}): a series "
                    "needs at least one."
                )
            series = Series(np.ascontiguousarray(array.transpose(0, 2, 1)))
        if reset:
            self.__dict__.pop("n_features_in_", None)  # timepoints: a 2-D X's contract only
        self._check_channels(series, reset, name)
        return series

    def _check_channels(self, series, reset, name):
        n_channels = series.shape[2]
        if reset:
            self.n_channels_in_ = n_channels
        elif n_channels != self.n_channels_in_:
            raise ValueError(
                f"{name} has {n_channels} channels, but {type(self).__name__} was fitted "
                f"with {self.n_channels_in_} channels."
            )

    def _in_input_layout(self, values, X):
        """Per-step ``values`` of series X (validated) in the layout X was given in."""
        return X.in_given_layout(values)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.three_d_array = True
        return tags


_SEQUENCE_ATTRIBUTES = """\
conv_coefs_ : list of ndarray or None
    Weights of each convolution block, ``(filters, in_channels,
    kernel_size)`` as PyTorch's ``Conv1d.weight``. None without blocks.

conv_intercepts_ : list of ndarray or None
    Bias of each convolution block, ``(filters,)``.

conv_gammas_, conv_betas_, conv_running_means_, conv_running_variances_ : \
list of ndarray or None
    Each block's batch normalization (None without it), as ``gammas_`` ...
    are the dense layers'.

recurrent_input_coefs_, recurrent_hidden_coefs_ : list of ndarray or None
    Each recurrent layer's weights, ``(gates * units, inputs)`` and
    ``(gates * units, units)`` as PyTorch's ``weight_ih_l0`` and
    ``weight_hh_l0`` (gates ``r``, ``z``, ``n`` for a GRU). None without
    recurrent layers.

recurrent_input_intercepts_, recurrent_hidden_intercepts_ : list of ndarray \
or None
    Their biases, ``(gates * units,)``, as ``bias_ih_l0`` and ``bias_hh_l0``.

n_channels_in_ : int
    Channels of the series seen in fit.
"""

_CLASSIFIER_DOC = """Time-series classifier: convolution blocks, pooling over time, then an MLP.

A scikit-learn classifier of series, trained by backpropagation: 1-D
convolution blocks (each with batch normalization and an activation) turn
each series into channels over time, pooling over time makes them one row
per series, and dense layers and a softmax (or logistic) output classify
it. Everything else is :class:`BackpropClassifier`'s: solvers, schedules,
penalties, dropout (on the dense layers), early stopping, warm start and
``partial_fit``.

Series are 3-D arrays ``(n_samples, n_channels, n_timepoints)``, 2-D arrays
``(n_samples, n_timepoints)`` (one channel), or lists of 2-D arrays
``(n_channels, n_timepoints_i)`` of unequal lengths.

Parameters
----------
{parameters}

class_weight : dict, "balanced" or None, default=None
    Weight of each class in the loss, as ``{label: weight}``; ``"balanced"``
    weighs each class by ``n_samples / (n_classes * n_samples_of_class)``.

Attributes
----------
classes_ : ndarray of shape (n_classes,)
    Class labels.

{sequence_attributes}

{attributes}

See Also
--------
BackpropSequenceRegressor : The same network for regression.
BackpropClassifier : The MLP classifier of rows.

Examples
--------
>>> import numpy as np
>>> from skbackprop import BackpropSequenceClassifier
>>> rng = np.random.default_rng(0)
>>> t = np.linspace(0, 1, 40)
>>> y = rng.integers(0, 2, 60)
>>> X = np.sin(2 * np.pi * (2 + 2 * y[:, None]) * t)[:, None, :]  # 60 series, 1 channel
>>> X = X + 0.3 * rng.normal(size=X.shape)
>>> clf = BackpropSequenceClassifier((8, 8), (5, 3), max_iter=50, random_state=0)
>>> clf.fit(X, y).score(X, y) > 0.9
True
"""

_REGRESSOR_DOC = """Time-series regressor: convolution blocks, pooling over time, then an MLP.

A scikit-learn regressor of series, trained by backpropagation: the
network of :class:`BackpropSequenceClassifier` with
:class:`BackpropRegressor`'s outputs and losses (squared error, absolute,
Huber, Poisson, quantiles).

Series are 3-D arrays ``(n_samples, n_channels, n_timepoints)``, 2-D arrays
``(n_samples, n_timepoints)`` (one channel), or lists of 2-D arrays
``(n_channels, n_timepoints_i)`` of unequal lengths.

Parameters
----------
{parameters}

loss : {"squared_error", "absolute_error", "huber", "poisson", "quantile"}, \
default="squared_error"
    The loss minimised, as :class:`BackpropRegressor`'s.

huber_delta : float, default=1.0
    The Huber loss's threshold (``loss="huber"``).

quantile : float or sequence of float, default=0.5
    The quantile level(s) of ``loss="quantile"``.

Attributes
----------
{sequence_attributes}

{attributes}

See Also
--------
BackpropSequenceClassifier : The same network for classification.
BackpropRegressor : The MLP regressor of rows.

Examples
--------
>>> import numpy as np
>>> from skbackprop import BackpropSequenceRegressor
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(80, 2, 30))  # 80 series of 2 channels
>>> y = X[:, 0].mean(axis=1) - X[:, 1].max(axis=1)
>>> reg = BackpropSequenceRegressor((8,), (3,), max_iter=100, random_state=0)
>>> reg.fit(X, y).predict(X[:2]).shape
(2,)
"""


class BackpropSequenceClassifier(_SequenceInput, BackpropClassifier):
    _parameter_constraints: dict = {
        **BackpropClassifier._parameter_constraints,
        **_SEQUENCE_CONSTRAINTS,
    }
    __doc__ = _docs.fill(
        _CLASSIFIER_DOC,
        parameters=_docs.sequence_parameters(
            split="stratified by class",
            score="accuracy",
            defaults={**_docs.SEQUENCE_DEFAULTS, **_docs.SEQUENCE_CLASSIFIER_DEFAULTS},
        ),
        sequence_attributes=_SEQUENCE_ATTRIBUTES,
        attributes=_docs.attributes(
            score="accuracy",
            out_activations='"softmax" (multiclass) or "logistic" (binary, multilabel)',
        ),
    )

    # scikit-learn reads an estimator's parameters from its __init__ signature:
    # BackpropClassifier's, with the blocks' first and the sequence defaults.
    def __init__(
        self,
        conv_filters=(64, 64, 64),
        kernel_sizes=(7, 5, 3),
        recurrent_units=(),
        pooling="average",
        hidden_layer_sizes=(),
        activation="relu",
        *,
        cell="gru",
        bptt_truncate=None,
        class_weight=None,
        solver="adam",
        batch_size="auto",
        learning_rate_init=0.01,
        learning_rate="adaptive",
        power_t=0.5,
        warmup_iter=0,
        max_iter=300,
        max_fun=15000,
        l1=0.0,
        l2=0.0001,
        dropout=0.0,
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        rho=0.9,
        epsilon=1e-8,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-5,
        scoring=None,
        clip_gradient_norm=None,
        shuffle=True,
        random_state=None,
        verbose=0,
        warm_start=False,
        batch_normalization=True,
        batch_normalization_momentum=0.9,
        residual=False,
        dtype="auto",
        init="glorot_uniform",
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            class_weight=class_weight,
            solver=solver,
            batch_size=batch_size,
            learning_rate_init=learning_rate_init,
            learning_rate=learning_rate,
            power_t=power_t,
            warmup_iter=warmup_iter,
            max_iter=max_iter,
            max_fun=max_fun,
            l1=l1,
            l2=l2,
            dropout=dropout,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            beta_1=beta_1,
            beta_2=beta_2,
            rho=rho,
            epsilon=epsilon,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            scoring=scoring,
            clip_gradient_norm=clip_gradient_norm,
            shuffle=shuffle,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            batch_normalization=batch_normalization,
            batch_normalization_momentum=batch_normalization_momentum,
            residual=residual,
            dtype=dtype,
            init=init,
        )
        self.conv_filters = conv_filters
        self.kernel_sizes = kernel_sizes
        self.recurrent_units = recurrent_units
        self.pooling = pooling
        self.cell = cell
        self.bptt_truncate = bptt_truncate

    def _batch_size(self, n_samples):
        # Measured on the UCR/UEA sets (the user guide's "Defaults" of the sequence
        # estimators): below two batches' worth of series, one batch generalised
        # better; from there on, batches of 32 with the adaptive schedule did, and
        # gave the same accuracy on every seed tried.
        if self.batch_size == "auto":
            return n_samples if n_samples < 2 * SERIES_BATCH_SIZE else SERIES_BATCH_SIZE
        return super()._batch_size(n_samples)


class BackpropSequenceRegressor(_SequenceInput, BackpropRegressor):
    _parameter_constraints: dict = {
        **BackpropRegressor._parameter_constraints,
        **_SEQUENCE_CONSTRAINTS,
    }
    __doc__ = _docs.fill(
        _REGRESSOR_DOC,
        parameters=_docs.sequence_parameters(split="at random", score="R^2"),
        sequence_attributes=_SEQUENCE_ATTRIBUTES,
        attributes=_docs.attributes(
            score="R^2", out_activations='"identity" (or "exp" for loss="poisson")'
        ),
    )

    # As BackpropSequenceClassifier: the regressor's signature, blocks first.
    def __init__(
        self,
        conv_filters=(64, 64, 64),
        kernel_sizes=(7, 5, 3),
        recurrent_units=(),
        pooling="average",
        hidden_layer_sizes=(),
        activation="relu",
        *,
        cell="gru",
        bptt_truncate=None,
        loss="squared_error",
        huber_delta=1.0,
        quantile=0.5,
        solver="adam",
        batch_size="auto",
        learning_rate_init=0.01,
        learning_rate="constant",
        power_t=0.5,
        warmup_iter=0,
        max_iter=200,
        max_fun=15000,
        l1=0.0,
        l2=0.0001,
        dropout=0.0,
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        rho=0.9,
        epsilon=1e-8,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        scoring=None,
        clip_gradient_norm=None,
        shuffle=True,
        random_state=None,
        verbose=0,
        warm_start=False,
        batch_normalization=True,
        batch_normalization_momentum=0.9,
        residual=False,
        dtype="auto",
        init="glorot_uniform",
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            loss=loss,
            huber_delta=huber_delta,
            quantile=quantile,
            solver=solver,
            batch_size=batch_size,
            learning_rate_init=learning_rate_init,
            learning_rate=learning_rate,
            power_t=power_t,
            warmup_iter=warmup_iter,
            max_iter=max_iter,
            max_fun=max_fun,
            l1=l1,
            l2=l2,
            dropout=dropout,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            beta_1=beta_1,
            beta_2=beta_2,
            rho=rho,
            epsilon=epsilon,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            scoring=scoring,
            clip_gradient_norm=clip_gradient_norm,
            shuffle=shuffle,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            batch_normalization=batch_normalization,
            batch_normalization_momentum=batch_normalization_momentum,
            residual=residual,
            dtype=dtype,
            init=init,
        )
        self.conv_filters = conv_filters
        self.kernel_sizes = kernel_sizes
        self.recurrent_units = recurrent_units
        self.pooling = pooling
        self.cell = cell
        self.bptt_truncate = bptt_truncate


for _estimator, _parent in (
    (BackpropSequenceClassifier, BackpropClassifier),
    (BackpropSequenceRegressor, BackpropRegressor),
):
    for _name, _method in _series_methods(_parent).items():
        setattr(_estimator, _name, _method)
