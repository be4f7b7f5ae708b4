"""The estimators' contract: fitting modes, data types, attributes, failures."""

import ast
import copy
import inspect
import pickle
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import assert_same_weights, peak_allocation, quiet_fit
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import (
    BackpropClassifier,
    BackpropRegressor,
    BackpropSequenceClassifier,
    BackpropSequenceRegressor,
)


@pytest.fixture(scope="module")
def classification():
    X, y = make_classification(
        n_samples=300, n_features=8, n_informative=5, n_classes=3, random_state=0
    )
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=200, n_features=6, n_targets=2, noise=1.0, random_state=0)
    return StandardScaler().fit_transform(X), y / y.std(axis=0)


# -- fitted attributes ----------------------------------------------------------


def test_fitted_attributes(classification):
    X, y = classification
    model = quiet_fit(
        BackpropClassifier(hidden_layer_sizes=(7, 5), max_iter=20, random_state=0), X, y
    )
    assert [c.shape for c in model.coefs_] == [(8, 7), (7, 5), (5, 3)]
    assert [b.shape for b in model.intercepts_] == [(7,), (5,), (3,)]
    assert model.n_layers_ == 4
    assert model.n_outputs_ == 3
    assert model.out_activation_ == "softmax"
    assert model.n_features_in_ == 8
    assert model.n_iter_ == 20 == len(model.loss_curve_)
    assert model.t_ == 20 * len(X)
    assert model.loss_ == model.loss_curve_[-1]
    assert model.best_loss_ == min(model.loss_curve_)
    assert model.validation_scores_ is None and model.best_validation_score_ is None
    np.testing.assert_array_equal(model.classes_, [0, 1, 2])


def test_no_hidden_layer_is_a_linear_model(classification):
    X, y = classification
    model = quiet_fit(
        BackpropClassifier(hidden_layer_sizes=(), learning_rate_init=0.01, l2=0.0, random_state=0),
        X,
        y,
    )
    assert model.n_layers_ == 2 and model.coefs_[0].shape == (8, 3)
    logistic = LogisticRegression(C=1e6, max_iter=1000).fit(X, y)
    assert abs(model.score(X, y) - logistic.score(X, y)) <= 0.02


@pytest.mark.parametrize("batch_size", [7, 300])
def test_loss_is_mean_loss_plus_penalty_over_n_samples(classification, batch_size):
    X, y = classification
    # A vanishing step keeps the weights where they started, so the loss reported
    # for the epoch is the objective at the final weights, whatever the batch size.
    model = quiet_fit(
        BackpropClassifier(
            hidden_layer_sizes=(5,),
            batch_size=batch_size,
            solver="sgd",
            learning_rate_init=1e-12,
            l2=0.5,
            l1=0.2,
            max_iter=1,
            random_state=0,
        ),
        X,
        y,
    )
    proba = model.predict_proba(X)
    data_loss = -np.mean(np.log(proba[np.arange(len(y)), y]))
    weights = np.concatenate([c.ravel() for c in model.coefs_])
    penalty = (0.5 * 0.5 * weights @ weights + 0.2 * np.abs(weights).sum()) / len(X)
    assert model.loss_ == pytest.approx(data_loss + penalty, rel=1e-9)


@pytest.mark.parametrize(
    "estimator",
    [BackpropClassifier, BackpropRegressor, BackpropSequenceClassifier, BackpropSequenceRegressor],
)
def test_every_parameter_documents_the_default_it_has(estimator):
    # The docstrings are assembled from shared entries with some defaults changed
    # per estimator; the signature is what scikit-learn reads.
    parameters = list(inspect.signature(estimator.__init__).parameters.values())[1:]
    for parameter in parameters:
        entry = re.search(rf"^ *{parameter.name} : .*default=(.+)$", estimator.__doc__, re.M)
        assert entry, f"{parameter.name} has no documented default"
        assert ast.literal_eval(entry.group(1)) == parameter.default, parameter.name


# -- reproducibility, partial_fit, warm_start -----------------------------------


def test_random_state_makes_fit_bit_for_bit_reproducible(classification):
    X, y = classification
    params = dict(hidden_layer_sizes=(10,), dropout=0.2, max_iter=15, random_state=3)
    a = quiet_fit(BackpropClassifier(**params), X, y)
    b = quiet_fit(BackpropClassifier(**params), X, y)
    assert_same_weights(a, b)
    assert a.loss_curve_ == b.loss_curve_
    c = quiet_fit(BackpropClassifier(**{**params, "random_state": 4}), X, y)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])


@pytest.mark.parametrize("solver", ["sgd", "momentum", "adam"])
def test_partial_fit_equals_fit_epoch_by_epoch(classification, solver):
    X, y = classification
    params = dict(
        hidden_layer_sizes=(6,),
        solver=solver,
        shuffle=False,
        random_state=0,
        learning_rate_init=0.01,
        tol=0,
        n_iter_no_change=100,
    )
    fitted = quiet_fit(BackpropClassifier(max_iter=4, **params), X, y)
    incremental = BackpropClassifier(**params)
    for _ in range(4):
        incremental.partial_fit(X, y, classes=np.unique(y))
    assert_same_weights(fitted, incremental)
    assert incremental.loss_curve_ == fitted.loss_curve_
    assert incremental.n_iter_ == 4 and incremental.t_ == fitted.t_


def _reloaded(model):
    """``model`` through pickle: the same fitted state, without the network its fit kept."""
    return pickle.loads(pickle.dumps(model))


