"""ONNX export through skl2onnx (optional extra ``skbackprop[onnx]``).

Call :func:`register_converters` once; from then on ``skl2onnx.to_onnx``
converts BackpropClassifier and BackpropRegressor, alone or inside a
Pipeline, like any scikit-learn estimator::

    from skl2onnx import to_onnx
    from skbackprop.onnx import register_converters

    register_converters()
    onx = to_onnx(model, X[:1].astype(np.float32), options={"zipmap": False})

The graph is the forward pass itself, ``z = a W + b`` and the activation,
layer after layer; the classifier adds the label (arg-max, or a 0.5
threshold per label for multilabel targets), of the same dtype as
``predict``'s, and the probabilities; the regressor returns its outputs as
an ``(n_samples, n_outputs)`` tensor. Exporting an unfitted model raises
``NotFittedError``.

The sequence estimators export with ONNX's ``Conv``, ``GRU`` and ``RNN``
(which onnxruntime runs in float32 only: a float64 graph casts around them)
and take series of equal lengths, ``(n_samples, n_channels, n_timepoints)``,
or ``(n_samples, n_timepoints)`` for one channel; the lengths may differ from
fit's. For series of unequal lengths, export with a second input, each
series' number of timepoints, and run the graph on the series padded at the
end (:func:`pad_series` makes both from a list)::

    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType

    onx = to_onnx(model, initial_types=[
        ("X", FloatTensorType([None, n_channels, None])),
        ("lengths", Int64TensorType([None])),
    ], options={"zipmap": False})
    X_padded, lengths = pad_series(series)

The padding's values are ignored, as ``predict`` ignores them.
"""

import math

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._activations import LEAKY_RELU_SLOPE
from ._estimators import BackpropClassifier, BackpropRegressor
from ._model import fitted_model
from ._sequence_estimators import BackpropSequenceClassifier, BackpropSequenceRegressor
from ._series import Series

_EXTRA_HINT = (
    'ONNX export needs skl2onnx (and onnxruntime to run the result): pip install "skbackprop[onnx]"'
)


def register_converters():
    """Register skbackprop's estimators with skl2onnx.

    Safe to call more than once.

    Raises
    ------
    ImportError
        If skl2onnx is not installed; the message names the extra to install.
    """
    try:
        from skl2onnx import _parse, update_registered_converter
    except ImportError as error:
        raise ImportError(_EXTRA_HINT) from error
    for classifier in (BackpropClassifier, BackpropSequenceClassifier):
        update_registered_converter(
            classifier,
            f"Skbackprop{classifier.__name__}",
            _classifier_shapes,
            _convert_classifier,
            parser=_fitted_only(_parse._parse_sklearn_classifier),
            options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
        )
    for regressor in (BackpropRegressor, BackpropSequenceRegressor):
        update_registered_converter(
            regressor,
            f"Skbackprop{regressor.__name__}",
            _regressor_shapes,
            _convert_regressor,
            parser=_fitted_only(_parse._parse_sklearn_simple_model),
        )


def pad_series(series, dtype=np.float32):
    """Series of unequal lengths as the two inputs of a graph exported with lengths.

    Parameters
    ----------
    series : list of array-like of shape (n_channels, n_timepoints_i)
        The series, as the sequence estimators take them in a list.

    dtype : numpy dtype, default=np.float32
        The dtype of the padded values: the exported graph's input dtype.

    Returns
    -------
    X : ndarray of shape (n_samples, n_channels, max_i n_timepoints_i)
        The series, padded with zeros at the end.

    lengths : ndarray of shape (n_samples,), dtype int64
        Each series' number of timepoints.
    """
    arrays = [np.asarray(array, dtype=dtype) for array in series]
    if not arrays or any(array.ndim != 2 or array.shape[1] == 0 for array in arrays):
        raise ValueError(
            "pad_series takes a non-empty list of series of shape (n_channels, n_timepoints_i) "
            "with at least one timepoint each."
        )
    if len({array.shape[0] for array in arrays}) > 1:
        raise ValueError("The series have different numbers of channels.")
    batch = Series.padded([array.T for array in arrays], dtype)  # as fit and predict pad them
    lengths = np.array([array.shape[1] for array in arrays], dtype=np.int64)
    return np.ascontiguousarray(batch.values.transpose(0, 2, 1)), lengths


