"""The sequence estimators: series in every accepted form, errors, continuation, persistence.

scikit-learn's own checks run in ``test_sklearn_checks``; the layers' maths
is checked in ``test_layers`` and ``test_sequence_layers``.
"""

import inspect
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import assert_same_weights, peak_allocation, quiet_fit

from skbackprop import (
    BackpropClassifier,
    BackpropRegressor,
    BackpropSequenceClassifier,
    BackpropSequenceRegressor,
)
from skbackprop.inspection import input_gradients, integrated_gradients, predictive_draws

SMALL = dict(conv_filters=(6, 6), kernel_sizes=(5, 3), random_state=0)


def _waves(n=60, n_steps=40, n_channels=1, seed=0):
    """Series whose class is a sine's frequency, in noise: ``(n, n_channels, n_steps)``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    t = np.linspace(0, 1, n_steps)
    phase = rng.uniform(0, 2 * np.pi, (n, n_channels, 1))
    X = np.sin(2 * np.pi * (2 + 3 * y[:, None, None]) * t + phase)
    return X + 0.3 * rng.normal(size=X.shape), y


def test_a_frequency_is_told_from_noisy_series():
    X, y = _waves(n=150, seed=0)
    X_test, y_test = _waves(n=150, seed=1)
    model = quiet_fit(BackpropSequenceClassifier(**SMALL, max_iter=60), X, y)
    assert model.score(X_test, y_test) > 0.95
    assert [coef.shape for coef in model.conv_coefs_] == [(6, 1, 5), (6, 6, 3)]
    assert model.n_channels_in_ == 1 and not hasattr(model, "n_features_in_")
    assert model.coefs_[0].shape == (6, 3)


def test_2d_3d_and_listed_series_are_the_same_series():
    X, y = _waves()
    model = quiet_fit(BackpropSequenceClassifier(**SMALL, max_iter=5), X, y)
    expected = model.predict_proba(X)
    np.testing.assert_array_equal(model.predict_proba(X[:, 0]), expected)
    np.testing.assert_array_equal(model.predict_proba(list(X)), expected)
    flat = quiet_fit(BackpropSequenceClassifier(**SMALL, max_iter=5), X[:, 0], y)
    listed = quiet_fit(BackpropSequenceClassifier(**SMALL, max_iter=5), list(X), y)
    for other in (flat, listed):
        assert_same_weights(other, model)
        np.testing.assert_array_equal(other.conv_coefs_[0], model.conv_coefs_[0])
    assert flat.n_features_in_ == X.shape[2]


def test_a_series_predicts_the_same_whatever_it_is_batched_with():
    X, y = _waves(n_channels=2)
    lengths = np.random.default_rng(0).integers(5, 41, len(X))
    series = [x[:, :length] for x, length in zip(X, lengths, strict=True)]
    model = quiet_fit(BackpropSequenceRegressor(**SMALL, pooling="max", max_iter=5), series, y)
    together = model.predict(series)
    for index in (0, 7, 33):
        alone = model.predict([series[index]])
        np.testing.assert_allclose(alone[0], together[index], rtol=1e-12, atol=1e-12)
    # Other lengths than fit's: longer and shorter series predict.
    assert model.predict(np.zeros((3, 2, 100))).shape == (3,)
    assert model.predict(np.zeros((3, 2, 1))).shape == (3,)


@pytest.mark.parametrize("pooling", ["average", "max"])
def test_predict_on_many_short_series_in_bounded_memory(pooling):
    # Series shorter than the kernel: the convolution's padded buffers hold 15 steps for
    # each 1-step series, and the size of a prediction chunk has to count them.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 1, 3), dtype=np.float32)
    model = BackpropSequenceClassifier((64,), (15,), pooling=pooling, max_iter=1, random_state=0)
    quiet_fit(model, X, rng.integers(0, 3, len(X)))
    many = rng.standard_normal((100_000, 1, 1), dtype=np.float32)
    # Chunks of about 8 MB (the last one smaller, a workspace of its own) keep the peak
    # under 16 MB; counted per step, the chunks took 41 MB.
    assert peak_allocation(lambda: model.predict_proba(many)) < 16 * 2**20


@pytest.mark.parametrize(
    "X, error, match",
    [
        (np.full((4, 1, 10), np.nan), ValueError, "NaN"),
        (np.zeros((4, 1, 0)), ValueError, "no timepoints"),
        (np.zeros((4, 1, 10, 2)), ValueError, "4-D"),
        ([np.zeros((1, 5)), np.zeros((2, 5))], ValueError, "same channels"),
        ([np.zeros((1, 5)), np.zeros((1, 0))], ValueError, "feature"),
        (sp.csr_matrix(np.ones((4, 10))), TypeError, "[Ss]parse"),
    ],
    ids=["nan", "empty", "4d", "channels", "empty-in-list", "sparse"],
)
def test_bad_series_are_refused_with_what_is_wrong(X, error, match):
    y = np.arange(len(X) if not sp.issparse(X) else X.shape[0]) % 2
    with pytest.raises(error, match=match):
        BackpropSequenceClassifier(**SMALL).fit(X, y)


def test_prediction_needs_the_channels_of_fit_and_a_2d_fit_its_timepoints():
    X, y = _waves(n_channels=2)
    model = quiet_fit(BackpropSequenceClassifier(**SMALL, max_iter=2), X, y)
    with pytest.raises(ValueError, match="has 1 channels.*fitted with 2"):
        model.predict(X[:, :1])
    flat = quiet_fit(BackpropSequenceClassifier(**SMALL, max_iter=2), X[:, 0], y)
    with pytest.raises(ValueError, match="features"):
        flat.predict(X[:, 0, :30])
    assert flat.predict(X[:, :1, :30]).shape == (len(X),)  # 3-D: any length


def test_partial_fit_equals_fit_epoch_by_epoch():
    X, y = _waves()
    params = dict(**SMALL, shuffle=False, tol=0, n_iter_no_change=100)
    fitted = quiet_fit(BackpropSequenceClassifier(max_iter=3, **params), X, y)
    incremental = BackpropSequenceClassifier(**params)
    for _ in range(3):
        incremental.partial_fit(X, y, classes=np.unique(y))
    assert_same_weights(fitted, incremental)
    for mine, theirs in zip(fitted.conv_coefs_, incremental.conv_coefs_, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert incremental.loss_curve_ == fitted.loss_curve_


def test_warm_start_goes_on_and_refuses_other_blocks():
    X, y = _waves()
    model = quiet_fit(BackpropSequenceClassifier(**SMALL, max_iter=2, warm_start=True), X, y)
    quiet_fit(model, X, y)
    assert len(model.loss_curve_) == 4
    model.set_params(conv_filters=(6, 7))
    with pytest.raises(ValueError, match="same conv_filters, kernel_sizes"):
        model.fit(X, y)
    assert model.conv_coefs_[1].shape == (6, 6, 3)


def test_saved_and_loaded_predicts_and_trains_on_identically():
    X, y = _waves()
    model = quiet_fit(BackpropSequenceClassifier(**SMALL, max_iter=2), X, y)
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    for continued in (model, loaded):
        continued.partial_fit(X, y)
    assert_same_weights(model, loaded)


def test_early_stopping_on_a_split_and_on_given_series():
    X, y = _waves(n=80)
    model = quiet_fit(BackpropSequenceClassifier(**SMALL, early_stopping=True, max_iter=5), X, y)
    assert len(model.validation_scores_) == model.n_iter_
    X_val, y_val = _waves(n=20, seed=2)
    given = BackpropSequenceClassifier(**SMALL, early_stopping=True, max_iter=5)
    quiet_fit(given, X, y, X_val=list(X_val), y_val=y_val)
    assert len(given.validation_scores_) == given.n_iter_
    with pytest.raises(ValueError, match="X_val has 2 channels"):
        quiet_fit(given, X, y, X_val=np.concatenate([X_val, X_val], axis=1), y_val=y_val)


def test_a_default_model_trains_in_float32():
    X, y = _waves()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BackpropSequenceClassifier(max_iter=3, random_state=0).fit(X.astype(np.float32), y)
    assert model.conv_coefs_[0].dtype == np.float32
    assert [coef.shape[2] for coef in model.conv_coefs_] == [7, 5, 3]
    assert model.conv_gammas_ is not None and model.gammas_ is None


@pytest.mark.parametrize("unequal", [True, False], ids=["unequal lengths", "sample weights"])
def test_float32_trains_where_steps_carry_their_own_weights(unequal):
    # Unequal lengths and sample weights give each step its own weight in batch
    # normalization's statistics; those weights must follow the data's dtype.
    X, y = _waves()
    X = X.astype(np.float32)
    if unequal:
        series, weights = [row[:, : 20 + index % 10] for index, row in enumerate(X)], None
    else:
        series, weights = X, np.linspace(0.5, 1.5, len(X)).astype(np.float32)
    model = quiet_fit(BackpropSequenceClassifier(**SMALL, max_iter=3), series, y, weights)
    assert model.conv_coefs_[0].dtype == np.float32
    in_float64 = quiet_fit(
        BackpropSequenceClassifier(**SMALL, max_iter=3, dtype="float64"), series, y, weights
    )
    np.testing.assert_allclose(
        model.predict_proba(series), in_float64.predict_proba(series), atol=1e-4
    )


@pytest.mark.parametrize(
    "sequence, mlp",
    [
        (BackpropSequenceClassifier, BackpropClassifier),
        (BackpropSequenceRegressor, BackpropRegressor),
    ],
)
def test_the_signature_is_the_mlp_estimators_with_the_blocks_first(sequence, mlp):
    # scikit-learn reads parameters from __init__'s signature, so each sequence estimator
    # repeats its MLP estimator's: they must not drift apart.
    mine = inspect.signature(sequence.__init__).parameters
    theirs = inspect.signature(mlp.__init__).parameters
    own = ["conv_filters", "kernel_sizes", "recurrent_units", "pooling"]
    assert list(mine)[1:5] == own
    own += ["cell", "bptt_truncate"]
    assert [n for n in mine if n not in own] == list(theirs)
    changed = {"hidden_layer_sizes": (), "learning_rate_init": 0.01, "batch_normalization": True}
    if sequence is BackpropSequenceClassifier:  # trains on to wider margins, and in batches
        changed.update(max_iter=300, tol=1e-5, learning_rate="adaptive")
    for name, parameter in theirs.items():
        assert mine[name].kind == parameter.kind, name
        assert mine[name].default == changed.get(name, parameter.default), name


@pytest.mark.parametrize(
    "sequence, mlp",
    [
        (BackpropSequenceClassifier, BackpropClassifier),
        (BackpropSequenceRegressor, BackpropRegressor),
    ],
)
def test_methods_taking_x_document_series_and_keep_the_mlp_estimators_signatures(sequence, mlp):
    names = ["fit", "partial_fit", "predict", "score"]
    names += ["predict_proba", "predict_log_proba", "decision_function"] * (
        mlp is BackpropClassifier
    )
    for name in names:
        doc = getattr(sequence, name).__doc__
        assert "(n_samples, n_channels, n_timepoints)" in doc, name
        assert "n_features)" not in doc and "sparse matrix" not in doc, name
        assert inspect.signature(getattr(sequence, name)) == inspect.signature(getattr(mlp, name))
    assert "X_val : array-like or list of arrays, series as X" in sequence.fit.__doc__
    # partial_fit stays unavailable where the MLP estimator's is (lbfgs has none).
    assert not hasattr(sequence(solver="lbfgs"), "partial_fit")
    assert hasattr(sequence(), "partial_fit")


def test_input_gradients_per_channel_and_timepoint_match_finite_differences():
    X, y = _waves(n_channels=2)
    model = quiet_fit(BackpropSequenceClassifier(**SMALL, max_iter=5), X, y)
    gradients = input_gradients(model, X[:3], target=1)
    assert gradients.shape == (3, 2, 40)
    numeric = np.zeros_like(X[:3])
    for index in np.ndindex(numeric.shape):
        up, down = X[:3].copy(), X[:3].copy()
        up[index] += 1e-6
        down[index] -= 1e-6
        row = index[0]
        numeric[index] = (
            model.predict_proba(up)[row, 1] - model.predict_proba(down)[row, 1]
        ) / 2e-6
    np.testing.assert_allclose(gradients, numeric, rtol=1e-5, atol=1e-8)
    # Unequal lengths: one array per series, of its own steps; a 2-D X: rows of steps.
    listed = input_gradients(model, [X[0, :, :40], X[1, :, :17]], target=1)
    assert [g.shape for g in listed] == [(2, 40), (2, 17)]
    np.testing.assert_allclose(listed[0], gradients[0], rtol=1e-12)


def test_mc_dropout_draws_series():
    X, y = _waves()
    model = BackpropSequenceClassifier(**SMALL, hidden_layer_sizes=(8,), dropout=0.3, max_iter=3)
    quiet_fit(model, X, y)
    draws = predictive_draws(model, X[:4], n_draws=5, random_state=0)
    assert draws.shape == (5, 4, 3) and np.isfinite(draws).all()


@pytest.mark.parametrize("n_series, batch_size", [(63, 63), (64, 32), (200, 32)])
def test_the_classifiers_auto_batches_are_all_series_below_64_and_32_from_there(
    n_series, batch_size
):
    X, y = _waves(n=n_series, n_steps=12)
    X_test = _waves(n=10, n_steps=12, seed=1)[0]

    def probabilities(**batches):
        model = BackpropSequenceClassifier(**SMALL, max_iter=2, **batches)
        return quiet_fit(model, X, y).predict_proba(X_test)

    auto = probabilities()
    np.testing.assert_array_equal(auto, probabilities(batch_size=batch_size))
    other = 32 if batch_size == n_series else n_series
    assert not np.array_equal(auto, probabilities(batch_size=other))

    # The regressor keeps the MLP's min(200, n_samples): all of these series.
    def predictions(**batches):
        model = BackpropSequenceRegressor(**SMALL, max_iter=2, **batches)
        return quiet_fit(model, X, y.astype(float)).predict(X_test)

    np.testing.assert_array_equal(predictions(), predictions(batch_size=n_series))


@pytest.mark.parametrize(
    "name, seed, target",
    [
        # A list of series of 7-29 steps; 270 series, so batches of 32. Seed 0 gave 0.989.
        ("JapaneseVowels", 0, 0.95),
        # 67 series of 24 steps, batches of 32. Each of seeds 0, 1 and 2 gave 0.963.
        ("ItalyPowerDemand", 0, 0.96),
        # 36 series of 251 steps, one batch: the fragile one (seeds 0, 1, 2: 0.834,
        # 0.834, 0.800; mini-batches of 32 gave 0.646).
        ("ArrowHead", 0, 0.82),
    ],
)
def test_default_accuracy_on_aeons_bundled_sets(name, seed, target):
    # The data sets' own splits; the issue's targets are means over 3 seeds, one here.
    # (GunPoint and BasicMotions are checked where the gallery example fits them:
    # tests/test_examples.py, plot_classifying_time_series.py.)
    datasets = pytest.importorskip("aeon.datasets")
    X, y = datasets.load_classification(name, split="train")
    X_test, y_test = datasets.load_classification(name, split="test")
    model = quiet_fit(BackpropSequenceClassifier(random_state=seed), X, y)
    assert model.score(X_test, y_test) >= target


RECURRENT = dict(conv_filters=(4,), kernel_sizes=(3,), recurrent_units=(6, 5), random_state=0)


@pytest.mark.parametrize("cell, gates", [("gru", 3), ("elman", 1)])
def test_recurrent_layers_are_fitted_in_pytorchs_layouts(cell, gates):
    X, y = _waves(n_channels=2)
    model = quiet_fit(BackpropSequenceClassifier(**RECURRENT, cell=cell, max_iter=2), X, y)
    assert [a.shape for a in model.recurrent_input_coefs_] == [(gates * 6, 4), (gates * 5, 6)]
    assert [a.shape for a in model.recurrent_hidden_coefs_] == [(gates * 6, 6), (gates * 5, 5)]
    assert [a.shape for a in model.recurrent_hidden_intercepts_] == [(gates * 6,), (gates * 5,)]
    assert model.coefs_[0].shape == (5, 3)
    # The fitted arrays alone rebuild the model: a loaded one predicts the same bits.
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("pooling", ["last", "average"])
def test_a_recurrent_model_predicts_a_series_the_same_whatever_it_is_batched_with(pooling):
    X, y = _waves(n_channels=2)
    lengths = np.random.default_rng(4).integers(1, 41, len(X))
    series = [x[:, :length] for x, length in zip(X, lengths, strict=True)]
    model = BackpropSequenceRegressor(**RECURRENT, pooling=pooling, bptt_truncate=3, max_iter=3)
    together = quiet_fit(model, series, y).predict(series)
    for index in (0, 5, 21):
        np.testing.assert_allclose(
            model.predict([series[index]])[0], together[index], rtol=1e-12, atol=1e-12
        )


def test_a_recurrent_model_continues_exactly_and_refuses_other_units():
    X, y = _waves()
    params = dict(**RECURRENT, cell="elman", bptt_truncate=4, shuffle=False, tol=0)
    fitted = quiet_fit(BackpropSequenceClassifier(max_iter=2, **params), X, y)
    incremental = BackpropSequenceClassifier(**params)
    for _ in range(2):
        incremental.partial_fit(X, y, classes=np.unique(y))
    for mine, theirs in zip(
        fitted.recurrent_hidden_coefs_, incremental.recurrent_hidden_coefs_, strict=True
    ):
        np.testing.assert_array_equal(mine, theirs)
    incremental.set_params(recurrent_units=(6,))
    with pytest.raises(ValueError, match="same conv_filters, kernel_sizes, recurrent_units"):
        incremental.partial_fit(X, y)


def test_integrated_gradients_over_series_add_up_to_the_output_change():
    X, y = _waves(n_channels=2)
    lengths = np.random.default_rng(5).integers(8, 41, len(X))
    series = [x[:, :length] for x, length in zip(X, lengths, strict=True)]
    model = BackpropSequenceClassifier(**SMALL, recurrent_units=(5,), activation="tanh")
    quiet_fit(model.set_params(max_iter=5), series, y)
    result = integrated_gradients(model, series[:6], return_gap=True, baseline=0.5)
    assert [a.shape for a in result.attributions] == [s.shape for s in series[:6]]
    change = np.abs(result.outputs - result.baseline_outputs)
    assert np.all(np.abs(result.gap) <= 1e-3 * change + 1e-9)
    # A series' attributions do not depend on what it is explained with.
    alone = integrated_gradients(model, [series[4]], baseline=0.5)
    np.testing.assert_allclose(alone[0], result.attributions[4], rtol=1e-9, atol=1e-12)
    three_d = integrated_gradients(model, X[:2])
    assert three_d.shape == (2, 2, 40)
    with pytest.raises(ValueError, match="one finite number"):
        integrated_gradients(model, X[:2], baseline=np.zeros(40))


@pytest.mark.parametrize("form", ["3-D", "list", "2-D"])
def test_attribution_display_draws_series(form):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from skbackprop.inspection import AttributionDisplay

    X, y = _waves(n_channels=1 if form == "2-D" else 2)
    X_in = {"3-D": X, "list": [x[:, : 20 + i] for i, x in enumerate(X)], "2-D": X[:, 0]}[form]
    model = quiet_fit(BackpropSequenceClassifier(**SMALL, max_iter=3), X_in, y)
    display = AttributionDisplay.from_estimator(model, X_in[:5])
    assert display.series and display.ax_.shape == (4, 1)
    channels = 1 if form == "2-D" else 2
    assert len(display.ax_[0, 0].collections) == channels  # a scatter per channel
    if form == "list":
        assert display.importances_ is None
    else:
        assert display.importances_.shape == (channels, 40)