@pytest.mark.parametrize(
    "change", [{}, {"dropout": 0.3}, {"batch_normalization_momentum": 0.5}, {"dtype": "float32"}]
)
def test_partial_fit_continues_the_kept_network_as_it_would_the_fitted_arrays(
    classification, change
):
    # A continued fit copies the network the last fit kept; a loaded model has none and
    # builds one from its fitted arrays. Both must train the same bits, also when a
    # parameter changed in between.
    X, y = classification
    params = dict(hidden_layer_sizes=(6, 6), batch_normalization=True, random_state=0)
    kept = BackpropClassifier(**params).partial_fit(X, y, classes=np.unique(y))
    loaded = kept
    for _ in range(2):
        loaded = _reloaded(loaded).set_params(**change)
        loaded.partial_fit(X, y)
        kept.set_params(**change).partial_fit(X, y)
    assert_same_weights(kept, loaded)
    np.testing.assert_array_equal(kept.running_means_[0], loaded.running_means_[0])
    assert kept.coefs_[0].dtype == np.dtype(change.get("dtype", "float64"))


def test_partial_fit_leaves_arrays_taken_from_the_previous_model_alone(classification):
    X, y = classification
    model = BackpropClassifier(random_state=0).partial_fit(X, y, classes=np.unique(y))
    taken, before = model.coefs_[0], model.coefs_[0].copy()
    shallow = copy.copy(model)
    predicted = shallow.predict_proba(X)
    model.partial_fit(X, y)
    assert model.coefs_[0] is not taken
    np.testing.assert_array_equal(taken, before)
    np.testing.assert_array_equal(shallow.predict_proba(X), predicted)
    assert not np.array_equal(model.predict_proba(X), predicted)


def test_partial_fit_needs_classes_on_first_call_and_rejects_unseen_labels(classification):
    X, y = classification
    with pytest.raises(ValueError, match="classes must be passed"):
        BackpropClassifier().partial_fit(X, y)
    model = BackpropClassifier(random_state=0).partial_fit(X[:50], y[:50], classes=[0, 1, 2, 3])
    assert model.predict_proba(X).shape == (len(X), 4)
    with pytest.raises(ValueError, match="not in classes_"):
        model.partial_fit(X, np.where(y == 0, 7, y))
    with pytest.raises(ValueError, match="not the same"):
        model.partial_fit(X, y, classes=[0, 1])


def test_partial_fit_refuses_early_stopping(classification):
    X, y = classification
    with pytest.raises(ValueError, match="early_stopping"):
        BackpropClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])


def test_warm_start_continues_from_previous_weights(classification):
    X, y = classification
    model = quiet_fit(BackpropClassifier(max_iter=5, warm_start=True, random_state=0), X, y)
    first = [c.copy() for c in model.coefs_]
    first_curve = list(model.loss_curve_)
    quiet_fit(model, X, y)
    assert model.loss_curve_[:5] == first_curve and len(model.loss_curve_) == 10
    assert model.n_iter_ == 5
    assert model.loss_curve_[5] < first_curve[0]
    assert not np.array_equal(first[0], model.coefs_[0])
    # Without warm_start, a refit starts again from the same random weights.
    cold = quiet_fit(BackpropClassifier(max_iter=5, random_state=0), X, y)
    assert cold.loss_curve_ == first_curve


def test_warm_start_rejects_a_different_architecture(classification):
    X, y = classification
    model = quiet_fit(BackpropClassifier(max_iter=2, warm_start=True, random_state=0), X, y)
    model.set_params(hidden_layer_sizes=(3,))
    with pytest.raises(ValueError, match="same hidden_layer_sizes"):
        model.fit(X, y)
    assert model.coefs_[0].shape == (8, 100)


# -- early stopping, convergence ------------------------------------------------


def test_early_stopping_restores_the_best_weights(classification):
    X, y = classification
    model = BackpropClassifier(
        hidden_layer_sizes=(64,),
        early_stopping=True,
        learning_rate_init=0.05,
        n_iter_no_change=5,
        max_iter=300,
        random_state=0,
    ).fit(X, y)
    scores = model.validation_scores_
    assert model.best_loss_ is None
    assert model.best_validation_score_ == max(scores)
    assert model.n_iter_ < 300 and len(scores) == model.n_iter_
    best_epoch = int(np.argmax(scores))
    assert best_epoch < model.n_iter_ - 1
    # Re-score the held-out part: same split (random_state), restored weights.
    _, val = model._validation_rows(y, model._seed())
    assert model.score(X[val], y[val]) == pytest.approx(model.best_validation_score_)


def test_early_stopping_validation_split_is_stratified():
    X, y = load_iris(return_X_y=True)
    model = quiet_fit(
        BackpropClassifier(
            early_stopping=True, validation_fraction=0.2, max_iter=3, random_state=0
        ),
        StandardScaler().fit_transform(X),
        y,
    )
    # 30 held-out rows of 3 balanced classes: every score is a multiple of 1/30.
    assert all(abs(s * 30 - round(s * 30)) < 1e-9 for s in model.validation_scores_)


def test_convergence_warning_and_tol_stopping(classification):
    X, y = classification
    with pytest.warns(ConvergenceWarning, match="maximum iterations"):
        BackpropClassifier(max_iter=3, random_state=0).fit(X, y)
    # The first epoch improves on nothing; then two epochs without a gain of tol.
    model = BackpropClassifier(tol=10.0, n_iter_no_change=2, random_state=0).fit(X, y)
    assert model.n_iter_ == 3


def test_adaptive_learning_rate_divides_by_five(classification):
    X, y = classification
    model = quiet_fit(
        BackpropClassifier(
            solver="sgd",
            learning_rate="adaptive",
            learning_rate_init=0.1,
            tol=10.0,
            n_iter_no_change=1,
            max_iter=5,
            random_state=0,
        ),
        X,
        y,
    )
    # Epoch 1 improves on nothing; each of epochs 2 to 5 stalls and divides by 5.
    assert model.n_iter_ == 5
    assert model._solver_state["state"]["learning_rate"] == pytest.approx(0.1 / 5**4)