def _fitted_only(parse):
    """skl2onnx's own parser, after the check that the model is fitted.

    Without it an unfitted classifier fails in skl2onnx with an opaque
    RuntimeError about its number of classes.
    """

    def parser(scope, model, inputs, custom_parsers=None):
        check_is_fitted(model)
        return parse(scope, model, inputs, custom_parsers=custom_parsers)

    return parser


def _tensor_type(operator):
    """The input's float tensor type (float32 unless the input is float64)."""
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    if isinstance(operator.inputs[0].type, DoubleTensorType):
        return DoubleTensorType, np.float64
    return FloatTensorType, np.float32


# The label tensor type for each dtype ``predict`` can return (skl2onnx's names).
_LABEL_TENSOR_TYPES = {
    "bool": "BooleanTensorType",
    "int8": "Int8TensorType",
    "int16": "Int16TensorType",
    "int32": "Int32TensorType",
    "int64": "Int64TensorType",
    "uint8": "UInt8TensorType",
    "uint16": "UInt16TensorType",
    "uint32": "UInt32TensorType",
    "uint64": "UInt64TensorType",
    "float32": "FloatTensorType",
    "float64": "DoubleTensorType",
}
# What onnxruntime's ArrayFeatureExtractor can look labels up in; other
# dtypes are looked up as int64 and cast.
_EXTRACTABLE = {"int32", "int64", "float32", "float64"}


def _label_dtype(model):
    """The dtype of ``model.predict``'s labels: a numpy dtype, or None for strings."""
    if fitted_model(model).target_type == "multilabel-indicator":
        return np.dtype(np.int64)
    return None if model.classes_.dtype.kind in "OUS" else model.classes_.dtype


def _classifier_shapes(operator):
    from skl2onnx.common import data_types

    model = operator.raw_operator
    n_rows = operator.inputs[0].get_first_dimension()
    n_classes = len(model.classes_)
    dtype = _label_dtype(model)
    if dtype is None:
        label_type = data_types.StringTensorType
    elif dtype.name in _LABEL_TENSOR_TYPES:
        label_type = getattr(data_types, _LABEL_TENSOR_TYPES[dtype.name])
    else:
        raise NotImplementedError(f"ONNX export of class labels of dtype {dtype} is not supported.")
    multilabel = fitted_model(model).target_type == "multilabel-indicator"
    operator.outputs[0].type = label_type([n_rows, n_classes] if multilabel else [n_rows])
    float_type, _ = _tensor_type(operator)
    operator.outputs[1].type = float_type([n_rows, n_classes])


def _regressor_shapes(operator):
    float_type, _ = _tensor_type(operator)
    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = float_type([n_rows, operator.raw_operator.n_outputs_])


