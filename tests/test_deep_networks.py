"""batch_normalization and residual through the estimators: errors, fitted state,
continuation, persistence and prediction (the gradients are checked in test_network.py)."""

import copy
import itertools
import pickle
from contextlib import nullcontext

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import quiet_fit
from sklearn.base import clone
from sklearn.datasets import load_iris

from skbackprop import BackpropClassifier, BackpropRegressor

X, y = load_iris(return_X_y=True)
X = (X - X.mean(axis=0)) / X.std(axis=0)
DEEP = dict(hidden_layer_sizes=(8, 8, 8), batch_normalization=True, residual=True)
BN = dict(batch_normalization=True)


@pytest.mark.parametrize("Estimator", [BackpropClassifier, BackpropRegressor])
def test_batch_size_one_is_refused_naming_both_parameters(Estimator):
    model = Estimator(batch_normalization=True, batch_size=1)
    with pytest.raises(ValueError, match=r"batch_normalization=True.*batch_size=1"):
        model.fit(X, y)


@pytest.mark.parametrize("sizes", [(10,), (10, 5), (10, 5, 10), 7])
def test_residual_without_an_equal_width_pair_is_refused(sizes):
    model = BackpropClassifier(hidden_layer_sizes=sizes, residual=True)
    with pytest.raises(ValueError, match=r"residual=True.*hidden_layer_sizes="):
        model.fit(X, y)


def test_a_last_batch_of_one_row_trains_without_nan():
    # 150 rows in batches of 149: every epoch ends with a one-row batch.
    model = quiet_fit(
        BackpropClassifier(
            batch_size=149, learning_rate_init=0.03, max_iter=50, random_state=0, **DEEP
        ),
        X,
        y,
    )
    assert np.isfinite(model.loss_curve_).all()
    assert all(np.isfinite(a).all() for a in model.coefs_ + model.gammas_ + model.betas_)
    assert model.score(X, y) > 0.8


def test_fitted_attributes_exist_only_with_batch_normalization():
    plain = quiet_fit(
        BackpropClassifier(hidden_layer_sizes=(6, 5), max_iter=3, random_state=0), X, y
    )
    for name in ("gammas_", "betas_", "running_means_", "running_variances_"):
        assert getattr(plain, name) is None
    model = quiet_fit(
        BackpropRegressor(
            hidden_layer_sizes=(6, 5), batch_normalization=True, max_iter=3, random_state=0
        ),
        X,
        y,
    )
    for name in ("gammas_", "betas_", "running_means_", "running_variances_"):
        assert [a.shape for a in getattr(model, name)] == [(6,), (5,)]
    assert (np.concatenate(model.running_variances_) > 0).all()
    assert clone(model).__dict__.get("gammas_") is None  # a clone is unfitted