def test_verbose_prints_one_line_per_epoch_then_why_it_stopped(classification, capsys):
    X, y = classification
    quiet_fit(BackpropClassifier(max_iter=3, verbose=1, early_stopping=True, random_state=0), X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("Epoch 1, loss = ") and "validation score = " in lines[0]
    assert lines[0].endswith("s")
    assert lines[3].startswith("Reached the maximum number of epochs (3). Stopping; keeping")


# -- penalties and dropout ------------------------------------------------------


@pytest.mark.parametrize("penalty", ["l1", "l2"])
def test_penalties_shrink_the_weights(classification, penalty):
    X, y = classification
    common = dict(
        hidden_layer_sizes=(20,), learning_rate_init=0.01, max_iter=100, random_state=0, l2=0.0
    )
    free = quiet_fit(BackpropClassifier(**common), X, y)
    penalised = quiet_fit(BackpropClassifier(**{**common, penalty: 100.0}), X, y)
    norm = np.abs if penalty == "l1" else np.square
    assert norm(penalised.coefs_[0]).sum() < 0.5 * norm(free.coefs_[0]).sum()
    if penalty == "l1":
        # L1 drives many weights to (near) zero.
        assert np.mean(np.abs(penalised.coefs_[0]) < 1e-2) > 0.3


def test_dropout_is_random_in_training_and_deterministic_in_prediction(classification):
    X, y = classification
    common = dict(learning_rate_init=0.01, max_iter=100, random_state=0)
    model = quiet_fit(BackpropClassifier(dropout=(0.5,), **common), X, y)
    np.testing.assert_array_equal(model.predict_proba(X), model.predict_proba(X))
    no_dropout = quiet_fit(BackpropClassifier(**common), X, y)
    assert not np.array_equal(model.coefs_[0], no_dropout.coefs_[0])
    assert model.score(X, y) > 0.8


def test_dropout_rate_per_layer_is_validated(classification):
    X, y = classification
    with pytest.raises(ValueError, match="one such rate per hidden layer"):
        BackpropClassifier(hidden_layer_sizes=(5, 5), dropout=(0.1,)).fit(X, y)
    with pytest.raises(ValueError, match="dropout"):
        BackpropClassifier(dropout=1.0).fit(X, y)


# -- data types -------------------------------------------------------------------


def test_float32_trains_and_predicts_in_float32(classification, regression):
    X, y = classification
    model = quiet_fit(BackpropClassifier(max_iter=20, random_state=0), X.astype(np.float32), y)
    assert all(c.dtype == np.float32 for c in model.coefs_ + model.intercepts_)
    assert model.predict_proba(X.astype(np.float32)).dtype == np.float32
    as64 = quiet_fit(BackpropClassifier(max_iter=20, random_state=0), X, y)
    assert as64.coefs_[0].dtype == np.float64
    np.testing.assert_allclose(model.coefs_[0], as64.coefs_[0], atol=1e-3)
    Xr, yr = regression
    reg = quiet_fit(BackpropRegressor(max_iter=5, random_state=0), Xr.astype(np.float32), yr)
    assert reg.predict(Xr).dtype == np.float32


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_input_matches_dense(classification, fmt):
    X, y = classification
    X = np.where(np.abs(X) > 1, X, 0.0)
    params = dict(max_iter=10, random_state=0)
    dense = quiet_fit(BackpropClassifier(**params), X, y)
    sparse = quiet_fit(BackpropClassifier(**params), sp.csr_matrix(X).asformat(fmt), y)
    for a, b in zip(dense.coefs_, sparse.coefs_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sparse.predict_proba(sp.csr_matrix(X)), dense.predict_proba(X))


def test_string_and_negative_labels(classification):
    X, y = classification
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = quiet_fit(BackpropClassifier(max_iter=30, random_state=0), X, names)
    assert set(model.predict(X)) <= set(names)
    np.testing.assert_array_equal(model.classes_, sorted(set(names)))
    binary = quiet_fit(BackpropClassifier(max_iter=30, random_state=0), X, np.where(y == 0, -1, -7))
    assert binary.out_activation_ == "logistic" and binary.n_outputs_ == 1
    assert binary.predict_proba(X).shape == (len(X), 2)
    assert set(binary.predict(X)) <= {-1, -7}
    np.testing.assert_allclose(binary.predict_proba(X).sum(axis=1), 1.0)
    np.testing.assert_allclose(
        np.exp(binary.predict_log_proba(X)), binary.predict_proba(X), rtol=1e-6
    )


def test_multilabel(classification):
    X, y = classification
    Y = np.column_stack([y == 0, y == 1, X[:, 0] > 0]).astype(int)
    model = quiet_fit(BackpropClassifier(max_iter=100, random_state=0), X, Y)
    assert model.out_activation_ == "logistic" and model.n_outputs_ == 3
    assert model.predict(X).shape == Y.shape
    proba = model.predict_proba(X)
    assert proba.shape == Y.shape and ((proba >= 0) & (proba <= 1)).all()
    assert model.score(X, Y) > 0.7
    np.testing.assert_allclose(np.exp(model.predict_log_proba(X)), proba, rtol=1e-6)


def test_multi_output_regression(regression):
    X, y = regression
    model = quiet_fit(
        BackpropRegressor(learning_rate_init=0.01, max_iter=200, random_state=0), X, y
    )
    assert model.predict(X).shape == y.shape and model.n_outputs_ == 2
    assert model.score(X, y) > 0.9
    single = quiet_fit(BackpropRegressor(max_iter=5, random_state=0), X, y[:, 0])
    assert single.predict(X).shape == (len(X),)


def test_predict_log_proba_is_finite_where_probabilities_underflow():
    X = np.array([[-1.0], [1.0]] * 10)
    y = np.array([0, 1] * 10)
    model = BackpropClassifier(hidden_layer_sizes=(), max_iter=5, random_state=0, tol=0)
    quiet_fit(model, X, y)
    model.coefs_[0][...] = 1000.0
    log_proba = model.predict_log_proba(np.array([[-1.0]]))
    assert np.isfinite(log_proba).all()
    assert log_proba[0, 1] == pytest.approx(-1000.0, rel=1e-3)


def test_dataframe_input_records_feature_names(classification):
    pd = pytest.importorskip("pandas")
    X, y = classification
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = quiet_fit(BackpropClassifier(max_iter=5, random_state=0), frame, y)
    np.testing.assert_array_equal(model.feature_names_in_, frame.columns)
    with pytest.warns(UserWarning, match="feature names"):
        model.predict(X)


# -- the scikit-learn ecosystem ---------------------------------------------------


def test_pickle_round_trip(classification):
    X, y = classification
    model = quiet_fit(BackpropClassifier(max_iter=10, random_state=0), X, y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    restored.partial_fit(X, y)
    assert restored.n_iter_ == 11


def test_grid_search_in_parallel(classification):
    X, y = classification
    search = GridSearchCV(
        make_pipeline(
            StandardScaler(),
            BackpropClassifier(learning_rate_init=0.01, max_iter=50, random_state=0),
        ),
        {
            "backpropclassifier__hidden_layer_sizes": [(4,), (32,)],
            "backpropclassifier__solver": ["sgd", "adam"],
        },
        cv=3,
        n_jobs=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    assert search.best_params_["backpropclassifier__solver"] == "adam"
    assert search.best_score_ > 0.7


# -- bad input and failures: clear errors, nothing lost ---------------------------


@pytest.mark.parametrize(
    "params, match",
    [
        ({"hidden_layer_sizes": (3, 0)}, "hidden_layer_sizes"),
        ({"hidden_layer_sizes": (3, 2.5)}, "hidden_layer_sizes"),
        ({"activation": "swish"}, "activation"),
        ({"solver": "newton"}, "solver"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate_init": 0}, "learning_rate_init"),
        ({"l1": -1}, "l1"),
        ({"l2": -1}, "l2"),
        ({"momentum": 1.5}, "momentum"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"max_iter": 0}, "max_iter"),
    ],
)
def test_invalid_parameters_name_the_parameter(classification, params, match):
    X, y = classification
    with pytest.raises(ValueError, match=match):
        BackpropClassifier(**params).fit(X, y)


def test_errors_users_expect(classification):
    X, y = classification
    with pytest.raises(NotFittedError):
        BackpropClassifier().predict(X)
    with pytest.raises(ValueError, match="NaN"):
        BackpropClassifier().fit(np.where(X > 2, np.nan, X), y)
    with pytest.raises(ValueError, match="only one class"):
        BackpropClassifier().fit(X, np.zeros(len(X)))
    model = quiet_fit(BackpropClassifier(max_iter=2, random_state=0), X, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :3])


def test_divergence_is_reported_and_loses_nothing(classification):
    X, y = classification
    model = quiet_fit(BackpropRegressor(max_iter=20, random_state=0), X, y.astype(float))
    before = model.predict(X)
    fitted = {k: v for k, v in model.__dict__.items() if k.endswith("_") or k.startswith("_")}
    huge = X * 1e150
    model.set_params(solver="sgd", learning_rate_init=1e10)
    with pytest.raises(ValueError, match="non-finite.*learning_rate_init"):
        model.fit(huge, y * 1e150)
    np.testing.assert_array_equal(model.predict(X), before)
    assert all(model.__dict__[k] is v for k, v in fitted.items())
    model.set_params(warm_start=True)
    with pytest.raises(ValueError, match="non-finite"):
        model.fit(huge, y * 1e150)
    np.testing.assert_array_equal(model.predict(X), before)


def test_failed_fit_on_bad_data_keeps_the_previous_model(classification):
    X, y = classification
    model = quiet_fit(BackpropClassifier(max_iter=5, random_state=0), X, y)
    before = model.predict_proba(X)
    with pytest.raises(ValueError, match="only one class"):
        model.fit(X[:, :4], np.full(len(X), 3))
    assert model.n_features_in_ == 8
    np.testing.assert_array_equal(model.predict_proba(X), before)


def test_non_finite_output_at_predict_is_an_error(classification):
    X, y = classification
    model = quiet_fit(BackpropRegressor(max_iter=2, random_state=0), X, y.astype(float))
    model.coefs_[0][...] = 1e300
    with pytest.raises(ValueError, match="not finite"):
        model.predict(np.full((2, 8), 1e10))


# -- memory ---------------------------------------------------------------------


def test_fit_holds_no_copy_of_float32_X():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40_000, 100), dtype=np.float32)
    y = (X[:, 0] > 0).astype(int)
    model = BackpropClassifier(
        hidden_layer_sizes=(32,), max_iter=1, early_stopping=True, random_state=0
    )
    peak = peak_allocation(lambda: quiet_fit(model, X, y))
    # Shuffling and the validation split work on row indices: nothing near a
    # second copy of X (16 MB) is ever held.
    assert peak < 0.5 * X.nbytes


