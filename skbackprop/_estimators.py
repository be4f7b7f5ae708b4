"""The scikit-learn layer: parameters, validation, target encoding, fit / partial_fit / predict.

The training core (``_layers``, ``_network``, ``_losses``, ``_activations``,
``_solvers``, ``_training``) knows nothing of scikit-learn; the model layer
(``_model``, ``_fit_plan``) turns this module's parameters and fitted
attributes into the core's objects. This module is the scikit-learn face,
with ``_early_stopping`` for the validation data and ``_callbacks`` for
scikit-learn's callback API. BackpropClassifier and BackpropRegressor share
``_BaseBackprop`` and differ only in how they encode targets, which output
activation they pick and which score early stopping uses.
"""

import copy
import functools
from abc import ABCMeta, abstractmethod
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from . import _docs, _warnings
from ._activations import HIDDEN_ACTIVATIONS
from ._callbacks import CALLBACK_STATE, CallbackSupportMixin, fit_task, with_callbacks
from ._early_stopping import EarlyStoppingData
from ._fit_plan import fit_threads, fitted_state, history_to_continue, solver_to_train, trainer_for
from ._initializers import INITIALIZERS, user_initializer
from ._losses import LOSSES, AbsoluteError, Huber, Pinball
from ._model import (
    Architecture,
    dropout_rates,
    fitted_attributes,
    fitted_model,
    in_order,
    keep_predicting_network,
    network_outputs,
    network_to_train,
    predicting_network,
    prediction_numerics,
)
from ._solvers import SOLVERS
from ._training import TrainingData, _CtrlC

AUTO_BATCH_SIZE = 200
# The dtypes the network computes in: float32 input stays float32, the rest becomes float64.
_FLOAT_DTYPES = (np.float64, np.float32)