def test_running_statistics_follow_the_training_batches():
    # One full batch a step, momentum 0: the running statistics are the last batch's,
    # taken at the weights before the last step.
    model = BackpropRegressor(
        hidden_layer_sizes=(5,),
        batch_normalization=True,
        batch_normalization_momentum=0.0,
        batch_size=len(X),
        shuffle=False,
        max_iter=1,
        random_state=0,
    )
    model.partial_fit(X, y)
    before = [model.coefs_[0].copy(), model.intercepts_[0].copy()]
    model.partial_fit(X, y)
    z = X @ before[0] + before[1]
    np.testing.assert_allclose(model.running_means_[0], z.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(model.running_variances_[0], z.var(axis=0), rtol=1e-10)


def test_lbfgs_keeps_the_full_batch_statistics_at_the_final_weights():
    model = quiet_fit(
        BackpropRegressor(
            hidden_layer_sizes=(5,),
            batch_normalization=True,
            solver="lbfgs",
            max_iter=30,
            random_state=0,
        ),
        X,
        y,
    )
    z = X @ model.coefs_[0] + model.intercepts_[0]
    np.testing.assert_allclose(model.running_means_[0], z.mean(axis=0), rtol=1e-8)
    np.testing.assert_allclose(model.running_variances_[0], z.var(axis=0), rtol=1e-8)


def _by_the_equations(model, X):
    """The network's output computed from the user guide's equations, in plain numpy (relu)."""
    a = X
    hidden = zip(
        model.coefs_[:-1],
        model.intercepts_[:-1],
        model.gammas_,
        model.betas_,
        model.running_means_,
        model.running_variances_,
        model._residual_layers,
        strict=True,
    )
    for W, b, gamma, beta, mu, var, skip in hidden:
        z = (a @ W + b - mu) / np.sqrt(var + 1e-5) * gamma + beta
        a = np.maximum(z, 0) + (a if skip else 0)
    logits = a @ model.coefs_[-1] + model.intercepts_[-1]
    if model.out_activation_ == "identity":
        return logits
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def test_prediction_equals_the_normalised_network_by_its_equations():
    model = quiet_fit(BackpropClassifier(max_iter=30, random_state=0, **DEEP), X, y)
    np.testing.assert_allclose(model.predict_proba(X), _by_the_equations(model, X), rtol=1e-9)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_n_epochs_then_n_more_is_2n_epochs_bit_for_bit(solver):
    settings = dict(solver=solver, max_iter=4, dropout=0.2, random_state=0, **DEEP)
    once = quiet_fit(BackpropClassifier(**{**settings, "max_iter": 8}), X, y)
    twice = BackpropClassifier(warm_start=True, **settings)
    quiet_fit(twice, X, y)
    quiet_fit(twice, X, y)
    for name in ("coefs_", "gammas_", "betas_", "running_means_", "running_variances_"):
        for mine, theirs in zip(getattr(twice, name), getattr(once, name), strict=True):
            np.testing.assert_array_equal(mine, theirs)
    # partial_fit carries the running statistics along too.
    incremental = BackpropClassifier(**{**settings, "max_iter": 1})
    for _ in range(8):
        incremental.partial_fit(X, y, classes=np.unique(y))
    np.testing.assert_array_equal(incremental.running_means_[1], once.running_means_[1])


@pytest.mark.parametrize("switched", ["batch_normalization", "residual"])
def test_warm_start_refuses_switching_a_layer_option(switched):
    model = BackpropClassifier(
        hidden_layer_sizes=(6, 6), max_iter=2, warm_start=True, random_state=0
    )
    quiet_fit(model, X, y)
    before = model.predict_proba(X)
    model.set_params(**{switched: True})
    with pytest.raises(ValueError, match=f"same {switched}"):
        model.fit(X, y)
    with pytest.raises(ValueError, match=f"same {switched}"):
        model.partial_fit(X, y)
    # The previous model is kept, and predicts as it did.
    assert model.gammas_ is None and not any(model._residual_layers)
    np.testing.assert_array_equal(model.predict_proba(X), before)


def test_sparse_and_float32_input():
    sparse = sp.csr_matrix(np.where(np.abs(X) < 0.5, 0.0, X))
    settings = dict(max_iter=5, shuffle=False, random_state=0, **DEEP)
    from_sparse = quiet_fit(BackpropClassifier(**settings), sparse, y)
    from_dense = quiet_fit(BackpropClassifier(**settings), sparse.toarray(), y)
    np.testing.assert_allclose(
        from_sparse.predict_proba(sparse), from_dense.predict_proba(sparse.toarray()), rtol=1e-9
    )
    single = quiet_fit(BackpropClassifier(**settings), X.astype(np.float32), y)
    assert all(a.dtype == np.float32 for a in single.gammas_ + single.running_variances_)
    assert single.predict_proba(X.astype(np.float32)).dtype == np.float32


def test_early_stopping_restores_the_best_epochs_running_statistics():
    model = quiet_fit(
        BackpropClassifier(
            early_stopping=True,
            n_iter_no_change=3,
            learning_rate_init=0.05,
            max_iter=60,
            random_state=0,
            **DEEP,
        ),
        X,
        y,
    )
    # The kept weights and statistics belong together: the held-out score at the
    # restored state is the best one recorded.
    _, validation = model._validation_rows(y, model._seed())
    assert model.score(X[validation], y[validation]) == pytest.approx(max(model.validation_scores_))


LAYER_OPTIONS = list(
    itertools.product(
        ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal"], [False, True], [False, True]
    )
)


@pytest.mark.parametrize("init, batch_normalization, residual", LAYER_OPTIONS)
def test_every_combination_survives_pickle(init, batch_normalization, residual):
    model = BackpropClassifier(
        hidden_layer_sizes=(6, 6),
        init=init,
        batch_normalization=batch_normalization,
        residual=residual,
        max_iter=5,
        random_state=0,
    )
    quiet_fit(model, X, y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    model.partial_fit(X, y)
    restored.partial_fit(X, y)
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize(
    "batch_normalization, residual", [(True, False), (False, True), (True, True)]
)
@pytest.mark.parametrize("Estimator", [BackpropClassifier, BackpropRegressor])
def test_skops_round_trip(Estimator, batch_normalization, residual, tmp_path):
    sio = pytest.importorskip("skops.io", reason="needs the skops extra")
    model = Estimator(
        hidden_layer_sizes=(6, 6),
        batch_normalization=batch_normalization,
        residual=residual,
        max_iter=5,
        random_state=0,
    )
    quiet_fit(model, X, y)
    sio.dump(model, tmp_path / "model.skops")
    restored = sio.load(
        tmp_path / "model.skops", trusted=[f"skbackprop._estimators.{type(model).__name__}"]
    )
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    model.partial_fit(X, y)
    restored.partial_fit(X, y)
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))