def test_predict_on_many_rows_in_bounded_memory():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2_000, 20), dtype=np.float32)
    model = quiet_fit(
        BackpropClassifier(hidden_layer_sizes=(256, 256), max_iter=1, random_state=0),
        X,
        rng.integers(0, 3, len(X)),
    )
    many = rng.standard_normal((200_000, 20), dtype=np.float32)
    for method in (model.predict_proba, model.predict):
        peak = peak_allocation(lambda method=method: method(many))
        # All rows' activations at once would be 2 x 10**5 x 512 x 4 bytes = 400 MB;
        # chunks of about 8 MB of activations keep the peak near that plus the 2.4 MB result.
        assert peak < 16 * 2**20


# -- promises kept in combinations (issue 9) ------------------------------------

rng9 = np.random.default_rng(0)
X9 = rng9.normal(size=(120, 5))
y9 = X9[:, 0] - 2 * X9[:, 1]
yb9 = (X9[:, 0] > 0).astype(int)


def test_huge_final_weights_are_divergence_not_an_infinite_loss():
    # Caught by the output limit (epoch 5) before the weights' squares overflow.
    model = BackpropRegressor(
        hidden_layer_sizes=(8,),
        solver="momentum",
        learning_rate_init=3.0,
        batch_size=120,
        max_iter=7,
        random_state=0,
    )
    with pytest.raises(ValueError, match="outputs reached .* diverged"):
        model.fit(X9, y9)
    assert not hasattr(model, "coefs_")