class _Graph:
    """The ONNX vocabulary the layers write their forward passes in (see ``Layer.onnx``)."""

    def __init__(self, dtype, opset):
        from skl2onnx.algebra import onnx_ops

        self.ops, self.dtype, self.opset = onnx_ops, dtype, opset
        # With series of unequal lengths: each one's length, and which steps are valid
        # (rows, 1, steps); see ``with_lengths``.
        self.lengths = self.lengths_column = self.valid = None
        # The newer activations from primitives, each the way numpy computes it here
        # (several of ONNX's own, LeakyRelu among them, run in float32 only in onnxruntime).
        self.hidden = {
            "identity": lambda z: self.op("Identity", z),
            "logistic": lambda z: self.op("Sigmoid", z),
            "tanh": lambda z: self.op("Tanh", z),
            "relu": lambda z: self.op("Relu", z),
            # max(z, slope * z)
            "leaky_relu": lambda z: self.op(
                "Max", z, self.op("Mul", z, self.constant(LEAKY_RELU_SLOPE))
            ),
            # max(z, exp(min(z, 0)) - 1)
            "elu": lambda z: self.op(
                "Max",
                z,
                self.op(
                    "Sub", self.op("Exp", self.op("Min", z, self.constant(0.0))), self.constant(1.0)
                ),
            ),
            # z * (1 + erf(z / sqrt(2))) / 2
            "gelu": lambda z: self.op(
                "Mul",
                self.op("Mul", z, self.constant(0.5)),
                self.op(
                    "Add",
                    self.constant(1.0),
                    self._erf(self.op("Mul", z, self.constant(1 / math.sqrt(2)))),
                ),
            ),
            "silu": lambda z: self.op("Mul", z, self.op("Sigmoid", z)),
            # max(z, 0) + log(1 + exp(-|z|)), which never overflows
            "softplus": lambda z: self.op(
                "Add",
                self.op("Relu", z),
                self.op(
                    "Log",
                    self.op(
                        "Add", self.constant(1.0), self.op("Exp", self.op("Neg", self.op("Abs", z)))
                    ),
                ),
            ),
        }
        self.outputs = {
            "identity": self.hidden["identity"],
            "logistic": self.hidden["logistic"],
            "softmax": lambda z: self.op("Softmax", z, axis=1),
            "exp": lambda z: self.op("Exp", z),  # loss="poisson"
        }

    def op(self, name, *inputs, **attributes):
        return getattr(self.ops, f"Onnx{name}")(*inputs, op_version=self.opset, **attributes)

    def constant(self, value):
        return np.array([value], dtype=self.dtype)

    def _erf(self, x):
        # onnxruntime has Erf for float32 only: a float64 graph computes it in float32
        # (relative error about 1e-7 in the GELU's output).
        if np.dtype(self.dtype) == np.float32:
            return self.op("Erf", x)
        single = self.op("Erf", self.op("Cast", x, to=_onnx_type(np.float32)))
        return self.op("Cast", single, to=_onnx_type(self.dtype))

    def affine(self, x, coef, intercept):
        """``x W + b``."""
        product = self.op("MatMul", x, coef.astype(self.dtype))
        return self.op("Add", product, intercept.astype(self.dtype))

    def add(self, a, b):
        return self.op("Add", a, b)

    # -- series, (rows, channels, steps) as ONNX's Conv, RNN and GRU take them --------

    def with_lengths(self, x, lengths):
        """Mark the steps of ``x`` that each series' ``lengths`` cover; ``x`` with zeros past them.

        From here on the blocks zero their outputs past each series' end, the
        recurrent layers take ``lengths`` as their ``sequence_lens``, and
        pooling reads the valid steps only, as ``predict`` does.
        """
        int64 = np.int64
        n_steps = self.op("Slice", self.op("Shape", x), np.array([2], int64), np.array([3], int64))
        steps = self.op(
            "Range", np.array(0, int64), self.op("Squeeze", n_steps), np.array(1, int64)
        )
        self.lengths = lengths
        self.lengths_column = self.op("Unsqueeze", lengths, np.array([1], int64))  # (rows, 1)
        below = self.op(
            "Less", self.op("Unsqueeze", steps, np.array([0], int64)), self.lengths_column
        )
        self.valid = self.op("Unsqueeze", below, np.array([1], int64))  # (rows, 1, steps)
        return self.on_valid_steps(x)

    def on_valid_steps(self, x):
        """``x`` with zeros past each series' length (``x`` itself without lengths)."""
        if self.valid is None:
            return x
        return self.op("Where", self.valid, x, np.zeros(1, dtype=self.dtype))

    def _reduce(self, name, x):
        """ONNX's ``Reduce<name>`` over the steps (axis 2); the axes became an input in time."""
        axes = np.array([2], dtype=np.int64)
        if self.opset >= (13 if name == "Sum" else 18):
            return self.op(f"Reduce{name}", x, axes, keepdims=0)
        return self.op(f"Reduce{name}", x, axes=[2], keepdims=0)

    def conv(self, x, coef, intercept, pads):
        """A 1-D convolution, weights ``(out, in, taps)``, zero ``pads`` (before, after).

        onnxruntime runs Conv in float32 only: a float64 graph casts around it.
        """
        single = np.float32
        if np.dtype(self.dtype) != single:
            x = self.op("Cast", x, to=_onnx_type(single))
        z = self.op("Conv", x, coef.astype(single), intercept.astype(single), pads=list(pads))
        if np.dtype(self.dtype) != single:
            z = self.op("Cast", z, to=_onnx_type(self.dtype))
        return z

    def pool(self, x, how):
        """Each channel's mean, maximum or last value over the (valid) steps (axis 2)."""
        int64 = np.int64
        if how == "last":
            if self.lengths is None:
                last = self.op(
                    "Slice",
                    x,
                    np.array([-1], int64),
                    np.array([np.iinfo(int64).max], int64),
                    np.array([2], int64),
                )
            else:  # the step at length - 1 of each row, for every channel
                at = self.op(
                    "Reshape",
                    self.op("Sub", self.lengths, np.array([1], int64)),
                    np.array([-1, 1, 1], int64),
                )
                rows_channels = self.op(
                    "Slice", self.op("Shape", x), np.array([0], int64), np.array([2], int64)
                )
                shape = self.op("Concat", rows_channels, np.array([1], int64), axis=0)
                last = self.op("GatherElements", x, self.op("Expand", at, shape), axis=2)
            return self.op("Squeeze", last, np.array([2], int64))
        if self.lengths is None:
            return self._reduce("Mean" if how == "average" else "Max", x)
        if how == "max":
            lowest = np.array([-np.inf], dtype=self.dtype)
            return self._reduce("Max", self.op("Where", self.valid, x, lowest))
        total = self._reduce("Sum", self.on_valid_steps(x))
        counts = self.op("Cast", self.lengths_column, to=_onnx_type(self.dtype))
        return self.op("Div", total, counts)

    def recurrent(self, x, kind, weights, recurrence, bias, units):
        """ONNX's ``GRU`` or ``RNN`` over ``x`` (rows, channels, steps), its states likewise.

        ``weights``, ``recurrence`` and ``bias`` in ONNX's layouts and gate
        order. onnxruntime runs these in float32 only: a float64 graph casts
        around them.
        """
        single = np.float32
        steps_first = self.op("Transpose", x, perm=[2, 0, 1])  # (steps, rows, channels)
        if np.dtype(self.dtype) != single:
            steps_first = self.op("Cast", steps_first, to=_onnx_type(single))
        arrays = [array.astype(single)[None] for array in (weights, recurrence, bias)]
        options = {"hidden_size": units}
        if kind == "GRU":
            options["linear_before_reset"] = 1  # r * (W_hn h + b_hn), as PyTorch's
        else:
            options["activations"] = ["Tanh"]
        if self.lengths is not None:  # past a series' length its states are zero
            arrays.append(self.op("Cast", self.lengths, to=_onnx_type(np.int32)))
        states = self.op(kind, steps_first, *arrays, **options)[0]  # (steps, 1, rows, units)
        states = self.op("Squeeze", states, np.array([1], dtype=np.int64))
        if np.dtype(self.dtype) != single:
            states = self.op("Cast", states, to=_onnx_type(self.dtype))
        return self.op("Transpose", states, perm=[1, 2, 0])

    def channels_first(self, x):
        """A 2-D input of one channel's series, ``(rows, steps)``, as ``(rows, 1, steps)``."""
        return self.op("Unsqueeze", x, np.array([1], dtype=np.int64))

    def activation(self, name, z):
        return self.hidden[name](z)

    def output_activation(self, name, z):
        return self.outputs[name](z)