@pytest.mark.parametrize("edit", ["assign", "in place"])
@pytest.mark.parametrize("array", ["coefs_", "intercepts_", "betas_", "running_variances_"])
def test_edited_normalised_arrays_take_effect_in_predict(edit, array):
    """One source of truth: the fitted arrays, edited in place or assigned (issue 18, item 2)."""
    model = quiet_fit(BackpropRegressor(max_iter=3, random_state=0, **DEEP), X, y)
    before = model.predict(X)
    arrays = getattr(model, array)
    if edit == "assign":
        arrays[0] = arrays[0] * 1.5 + 0.5
    else:
        arrays[0] *= 1.5
        arrays[0] += 0.5
    after = model.predict(X)
    assert not np.allclose(after, before)
    np.testing.assert_allclose(after, _by_the_equations(model, X).ravel(), rtol=1e-9)


def test_predict_onnx_and_saved_copies_agree_after_an_in_place_edit():
    model = quiet_fit(BackpropClassifier((8, 8), max_iter=20, random_state=0, **BN), X, y)
    model.coefs_[0] *= 3
    model.running_means_[1] += 0.2
    expected = model.predict_proba(X)
    for saved in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        np.testing.assert_array_equal(saved.predict_proba(X), expected)
    onnx = pytest.importorskip("skl2onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    from skbackprop.onnx import register_converters

    register_converters()
    graph = onnx.to_onnx(model, X[:1].astype(np.float32), options={"zipmap": False})
    session = onnxruntime.InferenceSession(
        graph.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    _, probabilities = session.run(None, {"X": X.astype(np.float32)})
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)


@pytest.mark.parametrize("save", ["pickle", "deepcopy", "joblib", "skops"])
def test_saving_a_model_changes_nothing_in_it(save, tmp_path):
    """Saving leaves the model's dict, cache and predictions as they were (issue 18, item 1)."""
    model = quiet_fit(BackpropClassifier((8, 8), max_iter=20, random_state=0, **BN), X, y)
    model.coefs_[0] *= 3
    expected = model.predict_proba(X)
    state = dict(vars(model))
    if save == "pickle":
        pickle.dumps(model)
    elif save == "deepcopy":
        copy.deepcopy(model)
    elif save == "joblib":
        import joblib

        joblib.dump(model, tmp_path / "model.joblib")
    else:
        skops_io = pytest.importorskip("skops.io")
        skops_io.dumps(model)
    assert vars(model).keys() == state.keys()
    assert all(vars(model)[key] is value for key, value in state.items())
    np.testing.assert_array_equal(model.predict_proba(X), expected)


@pytest.mark.parametrize("incremental", [False, True])
def test_a_network_without_hidden_layers_continues_with_batch_normalization(incremental):
    """Nothing to normalise, nothing changed: continuing is allowed (issue 18, item 3)."""
    model = BackpropClassifier((), max_iter=5, random_state=0, warm_start=True, **BN)
    for _ in range(2):
        if incremental:
            model.partial_fit(X, y, classes=np.unique(y))
        else:
            quiet_fit(model, X, y)
    assert model.gammas_ is None
    assert len(model.loss_curve_) == (2 if incremental else 10)


@pytest.mark.parametrize("solver", ["adam", "rmsprop", "adagrad", "momentum"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_redundant_bias_of_a_normalised_layer_stays_where_it_started(solver, dtype):
    """Its gradient is exactly zero, not rounding noise (issue 18, item 7)."""
    data = X.astype(dtype)
    start = quiet_fit(BackpropClassifier((8, 8), max_iter=1, random_state=0, **BN), data, y)
    model = BackpropClassifier((8, 8), solver=solver, max_iter=20, random_state=0, **BN)
    model = quiet_fit(model, data, y)
    for before, after in zip(start.intercepts_[:-1], model.intercepts_[:-1], strict=True):
        np.testing.assert_array_equal(after, before)
    assert not np.array_equal(start.intercepts_[-1], model.intercepts_[-1])


def test_a_one_row_batch_still_trains_the_bias_of_a_normalised_layer():
    """Normalised by the running statistics, the bias is not redundant: it gets its gradient."""
    model = BackpropRegressor((8,), batch_size=2, solver="sgd", max_iter=1, random_state=0, **BN)
    first = quiet_fit(model, X[:4], y[:4].astype(float))
    model = BackpropRegressor((8,), batch_size=2, solver="sgd", max_iter=1, random_state=0, **BN)
    one_row_last = quiet_fit(model, X[:5], y[:5].astype(float))
    assert not np.array_equal(first.intercepts_[0], one_row_last.intercepts_[0])


@pytest.mark.parametrize("interrupted", [False, True])
def test_the_kept_epoch_comes_back_whole_with_its_running_statistics(interrupted, monkeypatch):
    """Weights, running statistics, predictions and the validation loss of the kept epoch."""
    from skbackprop._training import Trainer

    seen, original = {}, Trainer._end_epoch

    def end_epoch(self, loss, batches, history, epoch, started):
        new_best = original(self, loss, batches, history, epoch, started)
        seen[epoch] = (self.network.snapshot(), self)
        if interrupted and epoch == 5:
            raise KeyboardInterrupt  # in end-of-epoch work: epochs 1-4 are complete
        return new_best

    monkeypatch.setattr(Trainer, "_end_epoch", end_epoch)
    model = BackpropClassifier(
        early_stopping=True,
        n_iter_no_change=4,
        learning_rate_init=0.05,
        max_iter=40,
        random_state=0,
        **DEEP,
    )
    with pytest.warns(UserWarning, match="interrupted") if interrupted else nullcontext():
        quiet_fit(model, X, y)
    best = model.best_epoch_
    assert best < max(seen)  # a restore happened
    kept, trainer = seen[best]
    np.testing.assert_array_equal(trainer.network.snapshot(), kept)
    n_params = trainer.network.params.size
    statistics = np.concatenate(model.running_means_ + model.running_variances_)
    np.testing.assert_array_equal(statistics, kept[n_params:])
    assert trainer.validation_loss() == model.validation_loss_curve_[best - 1]
    _, validation = model._validation_rows(y, model._seed())
    assert model.score(X[validation], y[validation]) == model.validation_scores_[best - 1]


def test_an_early_stopped_fit_holds_what_a_fit_of_its_best_epochs_holds():
    """The kept epoch's weights and running statistics, bit for bit: a fit that trains
    exactly ``best_epoch_`` epochs (same seed and split) ends where early stopping went back."""
    params = dict(early_stopping=True, learning_rate_init=0.05, random_state=0, **DEEP)
    stopped = quiet_fit(BackpropClassifier(n_iter_no_change=3, max_iter=60, **params), X, y)
    assert stopped.best_epoch_ < stopped.n_iter_  # it went back
    best = BackpropClassifier(n_iter_no_change=1000, max_iter=stopped.best_epoch_, **params)
    best = quiet_fit(best, X, y)
    for name in ("coefs_", "intercepts_", "gammas_", "betas_", "running_means_"):
        for a, b in zip(getattr(stopped, name), getattr(best, name), strict=True):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(stopped.running_variances_, best.running_variances_, strict=True):
        np.testing.assert_array_equal(a, b)