@pytest.mark.parametrize("solver", ["adam", "rmsprop", "adagrad", "lbfgs", "sgd"])
def test_huge_but_finite_divergence_is_reported_not_passed_as_convergence(solver):
    """Inputs of 1e150: a loss near 1e300 that stops changing is no convergence (issue 18)."""
    model = BackpropRegressor(solver=solver, random_state=0)
    with pytest.raises(ValueError, match="outputs reached .* training diverged"):
        quiet_fit(model, X9 * 1e150, y9)
    assert not hasattr(model, "coefs_")


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_the_output_limit_is_relative_to_the_targets(solver):
    """Targets of 1e12 are fitted, not mistaken for divergence."""
    model = quiet_fit(BackpropRegressor(solver=solver, random_state=0), X9, y9 * 1e12)
    assert np.isfinite(model.loss_)


def test_a_diverging_partial_fit_keeps_the_previous_model():
    model = BackpropRegressor(solver="sgd", random_state=0).partial_fit(X9, y9)
    before = model.predict(X9)
    with pytest.raises(ValueError, match="non-finite.*diverged"):
        model.partial_fit(X9 * 1e150, y9 * 1e150)
    np.testing.assert_array_equal(model.predict(X9), before)
    assert model.n_iter_ == 1 and np.isfinite(model.loss_)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba"])
def test_a_callers_strict_floating_point_state_does_not_break_float32_work(method):
    X = X9.astype(np.float32)
    with np.errstate(all="raise"):
        model = quiet_fit(BackpropClassifier(max_iter=20, random_state=0), X, yb9)
        model.partial_fit(X, yb9)
        result = getattr(model, method)(X * 100)
        assert np.isfinite(result).all()
        assert model.decision_function(X * 100).shape == (120,)
    with np.errstate(all="raise"):
        quiet_fit(BackpropRegressor(max_iter=20, random_state=0), X * 100, y9)


@pytest.mark.parametrize("sparse", [sp.csr_matrix, sp.csc_matrix, sp.csr_array, sp.csc_array])
@pytest.mark.parametrize("Estimator", [BackpropClassifier, BackpropRegressor])
def test_early_stopping_on_sparse_input(Estimator, sparse):
    target = yb9 if Estimator is BackpropClassifier else y9
    model = quiet_fit(
        Estimator(early_stopping=True, max_iter=5, random_state=0), sparse(X9), target
    )
    dense = quiet_fit(Estimator(early_stopping=True, max_iter=5, random_state=0), X9, target)
    assert len(model.validation_loss_curve_) == 5
    np.testing.assert_allclose(model.validation_loss_curve_, dense.validation_loss_curve_)


def test_partial_fit_refuses_class_labels_on_a_multilabel_model_and_vice_versa():
    Y = np.column_stack([yb9, 1 - yb9, X9[:, 2] > 0]).astype(int)
    model = quiet_fit(BackpropClassifier(max_iter=5, random_state=0), X9, Y)
    before = model.predict_proba(X9)
    with pytest.raises(ValueError, match="label indicator matrix.*class labels"):
        model.partial_fit(X9, yb9)
    np.testing.assert_array_equal(model.predict_proba(X9), before)
    model = BackpropClassifier(random_state=0).partial_fit(X9, Y[:, 0] + Y[:, 2], classes=[0, 1, 2])
    with pytest.raises(ValueError, match="class labels.*label indicator matrix"):
        model.partial_fit(X9, Y)


def test_warm_start_refuses_other_classes():
    X, y = load_iris(return_X_y=True)
    model = quiet_fit(BackpropClassifier(warm_start=True, max_iter=3, random_state=0), X, y)
    with pytest.raises(ValueError, match="same classes as in the previous call"):
        model.fit(X[y < 2], y[y < 2])
    assert list(model.classes_) == [0, 1, 2]
    # partial_fit may see a subset of the classes in one batch, as in scikit-learn.
    model.partial_fit(X[y < 2], y[y < 2])


@pytest.mark.parametrize("scoring", [None, "loss", "neg_log_loss", "accuracy"])
def test_early_stopping_on_a_dataframe_warns_nothing_about_feature_names(scoring):
    pd = pytest.importorskip("pandas", reason="needs pandas (test extra)")
    frame = pd.DataFrame(X9, columns=list("abcde"))
    model = BackpropClassifier(early_stopping=True, scoring=scoring, max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(frame, yb9)
        model.predict(frame)
    assert list(model.feature_names_in_) == list("abcde")
    with pytest.warns(UserWarning, match="feature names"):
        model.predict(X9)


@pytest.mark.parametrize("dropout", [[[0.1], [0.2]], ("a", "b"), (0.1, None), (True, 0.1)])
def test_a_malformed_dropout_sequence_names_the_parameter(dropout):
    model = BackpropClassifier(hidden_layer_sizes=(4, 4), dropout=dropout)
    with pytest.raises(ValueError, match="dropout must be"):
        model.fit(X9, yb9)


# -- prediction: a kept network and a fast path for plain arrays (issue 10) ---------


def test_the_fast_path_predicts_what_full_validation_predicts(classification):
    X, y = classification
    model = quiet_fit(BackpropClassifier(max_iter=5, random_state=0), X, y)
    expected = model.predict_proba(X.tolist())  # a list takes the full validation
    for same in (X, np.asfortranarray(X), X.astype(np.float32), X[:1]):
        np.testing.assert_allclose(model.predict_proba(same), expected[: len(same)], rtol=1e-5)
    with pytest.raises(ValueError, match="NaN"):
        model.predict(np.where(X > 2, np.nan, X))
    with pytest.raises(ValueError, match="infinity"):
        model.predict(np.where(X > 2, np.inf, X))
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :3])
    with pytest.raises(ValueError, match="0 sample"):
        model.predict(X[:0])