def _forward(fitted, operator, dtype, opset):
    """The network's output activations as an ONNX expression of the operator's inputs.

    X, and for series of unequal lengths each one's length (a second input).
    """
    X, *lengths = operator.inputs
    rank = len(X.type.shape)
    if lengths and not (fitted.takes_series and rank == 3 and len(lengths) == 1):
        raise ValueError(
            "A second input, each series' length, is for the sequence estimators with 3-D "
            f"series (n_samples, n_channels, n_timepoints); got {len(operator.inputs)} inputs "
            f"and a {rank}-D X."
        )
    graph = _Graph(dtype, opset)
    x = graph.op("Cast", X, to=_onnx_type(dtype))
    if fitted.takes_series and rank == 2:  # one channel's series, (rows, steps)
        x = graph.channels_first(x)
    if lengths:
        x = graph.with_lengths(x, graph.op("Cast", lengths[0], to=_onnx_type(np.int64)))
    return fitted.onnx(x, graph)


def _onnx_type(dtype):
    from onnx.helper import np_dtype_to_tensor_dtype

    return np_dtype_to_tensor_dtype(np.dtype(dtype))


def _convert_classifier(scope, operator, container):
    from onnx import TensorProto
    from skl2onnx.algebra import onnx_ops as ops

    model, opset = operator.raw_operator, container.target_opset
    _, dtype = _tensor_type(operator)
    label_name, proba_name = operator.outputs[0], operator.outputs[1]
    fitted = fitted_model(model)
    output = _forward(fitted, operator, dtype, opset)
    kind = fitted.target_type
    if kind == "binary":
        negative = ops.OnnxSub(np.array([1], dtype=dtype), output, op_version=opset)
        proba = ops.OnnxConcat(negative, output, axis=1, op_version=opset)
    else:
        proba = output
    ops.OnnxIdentity(proba, op_version=opset, output_names=[proba_name]).add_to(scope, container)

    label_dtype = _label_dtype(model)
    if kind == "multilabel-indicator":
        above = ops.OnnxGreater(output, np.array([0.5], dtype=dtype), op_version=opset)
        label = ops.OnnxCast(above, to=TensorProto.INT64, op_version=opset)
    else:
        index = ops.OnnxArgMax(proba, axis=1, keepdims=0, op_version=opset)
        if label_dtype is None:
            classes = model.classes_.astype(str)
        elif label_dtype.name in _EXTRACTABLE:
            classes = model.classes_
        else:
            classes = model.classes_.astype(np.int64)
        label = ops.OnnxArrayFeatureExtractor(classes, index, op_version=opset)
        label = ops.OnnxReshape(label, np.array([-1], dtype=np.int64), op_version=opset)
        if label_dtype is not None and label_dtype != classes.dtype:
            label = ops.OnnxCast(label, to=_onnx_type(label_dtype), op_version=opset)
    ops.OnnxIdentity(label, op_version=opset, output_names=[label_name]).add_to(scope, container)