def _float_errors_handled(method):
    """Run ``method`` under :func:`prediction_numerics`."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with prediction_numerics():
            return method(*args, **kwargs)

    return wrapper


@functools.lru_cache(maxsize=256)
def _seed_of(random_state):
    # Seeding a RandomState costs a tenth of a small partial_fit: once per int.
    return check_random_state(random_state).randint(np.iinfo(np.int32).max)


@functools.cache
def _param_names(cls):
    return tuple(BaseEstimator._get_param_names.__func__(cls))


def _stochastic_solver(estimator):
    """partial_fit exists only for the stochastic solvers, as in scikit-learn."""
    if estimator.solver == "lbfgs":
        raise AttributeError(
            "partial_fit is only available for stochastic solvers; lbfgs is not stochastic."
        )
    return True


@contextmanager
def _restored_on_failure(estimator):
    """Undo every attribute change of ``estimator`` if the block raises.

    Fitting builds new arrays and never writes into the old ones, so a
    shallow copy of ``__dict__`` is enough to keep the previous model usable.
    """
    saved = dict(estimator.__dict__)
    try:
        yield
    except BaseException:
        callback_state = {k: v for k, v in estimator.__dict__.items() if k in CALLBACK_STATE}
        estimator.__dict__.clear()
        estimator.__dict__.update(saved, **callback_state)
        raise


class _BaseBackprop(EarlyStoppingData, CallbackSupportMixin, BaseEstimator, metaclass=ABCMeta):
    """Shared implementation of the backpropagation estimators."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(HIDDEN_ACTIVATIONS)), "array-like"],
        "solver": [StrOptions({*SOLVERS, "lbfgs"})],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive", "cosine"}), callable],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "warmup_iter": [Interval(Integral, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "l1": [Interval(Real, 0, None, closed="left")],
        "l2": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "rho": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "tol": [Interval(Real, 0, None, closed="left")],
        "scoring": [None, StrOptions({"loss"}), str, callable],
        "clip_gradient_norm": [None, Interval(Real, 0, None, closed="neither")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "batch_normalization": ["boolean"],
        "batch_normalization_momentum": [Interval(Real, 0, 1, closed="both")],
        "residual": ["boolean"],
        "dtype": [StrOptions({"auto", "float32", "float64"})],
        "init": [StrOptions(set(INITIALIZERS)), callable],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        batch_size="auto",
        learning_rate_init=0.001,
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
        batch_normalization=False,
        batch_normalization_momentum=0.9,
        residual=False,
        dtype="auto",
        init="glorot_uniform",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.power_t = power_t
        self.warmup_iter = warmup_iter
        self.max_iter = max_iter
        self.max_fun = max_fun
        self.l1 = l1
        self.l2 = l2
        self.dropout = dropout
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.rho = rho
        self.epsilon = epsilon
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.scoring = scoring
        self.clip_gradient_norm = clip_gradient_norm
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.batch_normalization = batch_normalization
        self.batch_normalization_momentum = batch_normalization_momentum
        self.residual = residual
        self.dtype = dtype
        self.init = init

    @classmethod
    def _get_param_names(cls):
        # scikit-learn reads __init__'s signature on every get_params, which every
        # fit and partial_fit calls: a fifth of a 100-row partial_fit. Once per class.
        return list(_param_names(cls))

    # -- what the classifier and the regressor do differently ----------------

    @abstractmethod
    def _encode_targets(self, y, first_call, incremental, classes=None, name="y"):
        """Return ``(y, Y)``: the checked targets and their float matrix for the loss.

        A first call also sets the target attributes (``classes_`` ...); a
        later one (warm start or ``partial_fit``) checks y against them.
        ``name`` is what errors call the targets (``y_val`` for validation's).
        """

    @abstractmethod
    def _output_activation(self):
        """Output activation for the targets seen by ``_encode_targets``."""

    @abstractmethod
    def _decode(self, output):
        """Predictions from output activations."""

    def _loss_function(self, output_activation, n_outputs):
        """The loss training minimises: the canonical one of the output activation."""
        return LOSSES[output_activation]

    def _weigh_samples(self, y, sample_weight, incremental, dtype):
        """The sample weights training uses (the classifier folds in class weights)."""
        return sample_weight

    # -- fitting -------------------------------------------------------------

    def _dropout_rates(self, n_hidden):
        """``dropout`` as one rate per hidden layer (MC-dropout reads it, see ``_model``)."""
        return dropout_rates(self.dropout, n_hidden)

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(AUTO_BATCH_SIZE, n_samples)
        return min(self.batch_size, n_samples)

    def fit(self, X, y, sample_weight=None, X_val=None, y_val=None, sample_weight_val=None):
        """Fit the network to data matrix X and targets y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples. float32 data trains in float32.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets: class labels (or a label indicator matrix) for
            classification, real values for regression.

        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss (and in the penalty's ``n_samples``).

        X_val : {array-like, sparse matrix} of shape (n_val, n_features), default=None
            Validation samples for early stopping, instead of holding out
            ``validation_fraction`` of X: all of X then trains. Needs
            ``early_stopping=True`` and ``y_val``. In a ``Pipeline``, X_val can
            be transformed as X is with ``Pipeline(..., transform_input=["X_val"])``
            (scikit-learn's metadata routing).

        y_val : array-like of shape (n_val,) or (n_val, n_outputs), default=None
            Targets of X_val, of the kind y has (for a classifier, known classes).

        sample_weight_val : array-like of shape (n_val,), default=None
            Weights of the validation samples in the validation loss and score
            (times ``class_weight``, as for the training samples).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        validation = (X_val, y_val, sample_weight_val)
        return self._fit_managed(X, y, sample_weight, incremental=False, validation=validation)

    @with_callbacks
    def _fit_managed(self, X, y, sample_weight, incremental, classes=None, validation=None):
        # Callbacks are torn down whatever happens; the estimator's own state
        # goes back to what it was if the fit fails.
        with _restored_on_failure(self), np.errstate(under="ignore"):
            return self._fit(X, y, sample_weight, incremental, classes, validation)

    def _partial_fit(self, X, y, sample_weight, classes=None):
        return self._fit_managed(X, y, sample_weight, incremental=True, classes=classes)

    def _fit(self, X, y, sample_weight, incremental, classes=None, validation=None):
        """validate -> encode y -> network and solver -> (validation split) -> train -> store."""
        self._validate_params()
        architecture = self._architecture()
        if incremental and self.early_stopping:
            raise ValueError(
                "partial_fit does not support early_stopping=True: there is no "
                "held-out data in a single pass. Use fit, or set early_stopping=False."
            )
        continued = hasattr(self, "coefs_") and (self.warm_start or incremental)
        data = self._training_data(X, y, sample_weight, not continued, incremental, classes)
        validation_set = self._validation_set(validation, data)
        seed = self._seed()
        history, dropped = history_to_continue(vars(self), vars(self) if continued else None)
        rng = np.random.default_rng([seed, 0])
        if continued:
            # Continuing the random stream and the solver's state where the previous call
            # ended makes n epochs and then n more the same as 2n in one call.
            rng.bit_generator.state = self._rng_state
        network = self._network_to_train(data, architecture, continued, rng)
        saved_solver = self._solver_state if continued else None
        solver = solver_to_train(vars(self), network.n_weights, saved_solver)
        max_epochs = 1 if incremental else self.max_iter
        task = "partial_fit" if incremental else "fit"
        snapshot = functools.partial(fitted_attributes, network, copy=True)
        with fit_task(
            self, task, data.X, data.y, data.sample_weight, max_epochs, snapshot
        ) as hooks:
            trainer = self._trainer(network, solver, data, rng, seed, hooks, validation_set)
            with fit_threads(vars(self), trainer, data) as threads, _CtrlC() as ctrl_c:
                # Fits whose thread count may change keep their reductions count-proof.
                trainer.use_threads(
                    threads, blocked_reductions=threads is not None and threads.measuring
                )
                n_epochs, stopped = trainer.run(data, max_epochs, history, ctrl_c=ctrl_c)
                # Training is over: a Ctrl-C now must not leave a half-stored model.
                with ctrl_c.holding():
                    epochs_before = self.n_iter_ - dropped if incremental and continued else 0
                    self._store_fitted(trainer, solver, history, epochs_before + n_epochs)
            if self.solver == "lbfgs" and not stopped:
                _warnings.warn(
                    f"lbfgs failed to converge after {n_epochs} iterations: "
                    f"{trainer.limit_reached(max_epochs)}. Increase max_iter or max_fun, or "
                    "scale the data.",
                    ConvergenceWarning,
                )
            elif not incremental and not stopped and n_epochs == self.max_iter:
                _warnings.warn(
                    f"Stochastic optimizer: maximum iterations ({self.max_iter}) reached and "
                    "the optimization hasn't converged yet.",
                    ConvergenceWarning,
                )
        return self

    def _seed(self):
        """The int seed of this fit: weights, shuffling, dropout and the validation split."""
        if isinstance(self.random_state, Integral):
            return _seed_of(int(self.random_state))
        return check_random_state(self.random_state).randint(np.iinfo(np.int32).max)

    def _training_data(self, X, y, sample_weight, first_call, incremental, classes):
        """Validated X, checked y, its float encoding Y, and the weights training uses."""
        X, y = self._validated_X_y(X, y, first_call)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
        y, Y = self._encode_targets(y, first_call, incremental, classes)
        if X.dtype == np.float32 and np.abs(Y).max(initial=0) > np.finfo(np.float32).max:
            raise ValueError(
                "y has values beyond float32's range (about 3.4e38), but this fit trains in "
                "float32 (dtype='float32', or float32 X with dtype='auto'). Scale y, or set "
                "dtype='float64'."
            )
        sample_weight = self._weigh_samples(y, sample_weight, incremental, X.dtype)
        if sample_weight is not None and not sample_weight.sum() > 0:
            raise ValueError(
                "The effective sample weights (sample_weight times class_weight) sum to "
                "zero: at least one sample must carry a positive weight."
            )
        return TrainingData(X, Y.astype(X.dtype, copy=False), sample_weight, y=y)

    def _validated_X_y(self, X, y, first_call):
        """X and y checked as scikit-learn checks them (``n_features_in_`` set on a first call)."""
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=("csr", "csc"),
            dtype=self._training_dtype(),
            multi_output=True,
            y_numeric=not is_classifier(self),
            reset=first_call,
        )
        # Rows are what batches take, and CSR takes them fastest.
        return (X.tocsr() if sp.issparse(X) else X), y

    def _training_dtype(self):
        """What ``dtype`` asks of X: float32 or float64 as given (auto), or the one named."""
        return _FLOAT_DTYPES if self.dtype == "auto" else self.dtype

    def _architecture(self):
        """The checked layer specification of the parameters."""
        # The parameters as attributes: get_params reads the signature on every call.
        return Architecture(vars(self))

    def _trainer(self, network, solver, data, rng, seed, hooks, validation_set=None):
        """The trainer; early stopping scores ``validation_set`` or rows held out of ``data``."""
        return trainer_for(
            vars(self),
            network,
            self._loss_function(network.output_activation, network.layer_sizes[-1]),
            solver,
            data,
            rng,
            hooks,
            self._batch_size(data.n_rows),
            self._early_stopping_data(network, data, seed, validation_set),
        )

    def _network_to_train(self, data, architecture, continued, rng):
        """A new network of random weights, or (continued) one holding the fitted weights."""
        network = network_to_train(
            architecture,
            data.X.shape[-1],  # columns, or the series' channels
            data.Y.shape[1],
            self._output_activation(),
            data.X.dtype,
            fitted=vars(self) if continued else None,
        )
        if continued:
            return network
        init = self.init if isinstance(self.init, str) else user_initializer(self.init)
        return network.initialize(rng, init)

    def _scored_by_metrics(self):
        """What a ``scoring`` metric scores: this estimator (see the regressor's levels)."""
        return self

    def _outputs_behind_column(self, X, column):
        """For each row of X (validated), the network output that ``predict``'s ``column`` is.

        The output of the same index, unless predict reorders outputs (the
        regressor's quantile levels).
        """
        return np.full(X.shape[0], column)

    def _store_fitted(self, trainer, solver, history, n_iter):
        self.__dict__.update(fitted_state(vars(self), trainer, solver, history, n_iter))
        keep_predicting_network(self.__dict__, trainer.network)

    # -- prediction ----------------------------------------------------------

    def _network(self):
        """The network predicting with the fitted arrays (see ``_model.predicting_network``)."""
        return predicting_network(self.__dict__)

    def _target_type(self):
        """The kind of targets fitted (see ``_model.FittedModel.target_type``)."""
        return "continuous"

    def __getstate__(self):
        # A new dict: the predicting network is a cache of the fitted arrays, left
        # out of what is saved, and saving (or copying) must not change the model.
        state = dict(super().__getstate__())
        state.pop("_predicting_network", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "coefs_" in state:
            keep_predicting_network(self.__dict__)

    def _forward(self, X, logits=False):
        # check_is_fitted's scan of every attribute costs more than a one-row forward pass.
        if "coefs_" not in self.__dict__:
            check_is_fitted(self)
        return network_outputs(self._network(), self._input_to_predict(X), logits)

    def _as_predicted(self, output):
        """What ``predict`` returns for the network's ``output`` (the classifier: probabilities)."""
        return self._decode(output)

    def _in_input_layout(self, values, X):
        """Per-feature ``values`` of X (validated) as X was given: rows of features already."""
        return values

    def _input_to_predict(self, X):
        """X validated as scikit-learn validates it, with a fast path for the common case.

        A 2-D float array of the fitted width, without feature names on either
        side, whose sum is finite (so are its values), is what full validation
        would return unchanged; it costs two thirds of a one-row prediction, so
        such an array skips it. Anything else, and every error, goes through
        ``validate_data``.
        """
        if (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype in _FLOAT_DTYPES
            and X.shape[0] > 0
            and X.shape[1] == self.n_features_in_
            and "feature_names_in_" not in self.__dict__
            and np.isfinite(np.add.reduce(X, axis=None))
        ):
            return X
        X = validate_data(self, X, accept_sparse=("csr", "csc"), dtype=_FLOAT_DTYPES, reset=False)
        # Rows are what prediction takes, and CSR takes them fastest.
        return X.tocsr() if sp.issparse(X) else X

    @_float_errors_handled
    def predict(self, X):
        """Predict using the trained network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted classes or values.
        """
        return self._decode(self._forward(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


_CLASSIFIER_DOC = """Multilayer perceptron classifier trained by backpropagation.

A scikit-learn classifier: use it alone or in a Pipeline, GridSearchCV or
cross_val_score. It minimises the cross-entropy of a softmax output
(multiclass) or of logistic outputs (binary and multilabel) plus L1/L2
penalties, by mini-batch gradient descent (SGD, momentum, Adam, RMSProp,
AdaGrad) or full-batch L-BFGS, with optional dropout, batch normalization
and early stopping.

Parameters
----------
{parameters}

class_weight : dict, "balanced" or None, default=None
    Weight of each class in the loss, as ``{label: weight}``; ``"balanced"``
    weighs each class by ``n_samples / (n_classes * n_samples_of_class)``.
    Class weights multiply ``sample_weight``. ``partial_fit`` takes a dict
    only, since "balanced" needs all the labels at once.

Attributes
----------
classes_ : ndarray of shape (n_classes,)
    Class labels.

{attributes}

See Also
--------
BackpropRegressor : The same network for regression.
sklearn.neural_network.MLPClassifier : scikit-learn's multilayer perceptron.

Examples
--------
>>> from sklearn.datasets import load_iris
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from skbackprop import BackpropClassifier
>>> X, y = load_iris(return_X_y=True)
>>> clf = make_pipeline(StandardScaler(), BackpropClassifier(max_iter=500, random_state=0))
>>> clf.fit(X, y).score(X, y) > 0.95
True
>>> clf.predict_proba(X[:1]).shape
(1, 3)
"""


class BackpropClassifier(ClassifierMixin, _BaseBackprop):
    # scikit-learn reads the estimator's kind from its tags; tools that still read
    # this attribute (yellowbrick, for one) refuse a model without it.
    _estimator_type = "classifier"
    _parameter_constraints: dict = {
        **_BaseBackprop._parameter_constraints,
        "class_weight": [None, dict, StrOptions({"balanced"})],
    }
    __doc__ = _docs.fill(
        _CLASSIFIER_DOC,
        parameters=_docs.parameters(split="stratified by class", score="accuracy"),
        attributes=_docs.attributes(
            score="accuracy",
            out_activations='"softmax" (multiclass) or "logistic" (binary, multilabel)',
        ),
    )

    # scikit-learn reads an estimator's parameters from its __init__ signature, so
    # the classifier repeats the shared one to add class_weight;
    # tests/test_class_weight.py checks that the shared defaults agree.
    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        class_weight=None,
        solver="adam",
        batch_size="auto",
        learning_rate_init=0.001,
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
        batch_normalization=False,
        batch_normalization_momentum=0.9,
        residual=False,
        dtype="auto",
        init="glorot_uniform",
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
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
        self.class_weight = class_weight

    def _loss_function(self, output_activation, n_outputs):
        """The loss training minimises: the canonical one of the output activation."""
        return LOSSES[output_activation]

    def _weigh_samples(self, y, sample_weight, incremental, dtype):
        if self.class_weight is None:
            return sample_weight
        if isinstance(self.class_weight, dict):
            for label, weight in self.class_weight.items():
                is_number = isinstance(weight, Real) and not isinstance(weight, bool)
                if not (is_number and 0 <= weight < np.inf):
                    raise ValueError(
                        "class_weight values must be non-negative finite numbers, got "
                        f"{weight!r} for class {label!r}."
                    )
        if incremental and self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' needs every label at once, so partial_fit cannot "
                "use it: pass a dict instead (for example from "
                "sklearn.utils.class_weight.compute_class_weight), or use fit."
            )
        weights = compute_sample_weight(self.class_weight, y).astype(dtype)
        return weights if sample_weight is None else weights * sample_weight

    def _validation_weights(self, y_val, sample_weight_val, y, dtype):
        if self.class_weight is None:
            return sample_weight_val
        # Each class weighs what it weighs in training ("balanced" counts the training
        # labels), whichever classes the validation rows happen to hold.
        train_columns = y.reshape(len(y), -1).T
        per_column = self.class_weight
        if not isinstance(per_column, list):
            per_column = [per_column] * len(train_columns)
        weights = np.ones(len(y_val), dtype=dtype)
        for class_weight, train, validation in zip(
            per_column, train_columns, y_val.reshape(len(y_val), -1).T, strict=True
        ):
            classes = np.unique(train)
            by_class = compute_class_weight(class_weight, classes=classes, y=train)
            weights *= by_class[np.searchsorted(classes, validation)]
        return weights if sample_weight_val is None else weights * sample_weight_val

    def _encode_targets(self, y, first_call, incremental, classes=None, name="y"):
        if incremental and not first_call and self._same_classes(classes):
            encoded = self._encode_known_labels(y)
            if encoded is not None:
                return y, encoded
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        multilabel = type_of_target(y).startswith("multilabel")
        if not first_call:
            self._check_same_targets(y, multilabel, incremental, name)
        if first_call:
            binarizer = LabelBinarizer().fit(y if classes is None or multilabel else classes)
            if len(binarizer.classes_) < 2:
                raise ValueError(
                    f"The target y has only one class ({binarizer.classes_[0]!r}); a "
                    "classifier needs samples of at least two classes."
                )
            self._label_binarizer = binarizer
            self.classes_ = binarizer.classes_
        elif classes is not None and not np.array_equal(unique_labels(classes), self.classes_):
            raise ValueError(
                f"classes={classes!r} is not the same as in the previous call, where "
                f"it was {self.classes_!r}."
            )
        if not multilabel:
            unseen = np.setdiff1d(unique_labels(y), self.classes_)
            if len(unseen):
                raise ValueError(
                    f"{name} contains labels not in classes_ {self.classes_!r}: {unseen!r}."
                )
        return y, self._label_binarizer.transform(y)

    def _same_classes(self, classes):
        return classes is None or np.array_equal(np.unique(classes), self.classes_)

    def _encode_known_labels(self, y):
        """The label matrix of a stream's chunk, where every label is a known class.

        A ``partial_fit`` chunk of 1-D numeric or string labels needs none of
        scikit-learn's target-type inspection (five calls to ``type_of_target``
        through label_binarize, half of a 100-row call): a label that is one
        of ``classes_`` is a valid class label. None when any is not, or the
        targets are of another kind; the general path then checks and names them.
        """
        binary = self._label_binarizer.y_type_ == "binary"
        if y.ndim != 1 or not (binary or self._label_binarizer.y_type_ == "multiclass"):
            return None
        kinds = {y.dtype.kind, self.classes_.dtype.kind}
        if not (kinds <= set("iuf") or kinds == {"U"}):
            return None
        index = np.searchsorted(self.classes_, y)
        np.minimum(index, len(self.classes_) - 1, out=index)
        if not np.array_equal(self.classes_[index], y):
            return None
        if binary:
            return index.reshape(-1, 1)
        encoded = np.zeros((len(y), len(self.classes_)), dtype=index.dtype)
        encoded[np.arange(len(y)), index] = 1
        return encoded

    def _check_same_targets(self, y, multilabel, incremental, name="y"):
        """A continued fit must see the kind of targets (and, warm started, the classes) it had."""
        was_multilabel = self._label_binarizer.y_type_ == "multilabel-indicator"
        if multilabel != was_multilabel:
            kinds = {True: "a label indicator matrix (multilabel)", False: "class labels"}
            raise ValueError(
                f"The model was fitted on {kinds[was_multilabel]}, but {name} holds "
                f"{kinds[multilabel]}: the kind of target cannot change between calls. "
                "Refit with warm_start=False to change it."
            )
        if not incremental and not multilabel:
            labels = unique_labels(y)
            if not np.array_equal(labels, self.classes_):
                raise ValueError(
                    "warm_start can only be used where y has the same classes as in the "
                    f"previous call to fit. Previously got {self.classes_}, y has {labels}."
                )

    def _output_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _decode(self, output):
        return self._label_binarizer.inverse_transform(output)

    @available_if(_stochastic_solver)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Update the network with one epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Class labels, or a label indicator matrix for multilabel targets.

        classes : array-like of shape (n_classes,), default=None
            Every class that any call will see; required on the first call
            (unless y is a label indicator matrix), optional afterwards.

        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss.

        Returns
        -------
        self : object
            The updated estimator.
        """
        if not hasattr(self, "coefs_") and classes is None:
            if not type_of_target(y).startswith("multilabel"):
                raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._partial_fit(X, y, sample_weight, classes)

    @_float_errors_handled
    def decision_function(self, X):
        """The network's output logits: higher means more likely.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For binary targets, the logit of ``classes_[1]``; otherwise one
            logit per class (or label), before softmax (or logistic).
        """
        logits = self._forward(X, logits=True)
        return logits.ravel() if self._label_binarizer.y_type_ == "binary" else logits

    @_float_errors_handled
    def predict_proba(self, X):
        """Probability of each class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities in the order of ``classes_``; for multilabel
            targets, the probability of each label independently.
        """
        return self._as_predicted(self._forward(X))

    def _target_type(self):
        return self._label_binarizer.y_type_

    def _as_predicted(self, output):
        if self._label_binarizer.y_type_ == "binary":
            return np.hstack([1 - output, output])
        return output

    @_float_errors_handled
    def predict_log_proba(self, X):
        """Logarithm of the probability of each class, computed stably from the logits.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``log(predict_proba(X))``, finite even where a probability underflows.
        """
        logits = self._forward(X, logits=True)
        if self.out_activation_ == "softmax":
            return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        # log(sigmoid(z)) = -log(1 + exp(-z)) and log(1 - sigmoid(z)) = -log(1 + exp(z))
        log_positive = -np.logaddexp(0, -logits)
        if self._label_binarizer.y_type_ == "binary":
            return np.hstack([-np.logaddexp(0, logits), log_positive])
        return log_positive

    def score(self, X, y, sample_weight=None):
        """Accuracy of ``predict(X)`` against ``y``, as scikit-learn's classifiers score.

        For multilabel targets it is the subset accuracy: a row counts only if
        every label is right. Early stopping watches it with ``scoring=None``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Test samples.

        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            True labels.

        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample.

        Returns
        -------
        score : float
            The (weighted) fraction of rows predicted right.
        """
        return super().score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


_REGRESSOR_DOC = """Multilayer perceptron regressor trained by backpropagation.

A scikit-learn regressor: use it alone or in a Pipeline, GridSearchCV or
cross_val_score. It minimises half the squared error of an identity output
layer (averaged over outputs for multi-output targets), the absolute error,
the Huber loss, the pinball loss of one or several quantiles, or half the
Poisson deviance of an exponential output, plus L1/L2 penalties, by
mini-batch gradient descent (or L-BFGS), with optional dropout and early
stopping.

Parameters
----------
{parameters}

loss : {"squared_error", "absolute_error", "huber", "quantile", "poisson"}, \
        default="squared_error"
    ``"squared_error"``: half the squared error of an identity output.
    ``"absolute_error"``: the absolute error ``|y - f|`` (predicts a median).
    ``"huber"``: ``0.5 r ** 2`` where ``|r| <= huber_delta``, else
    ``huber_delta * (|r| - huber_delta / 2)``, as PyTorch's ``HuberLoss``.
    ``"quantile"``: the pinball loss of level ``quantile``, as scikit-learn's
    ``QuantileRegressor``. These three average over outputs and keep an
    identity output. ``"poisson"``: half the Poisson deviance of an
    exponential output, for counts and rates (targets must be non-negative
    with a positive sum); the predictions are then always positive.

huber_delta : float, default=1.0
    Where ``loss="huber"`` turns from squared to absolute error.

quantile : float or sequence of float, default=0.5
    The level(s) in (0, 1) that ``loss="quantile"`` predicts. A sequence
    such as ``(0.05, 0.5, 0.95)`` fits one network with an output per level
    (per target): ``predict`` returns one column per level in the order
    given (for several targets, each target's levels in turn), sorted so
    that a higher level never predicts less than a lower one, so one fit
    gives a prediction interval. ``score`` is then the R^2 of the level
    nearest 0.5.

Attributes
----------
{attributes}

See Also
--------
BackpropClassifier : The same network for classification.
sklearn.neural_network.MLPRegressor : scikit-learn's multilayer perceptron.

Examples
--------
>>> from sklearn.datasets import load_diabetes
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from skbackprop import BackpropRegressor
>>> X, y = load_diabetes(return_X_y=True)
>>> reg = make_pipeline(
...     StandardScaler(),
...     BackpropRegressor(learning_rate_init=0.01, max_iter=300, random_state=0),
... )
>>> reg.fit(X, y).score(X, y) > 0.5
True
"""


class BackpropRegressor(RegressorMixin, _BaseBackprop):
    _estimator_type = "regressor"  # as BackpropClassifier's
    __doc__ = _docs.fill(
        _REGRESSOR_DOC,
        parameters=_docs.parameters(split="a random split", score="R^2"),
        attributes=_docs.attributes(
            score="R^2", out_activations='"identity" (squared error) or "exp" (poisson)'
        ),
    )
    _parameter_constraints: dict = {
        **_BaseBackprop._parameter_constraints,
        "loss": [StrOptions({"squared_error", "absolute_error", "huber", "quantile", "poisson"})],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
        "quantile": [Interval(Real, 0, 1, closed="neither"), "array-like"],
    }

    # As in BackpropClassifier: the shared signature repeated, to add the loss's parameters.
    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        loss="squared_error",
        huber_delta=1.0,
        quantile=0.5,
        solver="adam",
        batch_size="auto",
        learning_rate_init=0.001,
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
        batch_normalization=False,
        batch_normalization_momentum=0.9,
        residual=False,
        dtype="auto",
        init="glorot_uniform",
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
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
        self.loss = loss
        self.huber_delta = huber_delta
        self.quantile = quantile

    def _levels(self):
        """The quantile levels of a multi-level fit, or None (one output per target)."""
        if self.loss != "quantile" or np.ndim(in_order(self.quantile, "quantile")) == 0:
            return None
        levels = tuple(self.quantile)
        valid = [isinstance(q, Real) and not isinstance(q, bool) and 0 < q < 1 for q in levels]
        if not levels or not all(valid) or len(set(levels)) != len(levels):
            raise ValueError(
                "quantile must be a level in (0, 1) or a sequence of distinct such levels, "
                f"got {self.quantile!r}."
            )
        return levels

    def _loss_function(self, output_activation, n_outputs):
        if self.loss == "absolute_error":
            return AbsoluteError()
        if self.loss == "huber":
            return Huber(self.huber_delta)
        if self.loss == "quantile":
            levels = self._levels() or (float(self.quantile),)
            return Pinball(np.resize(np.asarray(levels, dtype=float), n_outputs))
        return super()._loss_function(output_activation, n_outputs)

    def _encode_targets(self, y, first_call, incremental, classes=None, name="y"):
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError(
                f"loss='poisson' needs non-negative targets (counts, rates); {name} has "
                "negative values."
            )
        # A fit needs some positive count (all zeros have no finite best fit); a stream's
        # chunks may be all zeros, as streamed counts often are.
        if self.loss == "poisson" and not incremental and not np.sum(y) > 0:
            raise ValueError(
                "loss='poisson' needs targets with a positive sum to fit: with every count "
                "zero the best prediction is 0, which an exponential output never reaches. "
                "partial_fit accepts chunks of zeros."
            )
        levels = self._levels()
        if first_call:
            self._y_ndim = y.ndim
        elif len(levels or (None,)) != len(self._quantile_levels or (None,)):
            raise ValueError(
                f"quantile={self.quantile!r} has {len(levels or (None,))} level(s) where the "
                f"previous fit had {len(self._quantile_levels or (None,))}: warm_start and "
                "partial_fit continue a network with one output per level. Refit with "
                "warm_start=False to change their number."
            )
        # A continued fit trains its outputs for the levels given now, in their order
        # (the output count is checked with the network): predict follows them.
        self._quantile_levels = levels
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if levels is not None:  # one output per level, each target's levels in turn
            Y = np.repeat(Y, len(levels), axis=1)
        return y, Y

    @_float_errors_handled
    def predict(self, X, return_std=False):
        """Predict using the trained network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        return_std : bool, default=False
            Also return the standard deviation of MC-dropout's predictions,
            as ``GaussianProcessRegressor.predict`` does: 100 draws with
            dropout active (:func:`skbackprop.inspection.predictive_draws`,
            seeded by ``random_state``); the mean returned is then theirs,
            close to but not the same as the plain prediction. Needs a model
            fitted with ``dropout > 0``.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values (the draws' mean with ``return_std``).

        std : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The draws' standard deviation; only with ``return_std=True``.
        """
        if not return_std:
            return super().predict(X)
        check_is_fitted(self)
        X = self._input_to_predict(X)
        model = fitted_model(self, dropout=True)
        # A copy of a RandomState instance: predicting must not change what the next fit draws.
        seed = check_random_state(copy.deepcopy(self.random_state)).randint(np.iinfo(np.int32).max)
        draws = model.dropout_draws(X, 100, np.random.default_rng(seed))
        return draws.mean(axis=0), draws.std(axis=0)

    def _output_activation(self):
        # The exponential is the canonical link of the Poisson deviance: delta = p - y.
        return "exp" if self.loss == "poisson" else "identity"

    def _decode(self, output):
        levels = self.__dict__.get("_quantile_levels")
        if levels is None:
            return output.ravel() if self._y_ndim == 1 else output
        output = _sorted_by_level(output, levels)
        if not self.__dict__.get("_median_only"):
            return output
        median = output[:, _middle_level(levels) :: len(levels)]
        return median.ravel() if self._y_ndim == 1 else median

    def _outputs_behind_column(self, X, column):
        levels = self.__dict__.get("_quantile_levels")
        if levels is None:
            return super()._outputs_behind_column(X, column)
        with prediction_numerics():
            output = self._network().predict(X)
        return _outputs_sorted_into(output, levels, column)

    def _scored_by_metrics(self):
        """With several quantile levels, a copy predicting the level nearest 0.5 only.

        A metric compares one prediction per target with y (as ``score`` does,
        for early stopping's ``scoring``).
        """
        if self.__dict__.get("_quantile_levels") is None:
            return self
        median = copy.copy(self)
        median._median_only = True
        return median

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R^2 of ``predict(X)``, as scikit-learn's regressors score.

        ``1 - sum((y - predict(X))**2) / sum((y - mean(y))**2)``: 1 is perfect,
        0 is as good as predicting the mean, and it can be negative. For
        several outputs it is the mean of each output's R^2. With several
        quantile levels it scores the level nearest 0.5 (the median's, for
        a symmetric interval) of each target. Early stopping watches it
        with ``scoring=None``, whatever ``loss`` is.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Test samples.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True values.

        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample.

        Returns
        -------
        score : float
            R^2 of the predictions.
        """
        if self.__dict__.get("_quantile_levels") is None:
            return super().score(X, y, sample_weight=sample_weight)
        prediction = self._scored_by_metrics().predict(X)
        return r2_score(
            y, prediction.ravel() if np.ndim(y) == 1 else prediction, sample_weight=sample_weight
        )

    @available_if(_stochastic_solver)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the network with one epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._partial_fit(X, y, sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags


def _middle_level(levels):
    """The index of the level nearest 0.5 (the median's, for a symmetric interval)."""
    return int(np.argmin(np.abs(np.asarray(levels) - 0.5)))


def _outputs_sorted_into(output, levels, column):
    """For each row, the output that :func:`_sorted_by_level` puts in ``column``."""
    n_levels = len(levels)
    target, level = divmod(column, n_levels)
    group = output[:, target * n_levels : (target + 1) * n_levels]
    rank = np.argsort(np.argsort(levels))[level]  # the column shows the rank-th smallest
    return target * n_levels + np.argsort(group, axis=1, kind="stable")[:, rank]


def _sorted_by_level(output, levels):
    """Quantile outputs, each target's sorted so that no level predicts less than a lower one.

    ``output`` has ``len(levels)`` columns per target; the sorted values go to
    the levels in increasing order, and the columns keep the given order.
    """
    n_levels = len(levels)
    grouped = output.reshape(len(output), -1, n_levels)
    ranked = np.sort(grouped, axis=2)
    # The level in column j is the rank[j]-th smallest.
    rank = np.argsort(np.argsort(levels))
    return ranked[:, :, rank].reshape(len(output), -1)