def test_editing_the_fitted_arrays_in_place_changes_predictions(regression):
    X, y = regression
    model = quiet_fit(BackpropRegressor(max_iter=5, random_state=0), X, y)
    before = model.predict(X)
    model.intercepts_[-1] += 1.0
    np.testing.assert_allclose(model.predict(X), before + 1.0)
    model.coefs_ = [coef * 0 for coef in model.coefs_]  # replaced, not edited
    np.testing.assert_allclose(model.predict(X), np.broadcast_to(model.intercepts_[-1], y.shape))


def test_the_kept_network_is_not_pickled_and_comes_back_after_loading(classification):
    X, y = classification
    model = quiet_fit(BackpropClassifier(max_iter=5, random_state=0), X, y)
    assert "_predicting_network" not in model.__getstate__()
    restored = pickle.loads(pickle.dumps(model))
    assert "_predicting_network" in vars(restored)
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))


def test_threads_predicting_with_one_model_at_once_get_their_own_answers(classification):
    from concurrent.futures import ThreadPoolExecutor

    X, y = classification
    model = quiet_fit(BackpropClassifier(hidden_layer_sizes=(64, 32), max_iter=5), X, y)
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=(int(n), 8)) for n in rng.integers(1, 300, size=64)]
    expected = [model.predict_proba(batch) for batch in inputs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(model.predict_proba, inputs))
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_array_equal(got, want)


# -- dtype: the precision of training and prediction (issue 13) ------------------


@pytest.mark.parametrize(
    "dtype, input_dtype, expected",
    [
        ("auto", np.float64, np.float64),
        ("auto", np.float32, np.float32),
        ("auto", np.int64, np.float64),
        ("float32", np.float64, np.float32),
        ("float64", np.float32, np.float64),
    ],
)
def test_dtype_sets_the_precision_of_weights_and_predictions(dtype, input_dtype, expected):
    X, y = make_classification(n_samples=100, n_features=5, random_state=0)
    X = (X * 10).astype(input_dtype)
    model = quiet_fit(BackpropClassifier(dtype=dtype, max_iter=3, random_state=0), X, y)
    assert {coef.dtype for coef in model.coefs_ + model.intercepts_} == {np.dtype(expected)}
    assert model.predict_proba(X).dtype == expected
    assert model.predict_proba(X.astype(np.float64)).dtype == expected
    regressor = BackpropRegressor(dtype=dtype, max_iter=3, random_state=0)
    assert quiet_fit(regressor, X, y.astype(float)).predict(X).dtype == expected


@pytest.mark.parametrize("dtype, X_dtype", [("float32", np.float64), ("auto", np.float32)])
def test_targets_beyond_float32_say_so_when_training_in_float32(dtype, X_dtype):
    """Not a cast-overflow warning and then 'training diverged' (issue 18, item 17)."""
    model = BackpropRegressor(dtype=dtype, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="y has values beyond float32's range.*float64"):
            model.fit(X9.astype(X_dtype), y9 * 1e39)
    quiet_fit(model.set_params(dtype="float64"), X9, y9 * 1e39)


def test_float32_training_of_float64_input_matches_training_on_float32_input():
    X, y = make_classification(n_samples=200, n_features=6, random_state=0)
    from_64 = quiet_fit(BackpropClassifier(dtype="float32", max_iter=5, random_state=0), X, y)
    from_32 = quiet_fit(BackpropClassifier(max_iter=5, random_state=0), X.astype(np.float32), y)
    assert_same_weights(from_64, from_32)


# -- what scikit-learn's MLP users asked for (issue 19) -------------------------


def test_the_estimator_type_is_an_attribute_too():
    """Tools that read _estimator_type (yellowbrick) accept the models."""
    assert BackpropClassifier._estimator_type == "classifier"
    assert BackpropRegressor()._estimator_type == "regressor"


def test_one_activation_per_hidden_layer(classification):
    X, y = classification
    model = quiet_fit(
        BackpropClassifier((16, 8), activation=("gelu", "tanh"), max_iter=5, random_state=0), X, y
    )
    # The forward pass by hand: gelu, then tanh, then softmax.
    from scipy.special import erf, softmax

    z1 = X @ model.coefs_[0] + model.intercepts_[0]
    a1 = z1 * 0.5 * (1 + erf(z1 / np.sqrt(2)))
    a2 = np.tanh(a1 @ model.coefs_[1] + model.intercepts_[1])
    proba = softmax(a2 @ model.coefs_[2] + model.intercepts_[2], axis=1)
    np.testing.assert_allclose(model.predict_proba(X), proba, rtol=1e-10)
    assert pickle.loads(pickle.dumps(model)).predict_proba(X[:3]).shape == (3, 3)


@pytest.mark.parametrize(
    "activation", [("relu",), ("relu", "tanh", "relu"), ("relu", "swish"), "swish", ("relu", 3)]
)
def test_a_wrong_activation_names_the_parameter(classification, activation):
    X, y = classification
    with pytest.raises(ValueError, match="activation"):
        BackpropClassifier((16, 8), activation=activation).fit(X, y)


def test_a_callable_schedule_sees_epochs_counted_across_calls(classification):
    X, y = classification
    seen = []

    def schedule(epoch):
        seen.append(epoch)
        return 0.01 / (1 + epoch)

    model = BackpropClassifier(learning_rate=schedule, max_iter=3, random_state=0)
    quiet_fit(model, X, y)
    model.partial_fit(X, y)
    assert seen == [0, 1, 2, 3]  # once per epoch trained, never beyond
    assert model.learning_rate_ == 0.01 / 4  # a callable's: the last trained epoch's rate


