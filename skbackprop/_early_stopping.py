"""Early stopping's validation data, as the estimators take it: ``X_val``/``y_val`` or a split.

A mixin of the estimators (scikit-learn glue: validation and splitting), kept
apart from the rest of ``_BaseBackprop``: the user's validation set checked
and encoded as the training data is, or ``validation_fraction`` of the rows
held out (stratified for a classifier), and the callable that scores the
network on them after each epoch.
"""

import copy

import numpy as np
import scipy.sparse as sp
from sklearn.base import is_classifier
from sklearn.metrics import check_scoring
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import _check_feature_names, check_array

from ._fit_plan import early_stopping
from ._model import fitted_attributes
from ._training import TrainingData


def _validated_weights(weights, n_rows, dtype, name, rows_name):
    """Sample weights checked as scikit-learn checks them, with errors that name ``name``."""
    weights = check_array(weights, ensure_2d=False, dtype=dtype, input_name=name)
    if weights.ndim == 0:
        weights = np.full(n_rows, weights, dtype=dtype)
    if weights.shape != (n_rows,):
        raise ValueError(
            f"{name} has shape {weights.shape}, but {rows_name} has {n_rows} rows: it needs "
            "one weight per row."
        )
    if (weights < 0).any():
        raise ValueError(f"{name} has negative values; sample weights must be >= 0.")
    return weights


class EarlyStoppingData:
    """Where early stopping's validation rows come from, and how they are scored."""

    def _early_stopping_data(self, network, data, seed, validation_set):
        """``((X, Y, sample_weight), score)`` of the validation rows; None without early stopping.

        The user's ``validation_set`` (a TrainingData), or rows held out of
        ``data`` (whose ``rows`` become the training rows).
        """
        if validation_set is not None:
            held_out = (validation_set.X, validation_set.Y, validation_set.sample_weight)
            return held_out, self._validation_scorer(network, validation_set)
        if not early_stopping(vars(self)):
            return None
        data.rows, held_out, score = self._split_validation(data, network, seed)
        return held_out, score

    def _validation_rows(self, y, seed):
        """``(train, validation)`` row indices of early stopping's split, for ``seed``."""
        stratify = y if is_classifier(self) and y.ndim == 1 else None
        train, validation = train_test_split(
            np.arange(len(y)),
            test_size=self.validation_fraction,
            random_state=seed,
            stratify=stratify,
        )
        return np.sort(train), validation

    def _split_validation(self, data, network, seed):
        """Hold out ``validation_fraction`` of the rows.

        Returns the training rows (indices, so X is not copied), the held-out
        ``(X, Y, sample_weight)`` and the callable scoring the network on them.
        """
        train, val = self._validation_rows(data.y, seed)
        if len(val) < 2:
            raise ValueError(
                f"The validation set is too small ({len(val)} rows): increase "
                "validation_fraction or pass more data, or set early_stopping=False."
            )
        sample_weight = data.sample_weight
        w_val = None if sample_weight is None else sample_weight[val]
        if sample_weight is not None and not (sample_weight[train].sum() > 0 < w_val.sum()):
            raise ValueError(
                "With early_stopping=True both the training and the validation rows need "
                "a positive total sample weight; here one part weighs zero. Change "
                "validation_fraction or random_state, or set early_stopping=False."
            )
        held_out = TrainingData(data.X[val], data.Y[val], w_val, y=data.y[val])
        validation_data = (held_out.X, held_out.Y, held_out.sample_weight)
        return train, validation_data, self._validation_scorer(network, held_out)

    def _validation_scorer(self, network, validation):
        """The callable scoring ``network`` on ``validation`` (a TrainingData), higher is better."""
        scorer = None if self.scoring in (None, "loss") else check_scoring(self, self.scoring)
        X_val, y_val, w_val = validation.X, validation.y, validation.sample_weight

        def validation_score(validation_loss):
            if self.scoring == "loss":
                return -validation_loss
            current = self._with_network(network)
            if scorer is None:
                return current.score(X_val, y_val, sample_weight=w_val)
            current = current._scored_by_metrics()
            if w_val is None:
                return scorer(current, X_val, y_val)
            return scorer(current, X_val, y_val, sample_weight=w_val)

        return validation_score

    def _validation_set(self, validation, data):
        """The user's validation data, checked and encoded as the training data is, or None."""
        X_val, y_val, sample_weight_val = validation or (None, None, None)
        if X_val is None and y_val is None:
            if sample_weight_val is not None:
                raise ValueError("sample_weight_val is given without X_val and y_val.")
            return None
        if X_val is None or y_val is None:
            given, missing = ("X_val", "y_val") if y_val is None else ("y_val", "X_val")
            raise ValueError(f"{given} is given but {missing} is not: pass both or neither.")
        if not early_stopping(vars(self)):
            raise ValueError(
                "X_val and y_val are the validation data of early stopping: set "
                "early_stopping=True"
                + (" (solver='lbfgs' does not stop early)." if self.solver == "lbfgs" else ".")
            )
        X_val = self._validated_X_val(X_val, data.X.dtype)
        y_val = check_array(y_val, ensure_2d=False, dtype=None, input_name="y_val")
        if len(y_val) != X_val.shape[0]:
            raise ValueError(
                f"X_val and y_val have {X_val.shape[0]} and {len(y_val)} rows: they must match."
            )
        if X_val.shape[0] < 2:
            raise ValueError(
                f"The validation set is too small ({X_val.shape[0]} row): early stopping "
                "needs at least 2 validation rows. Pass more rows in X_val and y_val."
            )
        if sample_weight_val is not None:
            sample_weight_val = _validated_weights(
                sample_weight_val, X_val.shape[0], X_val.dtype, "sample_weight_val", "X_val"
            )
        y_val, Y_val = self._encode_targets(y_val, first_call=False, incremental=True, name="y_val")
        if Y_val.shape[1] != data.Y.shape[1]:
            raise ValueError(f"y_val has {Y_val.shape[1]} outputs where y has {data.Y.shape[1]}.")
        weights = self._validation_weights(y_val, sample_weight_val, data.y, X_val.dtype)
        if weights is not None and not weights.sum() > 0:
            raise ValueError("The validation sample weights sum to zero.")
        return TrainingData(X_val, Y_val.astype(X_val.dtype, copy=False), weights, y=y_val)

    def _validated_X_val(self, X_val, dtype):
        """X_val checked as predict checks X, with errors that name X_val."""
        _check_feature_names(self, X_val, reset=False)
        X_val = check_array(
            X_val, accept_sparse=("csr", "csc"), dtype=dtype, input_name="X_val", estimator=self
        )
        if X_val.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X_val has {X_val.shape[1]} features, but X has {self.n_features_in_}: the "
                "validation rows need the training rows' features."
            )
        # Rows are what prediction takes, and CSR takes them fastest.
        return X_val.tocsr() if sp.issparse(X_val) else X_val

    def _validation_weights(self, y_val, sample_weight_val, y, dtype):
        """The weights of the validation rows (the classifier folds in class weights)."""
        return sample_weight_val

    def _with_network(self, network):
        """A shallow copy of this estimator predicting with ``network``'s current weights.

        It scores the validation rows, which are already validated arrays: it
        forgets the feature names, so they are not checked (and warned about)
        again on every epoch.
        """
        current = copy.copy(self)
        current._set_network_attributes(network)
        current.__dict__.pop("feature_names_in_", None)
        return current

    def _set_network_attributes(self, network):
        self.__dict__.update(fitted_attributes(network))