def _convert_regressor(scope, operator, container):
    from skl2onnx.algebra import onnx_ops as ops

    model, opset = operator.raw_operator, container.target_opset
    _, dtype = _tensor_type(operator)
    fitted = fitted_model(model)
    output = _forward(fitted, operator, dtype, opset)
    levels = fitted.quantile_levels
    if levels is not None:  # sorted per target as predict sorts them
        output = _sorted_by_level(output, levels, model.n_outputs_, opset)
    ops.OnnxIdentity(output, op_version=opset, output_names=[operator.outputs[0]]).add_to(
        scope, container
    )


def _sorted_by_level(output, levels, n_outputs, opset):
    """The graph of ``_estimators._sorted_by_level``: sort each target's levels, then reorder."""
    from skl2onnx.algebra import onnx_ops as ops

    n_levels = len(levels)
    grouped = ops.OnnxReshape(
        output, np.array([-1, n_outputs // n_levels, n_levels], dtype=np.int64), op_version=opset
    )
    ascending = ops.OnnxTopK(
        grouped,
        np.array([n_levels], dtype=np.int64),
        axis=2,
        largest=0,
        sorted=1,
        op_version=opset,
    )[0]
    rank = np.argsort(np.argsort(levels)).astype(np.int64)
    ranked = ops.OnnxGather(ascending, rank, axis=2, op_version=opset)
    return ops.OnnxReshape(ranked, np.array([-1, n_outputs], dtype=np.int64), op_version=opset)