def test_cosine_ends_at_zero_and_warm_up_starts_small(classification):
    X, y = classification
    cosine = quiet_fit(BackpropClassifier(learning_rate="cosine", max_iter=4, random_state=0), X, y)
    assert cosine.learning_rate_ == 0.0
    warm = BackpropClassifier(warmup_iter=4, learning_rate_init=0.01, random_state=0)
    warm.partial_fit(X, y, classes=np.unique(y))
    assert warm.learning_rate_ == pytest.approx(0.01 * 2 / 4)  # the second epoch's
    assert (
        BackpropClassifier(solver="lbfgs").set_params(max_iter=2).fit(X, y).learning_rate_ is None
    )


def test_warm_up_continues_exactly_across_warm_starts(classification):
    X, y = classification
    settings = dict(warmup_iter=5, learning_rate_init=0.01, random_state=0)
    once = quiet_fit(BackpropClassifier(max_iter=6, **settings), X, y)
    twice = BackpropClassifier(max_iter=3, warm_start=True, **settings)
    quiet_fit(twice, X, y)
    quiet_fit(twice, X, y)
    assert_same_weights(once, twice)


def test_adamw_keeps_l2_out_of_the_gradient_and_the_loss(classification):
    X, y = classification
    full = dict(batch_size=len(X), max_iter=3, random_state=0)
    adam = quiet_fit(BackpropClassifier(solver="adam", l2=0.0, **full), X, y)
    adamw = quiet_fit(BackpropClassifier(solver="adamw", l2=0.5, **full), X, y)
    undecayed = quiet_fit(BackpropClassifier(solver="adamw", l2=0.0, **full), X, y)
    assert_same_weights(adam, undecayed)  # no decay: Adam itself
    assert adamw.loss_curve_[0] == adam.loss_curve_[0]  # no penalty in the loss
    # Decay shrinks the weights, never the biases' share of the work.
    assert np.linalg.norm(adamw.coefs_[0]) < np.linalg.norm(adam.coefs_[0])


# -- a validation set of the user's (issue 19) ------------------------------------


def _split_for_validation(classification):
    X, y = classification
    return X[:220], y[:220], X[220:], y[220:]


def test_early_stopping_scores_the_users_validation_set(classification):
    X, y, X_val, y_val = _split_for_validation(classification)
    model = BackpropClassifier(
        early_stopping=True, n_iter_no_change=5, max_iter=80, learning_rate_init=0.01
    )
    model = quiet_fit(model.set_params(random_state=0), X, y, X_val=X_val, y_val=y_val)
    # Every training row trains (no split), and the kept weights score what was recorded.
    assert model.t_ == model.n_iter_ * len(X)
    assert model.score(X_val, y_val) == model.best_validation_score_
    assert model.best_validation_score_ == model.validation_scores_[model.best_epoch_ - 1]
    assert len(model.validation_loss_curve_) == model.n_iter_


def test_validation_sample_weights_weigh_the_validation_score(classification):
    X, y, X_val, y_val = _split_for_validation(classification)
    weights = np.where(y_val == 0, 3.0, 0.5)
    model = BackpropClassifier(early_stopping=True, max_iter=5, random_state=0)
    quiet_fit(model, X, y, X_val=X_val, y_val=y_val, sample_weight_val=weights)
    # The kept weights score, with the validation weights, what was recorded for them.
    weighted = model.score(X_val, y_val, sample_weight=weights)
    assert weighted == model.best_validation_score_
    assert weighted != model.score(X_val, y_val)  # the weights did change the score


def test_balanced_class_weights_of_validation_rows_come_from_the_training_labels(classification):
    X, y, X_val, y_val = _split_for_validation(classification)
    model = BackpropClassifier(class_weight="balanced", early_stopping=True, scoring="loss")
    model.set_params(max_iter=3, random_state=0)
    validation = model._validation_set((X_val, y_val, None), _fitted_data(model, X, y))
    counts = np.bincount(y, minlength=3)
    expected = (len(y) / (3 * counts))[y_val]
    np.testing.assert_allclose(validation.sample_weight, expected)


def test_a_partial_class_weight_dict_weighs_validation_rows_without_its_classes(classification):
    """{0: 2.0} weighs class 0 twice and the others once, whichever classes y_val holds."""
    X, y, X_val, y_val = _split_for_validation(classification)
    without_0 = y_val != 0
    model = BackpropClassifier(class_weight={0: 2.0}, early_stopping=True, scoring="loss")
    model.set_params(max_iter=3, random_state=0)
    data = _fitted_data(model, X, y)
    for rows in (without_0, ~without_0, slice(None)):
        validation = model._validation_set((X_val[rows], y_val[rows], None), data)
        np.testing.assert_array_equal(validation.sample_weight, np.where(y_val[rows] == 0, 2, 1))
    quiet_fit(model, X, y, X_val=X_val[without_0], y_val=y_val[without_0])  # fits


def _fitted_data(model, X, y):
    quiet_fit(model, X, y)
    return model._training_data(X, y, None, False, False, None)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(X_val="X"), "X_val is given but y_val is not"),
        (dict(y_val="y"), "y_val is given but X_val is not"),
        (dict(sample_weight_val="w"), "sample_weight_val is given without X_val"),
        (dict(X_val="X", y_val="y", early_stopping=False), "set early_stopping=True"),
        (dict(X_val="X", y_val="y", solver="lbfgs"), "lbfgs"),
        (dict(X_val="X3", y_val="y"), "X_val has 3 features, but X has 8"),
        (dict(X_val="X", y_val="unknown"), "y_val contains labels not in classes_"),
        (dict(X_val="X", y_val="short"), "must match"),
        (dict(X_val="X1", y_val="y1"), r"validation set is too small \(1 row\)"),
        (dict(X_val="Xnan", y_val="y"), "Input X_val contains NaN"),
        (dict(X_val="X", y_val="y", sample_weight_val="w3"), "sample_weight_val has shape"),
        (dict(X_val="X", y_val="y", sample_weight_val="w-"), "sample_weight_val has negative"),
        (dict(X_val="X", y_val="multilabel"), "y_val holds a label indicator matrix"),
    ],
)
def test_a_bad_validation_set_is_refused_naming_it(classification, kwargs, message):
    X, y, X_val, y_val = _split_for_validation(classification)
    values = {
        "X": X_val,
        "X3": X_val[:, :3],
        "y": y_val,
        "unknown": np.where(y_val == 0, 7, y_val),
        "short": y_val[:-1],
        "w": np.ones(len(y_val)),
        "X1": X_val[:1],
        "y1": y_val[:1],
        "Xnan": np.where(X_val > 1, np.nan, X_val),
        "w3": np.ones(3),
        "w-": -np.ones(len(y_val)),
        "multilabel": np.eye(3, dtype=int)[y_val],
    }
    params = {key: kwargs.pop(key) for key in ("early_stopping", "solver") if key in kwargs}
    model = BackpropClassifier(**{"early_stopping": True, "max_iter": 3, **params})
    before = quiet_fit(BackpropClassifier(max_iter=2, random_state=0), X, y)
    fitted = copy.deepcopy(before)
    with pytest.raises(ValueError, match=message):
        model.fit(X, y, **{key: values[value] for key, value in kwargs.items()})
    with pytest.raises(ValueError, match=message):  # and a fitted model stays as it was
        fitted.set_params(**model.get_params()).fit(
            X, y, **{key: values[value] for key, value in kwargs.items()}
        )
    np.testing.assert_array_equal(fitted.predict_proba(X), before.predict_proba(X))


def test_the_validation_set_routes_through_a_pipeline_transformed_like_x(classification):
    """Pipeline(transform_input=["X_val"]) scales X_val as X (scikit-learn's metadata routing)."""
    import sklearn
    from sklearn.pipeline import Pipeline

    X, y, X_val, y_val = _split_for_validation(classification)
    X, X_val = X * 100 + 5, X_val * 100 + 5  # unscaled: the scaler matters
    settings = dict(early_stopping=True, max_iter=10, random_state=0)
    scaler = StandardScaler().fit(X)
    direct = quiet_fit(
        BackpropClassifier(**settings),
        scaler.transform(X),
        y,
        X_val=scaler.transform(X_val),
        y_val=y_val,
    )
    with sklearn.config_context(enable_metadata_routing=True):
        network = BackpropClassifier(**settings).set_fit_request(X_val=True, y_val=True)
        pipeline = Pipeline(
            [("scale", StandardScaler()), ("network", network)], transform_input=["X_val"]
        )
        quiet_fit(pipeline, X, y, X_val=X_val, y_val=y_val)
    assert pipeline[-1].validation_scores_ == direct.validation_scores_
    assert_same_weights(pipeline[-1], direct)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_finite_divergence_in_float32_is_reported_under_a_strict_errstate(solver):
    model = BackpropRegressor(solver=solver, dtype="float32", random_state=0)
    with np.errstate(all="raise"), pytest.raises(ValueError, match="outputs reached"):
        quiet_fit(model, X9 * 1e17, y9)


# -- a stream's chunks (issue 23) ------------------------------------------------


@pytest.mark.parametrize(
    "labels",
    [
        np.array([3, 1, 2]),
        np.array([1.0, 2.0, 5.0]),
        np.array(["cat", "dog", "emu"]),
        np.array([0, 1]),
        np.array(["no", "yes"]),
    ],
    ids=["int", "float", "str", "binary int", "binary str"],
)
def test_a_streams_chunks_are_encoded_as_the_label_binarizer_encodes_them(labels):
    """partial_fit's fast path for known labels gives the label binarizer's matrix."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = labels[rng.integers(len(labels), size=60)]
    model = BackpropClassifier((4,), random_state=0).partial_fit(X, y, classes=labels)
    chunk = labels[rng.integers(len(labels), size=25)]
    np.testing.assert_array_equal(
        model._encode_known_labels(chunk), model._label_binarizer.transform(chunk)
    )
    unseen = np.append(chunk, labels[0] if labels.dtype.kind == "U" else 99)
    if labels.dtype.kind == "U":
        unseen[-1] = "zebra"
    assert model._encode_known_labels(unseen) is None  # the general path names it
    with pytest.raises(ValueError, match="y contains labels not in classes_"):
        model.partial_fit(np.vstack([X[:25], X[:1]]), unseen)


def test_partial_fit_on_chunks_gives_the_bits_of_the_general_encoding(monkeypatch):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 5)), rng.integers(4, size=300)
    fast = BackpropClassifier((8,), solver="momentum", random_state=0)
    general = BackpropClassifier((8,), solver="momentum", random_state=0)
    for model in (fast, general):
        if model is general:
            monkeypatch.setattr(BackpropClassifier, "_encode_known_labels", lambda self, y: None)
        for start in range(0, 300, 100):
            model.partial_fit(X[start : start + 100], y[start : start + 100], classes=range(4))
    assert_same_weights(fast, general)
    assert fast.loss_curve_ == general.loss_curve_


def test_a_later_call_appends_to_a_copy_of_the_stored_history():
    """The stored curves are copied (not deep-copied) per call: an earlier state stays whole."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.integers(2, size=20)
    model = BackpropClassifier((4,), random_state=0).partial_fit(X, y, classes=[0, 1])
    stored = model._training_history
    model.partial_fit(X, y)
    assert len(stored["loss_curve"]) == len(stored["gradient_norms"]) == 1
    assert len(model._training_history["loss_curve"]) == 2
