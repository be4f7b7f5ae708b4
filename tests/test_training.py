"""The epoch loop: batching, penalties, sample weights, stopping and divergence."""

import signal
import tracemalloc

import numpy as np
import pytest
from helpers import dense_network, quiet_fit
from sklearn.datasets import make_classification

from skbackprop import BackpropClassifier
from skbackprop._layers import DenseBlock
from skbackprop._losses import LOSSES
from skbackprop._solvers import Adam, Momentum, Sgd
from skbackprop._training import History, Trainer, TrainingData, _Batches, _CtrlC


def _setup(n=60, batch_size=10, l1=0.0, l2=0.0, seed=0, lr=0.1, solver=Sgd, **kwargs):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    Y = np.eye(3)[rng.integers(0, 3, n)]
    network = dense_network([4, 6, 3], "tanh", "softmax", np.float64).initialize(rng)
    trainer = Trainer(
        network,
        LOSSES["softmax"],
        solver(lr),
        batch_size=batch_size,
        l1=l1,
        l2=l2,
        penalty_n_samples=n,
        shuffle=kwargs.pop("shuffle", False),
        rng=np.random.default_rng(seed),
        tol=kwargs.pop("tol", 0.0),
        n_iter_no_change=kwargs.pop("n_iter_no_change", 100),
        **kwargs,
    )
    return X, Y, network, trainer


def _gradient(network, trainer, X, Y, scale):
    ws = network.forward(X, training=True)
    trainer.loss.output_delta(ws, Y, scale)
    network.backward(X, ws)
    trainer._add_penalty_gradient()
    return network.grads.copy()


def test_mini_batch_gradients_average_to_the_full_batch_gradient():
    # The penalty is divided by n, not by the batch size, so the mean of the
    # batch gradients over an epoch is the gradient of one objective.
    X, Y, network, trainer = _setup(l1=0.5, l2=2.0)
    full = _gradient(network, trainer, X, Y, 1 / len(X))
    batches = [
        _gradient(network, trainer, X[i : i + 10], Y[i : i + 10], 1 / 10) for i in range(0, 60, 10)
    ]
    np.testing.assert_allclose(np.mean(batches, axis=0), full, rtol=1e-12, atol=1e-15)


def test_integer_sample_weights_act_like_repeated_rows():
    X, Y, network, trainer = _setup(l2=1.0)
    weights = np.arange(len(X)) % 4
    scale = (weights / weights.sum())[:, None]
    weighted = _gradient(network, trainer, X, Y, scale)
    repeated = np.repeat(np.arange(len(X)), weights)
    trainer.penalty_n_samples = weights.sum()
    weighted_total = _gradient(network, trainer, X, Y, scale)
    assert not np.allclose(weighted, weighted_total)
    as_rows = _gradient(network, trainer, X[repeated], Y[repeated], 1 / len(repeated))
    np.testing.assert_allclose(weighted_total, as_rows, rtol=1e-10)


def test_batches_cover_every_row_once_per_epoch():
    X = np.arange(23, dtype=float)[:, None]
    Y = X.copy()
    batches = _Batches(X, Y, None, batch_size=5, shuffle=True, dtype=np.float64)
    np.random.default_rng(0).shuffle(batches.order)
    seen, sizes = [], []
    for X_batch, Y_batch, scale, weight in batches:
        np.testing.assert_array_equal(X_batch, Y_batch)
        assert scale == 1 / len(X_batch) and weight == len(X_batch)
        seen.extend(X_batch[:, 0].tolist())
        sizes.append(len(X_batch))
    assert sorted(seen) == list(range(23)) and seen != list(range(23))
    assert sizes == [5, 5, 5, 5, 3]


def test_sample_weight_scales_sum_to_one_per_batch_and_zero_batches_are_safe():
    X = np.ones((6, 1))
    w = np.array([0.0, 0.0, 0.0, 1.0, 3.0, 0.0])
    batches = _Batches(X, X, w, batch_size=3, shuffle=False, dtype=np.float64)
    # The scale column is a buffer reused by the next batch: copy it.
    (scale0, weight0), (scale1, weight1) = [(scale.copy(), weight) for *_, scale, weight in batches]
    assert weight0 == 0 and (scale0 == 0).all()
    assert weight1 == 4 and scale1[:, 0].tolist() == [0.25, 0.75, 0.0]
    assert batches.total_weight == 4


def test_history_and_stopping_rule():
    X, Y, network, trainer = _setup(tol=1e9, n_iter_no_change=3)
    history = History()
    n_epochs, stopped = trainer.run(TrainingData(X, Y), max_epochs=50, history=history)
    # Epoch 1 improves on nothing; epochs 2-4 fail to improve by tol: stop.
    assert (n_epochs, stopped) == (4, True)
    assert len(history.loss_curve) == 4 and history.samples_seen == 4 * len(X)
    assert history.best_loss == min(history.loss_curve)


def test_loss_decreases_with_plain_gradient_descent():
    X, Y, network, trainer = _setup(batch_size=60, lr=0.5)
    history = History()
    trainer.run(TrainingData(X, Y), max_epochs=30, history=history)
    assert all(b < a for a, b in zip(history.loss_curve, history.loss_curve[1:], strict=False))


def test_divergence_raises_with_advice():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) * 1e3
    Y = X @ rng.normal(size=(3, 1))
    network = dense_network([3, 4, 1], "identity", "identity", np.float64).initialize(rng)
    trainer = Trainer(
        network,
        LOSSES["identity"],
        Sgd(1.0),
        batch_size=10,
        l1=0,
        l2=0,
        penalty_n_samples=50,
        shuffle=False,
        rng=rng,
        tol=0,
        n_iter_no_change=100,
    )
    with pytest.raises(ValueError, match="non-finite.*learning_rate_init.*scale"):
        trainer.run(TrainingData(X, Y), max_epochs=100, history=History())


def test_validation_score_drives_stopping_and_best_weights_are_restored():
    X, Y, network, trainer = _setup(n_iter_no_change=2)
    scores = iter([0.5, 0.9, 0.7, 0.6, 0.95])
    snapshots = []

    def validation_score(validation_loss):
        snapshots.append(network.params.copy())
        return next(scores)

    trainer.validation_score = validation_score
    history = History(validation_scores=[])
    n_epochs, stopped = trainer.run(TrainingData(X, Y), max_epochs=10, history=history)
    assert (n_epochs, stopped) == (4, True)
    assert history.validation_scores == [0.5, 0.9, 0.7, 0.6]
    assert history.best_validation_score == 0.9
    np.testing.assert_array_equal(network.params, snapshots[1])


def _second_epoch_peak_allocation(
    batch_size, activation, solver, dropout, weighted, shuffle, layer_options
):
    rng = np.random.default_rng(0)
    n = 4 * batch_size
    X = rng.normal(size=(n, 32))
    Y = np.eye(4)[rng.integers(0, 4, n)]
    weights = rng.uniform(0, 2, n) if weighted else None
    network = dense_network(
        [32, 256, 256, 4], activation, "softmax", np.float64, (dropout, dropout), **layer_options
    )
    network.initialize(rng)
    return _peak_of_second_epoch(network, X, Y, weights, batch_size, solver(0.01), shuffle, rng)


def _peak_of_second_epoch(network, X, Y, weights, batch_size, solver, shuffle, rng):
    """Peak bytes allocated by the second epoch of training ``network`` (L1 and L2 on)."""
    trainer = Trainer(
        network,
        LOSSES["softmax"],
        solver,
        batch_size=batch_size,
        l1=0.1,
        l2=0.1,
        penalty_n_samples=len(X),
        shuffle=shuffle,
        rng=rng,
        tol=0,
        n_iter_no_change=10,
    )
    batches = _Batches(X, Y, weights, batch_size, shuffle, np.float64)
    with _CtrlC() as ctrl_c:
        trainer._run_batches(batches, 1, ctrl_c)
        tracemalloc.start()
        try:
            trainer._run_batches(batches, 2, ctrl_c)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


BN = dict(batch_normalization=True)
RESIDUAL = dict(residual=True)


@pytest.mark.parametrize(
    "activation, solver, dropout, weighted, shuffle, layer_options",
    [
        ("relu", Adam, 0.0, False, True, {}),
        ("leaky_relu", Momentum, 0.3, True, True, {}),
        ("logistic", Sgd, 0.5, True, False, {}),
        ("tanh", Adam, 0.0, False, False, {}),
        ("relu", Adam, 0.0, False, True, BN),
        ("tanh", Momentum, 0.0, True, True, RESIDUAL),
        ("relu", Adam, 0.2, True, True, {**BN, **RESIDUAL}),
        ("logistic", Sgd, 0.0, False, False, {**BN, **RESIDUAL}),
        ("gelu", Adam, 0.2, True, True, {}),
        ("silu", Momentum, 0.0, False, True, BN),
        ("elu", Sgd, 0.0, True, False, RESIDUAL),
        ("softplus", Adam, 0.0, False, True, {}),
        (("gelu", "relu"), Adam, 0.0, False, True, {}),
    ],
)
def test_batch_loop_allocates_nothing_that_scales_with_the_batch(
    activation, solver, dropout, weighted, shuffle, layer_options
):
    config = (activation, solver, dropout, weighted, shuffle, layer_options)
    # Buffers for activations, deltas, gradients and solver state are made in
    # the first epoch; later epochs allocate only small fixed-size objects
    # (numpy's ufunc casting buffer, the per-epoch finiteness check).
    small = _second_epoch_peak_allocation(256, *config)
    large = _second_epoch_peak_allocation(2048, *config)
    # One large batch's first hidden layer alone is 2048 x 256 x 8 bytes = 4 MiB.
    assert large < 200 * 1024
    assert large - small < 8 * 1024


# -- what the recorded loss is, and divergence (issue 9) -------------------------


def _objective(network, trainer, X, Y):
    ws = network.forward(X)
    data_loss = trainer.loss.value(ws, Y, 1 / len(X))
    return data_loss + trainer.penalty()


@pytest.mark.parametrize("l1, l2", [(0.0, 0.5), (0.3, 0.0), (0.3, 0.5)])
def test_a_full_batch_epoch_records_the_objective_before_its_step(l1, l2):
    X, Y, network, trainer = _setup(batch_size=60, l1=l1, l2=l2, lr=0.5)
    before = _objective(network, trainer, X, Y)
    history = History()
    trainer.run(TrainingData(X, Y), max_epochs=1, history=history)
    after = _objective(network, trainer, X, Y)
    assert history.loss_curve[0] == pytest.approx(before, rel=1e-12)
    assert after < before - 1e-3


def test_mini_batch_loss_is_the_mean_of_each_batchs_objective_before_its_step():
    X, Y, network, trainer = _setup(batch_size=20, l2=0.5, lr=0.5)
    expected, params = [], network.snapshot()
    # Replay the epoch by hand: each batch's objective, then its step.
    for start in range(0, 60, 20):
        rows = slice(start, start + 20)
        ws = network.forward(X[rows], training=True)
        loss = trainer.loss.value(ws, Y[rows], 1 / 20)
        trainer.loss.output_delta(ws, Y[rows], 1 / 20)
        network.backward(X[rows], ws)
        expected.append(loss + trainer._add_penalty_gradient())
        trainer.solver.step(network.params, network.grads)
    network.restore(params)
    history = History()
    trainer.run(TrainingData(X, Y), max_epochs=1, history=history)
    assert history.loss_curve[0] == pytest.approx(np.mean(expected), rel=1e-12)


def test_huge_but_finite_weights_are_divergence():
    # One batch an epoch: the last step's weights are checked at the end of the epoch.
    X, Y, network, trainer = _setup(batch_size=60)

    def explode(params, grads):
        params[:] = 1e200

    trainer.solver.step = explode
    with pytest.raises(ValueError, match="squared weights became non-finite.*epoch 1"):
        trainer.run(TrainingData(X, Y), max_epochs=3, history=History())


def test_a_non_finite_validation_loss_is_divergence():
    X, Y, network, trainer = _setup()
    trainer.validation_data = (X[:5] * np.inf, Y[:5], None)
    with pytest.raises(ValueError, match="validation loss became non-finite"):
        trainer.run(TrainingData(X, Y), max_epochs=3, history=History(validation_losses=[]))


# -- interrupts keep weights, solver state and history together -----------------


class _Hooks:
    """Epoch hooks that raise KeyboardInterrupt at a chosen moment of a chosen epoch."""

    def __init__(self, moment, epoch):
        self.moment, self.epoch, self.count = moment, epoch, 0

    def begin_epoch(self):
        self.count += 1
        if self.moment == "begin" and self.count == self.epoch:
            raise KeyboardInterrupt

    def end_epoch(self):
        if self.moment == "end" and self.count == self.epoch:
            raise KeyboardInterrupt
        return False


def _adam_trainer(**kwargs):
    return _setup(solver=Adam, lr=0.01, l2=0.1, shuffle=True, **kwargs)


@pytest.mark.parametrize("moment", ["begin", "end"])
def test_an_interrupt_in_a_hook_keeps_the_last_complete_epoch_and_its_solver_state(moment):
    X, Y, network, trainer = _adam_trainer(hooks=_Hooks(moment, epoch=4))
    history = History()
    with pytest.warns(UserWarning, match="after 3 complete epochs"):
        n_epochs, stopped = trainer.run(TrainingData(X, Y), max_epochs=10, history=history)
    assert (n_epochs, stopped, trainer.stop_reason) == (3, True, "interrupted")

    X, Y, reference, uninterrupted = _adam_trainer()
    reference_history = History()
    uninterrupted.run(TrainingData(X, Y), max_epochs=3, history=reference_history)
    np.testing.assert_array_equal(network.params, reference.params)
    assert trainer.solver.t == uninterrupted.solver.t == 18
    np.testing.assert_array_equal(trainer.solver._M, uninterrupted.solver._M)
    np.testing.assert_array_equal(trainer.solver._V, uninterrupted.solver._V)
    assert history.loss_curve == reference_history.loss_curve
    assert history.samples_seen == reference_history.samples_seen == 180


def test_an_interrupt_during_validation_keeps_the_best_epoch_and_consistent_history():
    X, Y, network, trainer = _adam_trainer()
    scores = iter([0.5, 0.9, 0.7])
    snapshots = []

    def validation_score(validation_loss):
        score = next(scores, None)
        if score is None:  # the fourth epoch's validation: interrupted
            raise KeyboardInterrupt
        snapshots.append((network.params.copy(), trainer.solver.t))
        return score

    trainer.validation_score = validation_score
    history = History(validation_scores=[])
    with pytest.warns(UserWarning, match="after 3 complete epochs.*best epoch"):
        trainer.run(TrainingData(X, Y), max_epochs=10, history=history)
    assert history.validation_scores == [0.5, 0.9, 0.7] and len(history.loss_curve) == 3
    assert history.best_validation_score == 0.9 and history.best_epoch == 2
    best_params, best_t = snapshots[1]
    np.testing.assert_array_equal(network.params, best_params)
    assert trainer.solver.t == best_t


def test_an_interrupt_before_any_complete_epoch_propagates():
    X, Y, network, trainer = _adam_trainer(hooks=_Hooks("end", epoch=1))
    before = network.params.copy()
    with pytest.raises(KeyboardInterrupt):
        trainer.run(TrainingData(X, Y), max_epochs=10, history=History())
    assert not np.array_equal(network.params, before)  # the caller restores what it had


@pytest.mark.parametrize("handler", [signal.SIG_IGN, lambda signum, frame: None])
def test_ctrl_c_leaves_an_ignored_or_custom_sigint_handler_alone(handler):
    previous = signal.signal(signal.SIGINT, handler)
    try:
        with _CtrlC() as ctrl_c:
            assert signal.getsignal(signal.SIGINT) is handler
            signal.raise_signal(signal.SIGINT)
            assert not ctrl_c.pressed
        assert signal.getsignal(signal.SIGINT) is handler
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_second_ctrl_c_is_held_while_an_epoch_is_saved():
    with _CtrlC() as ctrl_c:
        signal.raise_signal(signal.SIGINT)
        with ctrl_c.holding():
            signal.raise_signal(signal.SIGINT)  # would raise KeyboardInterrupt outside
        assert ctrl_c.pressed
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)


# -- verbose says why training stopped ------------------------------------------


def test_verbose_says_which_rule_stopped_training_and_which_weights_were_kept(capsys):
    X, Y, network, trainer = _setup(tol=1e9, n_iter_no_change=2, verbose=1)
    trainer.run(TrainingData(X, Y), max_epochs=50, history=History())
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == (
        "Training loss did not improve more than tol=1000000000.0 for 2 consecutive "
        "epochs. Stopping; keeping the weights of epoch 3, the last complete one."
    )

    X, Y, network, trainer = _setup(verbose=1)
    scores = iter([0.5, 0.9, 0.7, 0.6])
    trainer.validation_score = lambda loss: next(scores)
    trainer.n_iter_no_change = 2
    trainer.run(TrainingData(X, Y), max_epochs=50, history=History(validation_scores=[]))
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("Validation score did not improve more than tol=0.0 for 2")
    assert last.endswith("keeping the weights of epoch 2, the best validation score.")

    X, Y, network, trainer = _setup(verbose=1, hooks=_Hooks("end", epoch=2))
    with pytest.warns(UserWarning, match="interrupted"):
        trainer.run(TrainingData(X, Y), max_epochs=50, history=History())
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == (
        "Interrupted by the user. Stopping; keeping the weights of epoch 1, the last complete one."
    )


def test_every_recorded_field_is_a_documented_fitted_attribute():
    from sklearn.datasets import make_classification

    from skbackprop import BackpropClassifier, BackpropRegressor

    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    names = list(History().fitted_attributes(early_stopping=True))
    assert "loss_curve_" in names and "best_epoch_" in names
    for Estimator in (BackpropClassifier, BackpropRegressor):
        model = Estimator(max_iter=2, early_stopping=True).fit(X, y)
        for name in names:
            assert f"\n{name} : " in Estimator.__doc__
            assert hasattr(model, name)


# -- continuing after early stopping (issue 18, item 6) --------------------------


def test_a_fit_continued_after_early_stopping_continues_from_the_kept_epoch():
    X, y = make_classification(n_samples=300, n_features=10, flip_y=0.3, random_state=0)
    settings = dict(early_stopping=True, n_iter_no_change=3, tol=0.0, random_state=0)
    model = BackpropClassifier((64,), learning_rate_init=0.05, max_iter=60, **settings)
    model = quiet_fit(model, X, y)
    ran, kept = len(model.loss_curve_), model.best_epoch_
    assert kept < ran == model.n_iter_  # stopped some epochs after the best one
    curve = list(model.loss_curve_)
    model.set_params(warm_start=True, max_iter=2, n_iter_no_change=100)
    model = quiet_fit(model, X, y)
    # The epochs after the kept one are gone; the new ones follow it.
    assert model.loss_curve_[:kept] == curve[:kept]
    for name in ("loss_curve_", "validation_scores_", "validation_loss_curve_", "gradient_norms_"):
        assert len(getattr(model, name)) == kept + 2, name
    assert model.n_iter_ == 2
    assert model.best_epoch_ > kept or model.best_epoch_ == kept
    assert model.t_ == (kept + 2) * int(0.9 * len(X))


def test_every_batch_of_every_epoch_draws_new_dropout_masks(monkeypatch):
    """Masks are drawn per batch: no two batches, in one epoch or across epochs, share one."""
    drawn, original = [], DenseBlock._drop_out

    def drop_out(self, activation, mask, dropped, rng):
        original(self, activation, mask, dropped, rng)
        drawn.append(mask.copy())

    monkeypatch.setattr(DenseBlock, "_drop_out", drop_out)
    Xd, yd = make_classification(n_samples=120, n_features=5, random_state=0)
    model = BackpropClassifier((16,), dropout=0.5, batch_size=40, max_iter=3, random_state=0)
    quiet_fit(model, Xd, yd)
    assert len(drawn) == 9  # 3 batches in each of 3 epochs
    keys = {mask.tobytes() for mask in drawn}
    assert len(keys) == len(drawn)


def _series_second_epoch_peak(
    n, n_steps, cell, truncate, pooling="average", unequal=False, weighted=False
):
    from skbackprop._layers import build, dense_specs, sequence_specs
    from skbackprop._network import Network
    from skbackprop._series import Series

    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, n_steps, 3))
    if unequal:  # padded at the end, as a list of series is
        lengths = rng.integers(1, n_steps + 1, n)
        X[np.arange(n_steps)[None, :] >= lengths[:, None]] = 0.0
        X = Series(X, lengths, "list")
    Y = np.eye(2)[rng.integers(0, 2, n)]
    weights = rng.uniform(0.5, 2.0, n) if weighted else None
    units = (16,) if cell else ()
    specs = sequence_specs(3, (8,), (3,), "relu", pooling, True, 0.9, units, cell, truncate)
    head = dense_specs((specs[-1][1]["fan_in"], 2), "relu", "softmax")
    head[0][1]["first"] = False
    network = Network(build(specs + head), np.float64).initialize(rng)
    return _peak_of_second_epoch(network, X, Y, weights, n // 2, Adam(0.01), True, rng)


@pytest.mark.parametrize(
    "cell, truncate", [("gru", None), ("gru", 4), ("elman", None), ("elman", 3)]
)
def test_the_recurrent_loop_allocates_nothing_that_scales_with_batch_or_steps(cell, truncate):
    # The convolution, recurrent and pooling layers' buffers are made in the first epoch;
    # the loops over steps then write into them. What the second epoch allocates is
    # small and fixed: numpy's ufunc buffers (64 KiB each) for strided operands. 16x the
    # rows times steps would be megabytes if anything scaled: the GRU's input-gradient
    # buffer alone is 512 x 120 x 48 x 8 bytes = 22.5 MiB at the larger size.
    peaks = [
        _series_second_epoch_peak(n, n_steps, cell, truncate)
        for n, n_steps in [(128, 30), (512, 120)]
    ]
    assert max(peaks) < 256 * 1024


@pytest.mark.parametrize("pooling", ["average", "max", "last"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_series_of_unequal_lengths_train_without_allocating_per_batch(pooling, weighted):
    # Masks, the steps' weights in batch normalization and masked pooling write into
    # buffers made in the first epoch: a conv block's batch of 256 x 120 steps would
    # allocate 256 x 120 x 8 x 8 bytes = 1.9 MiB at each masked pooling otherwise.
    peaks = [
        _series_second_epoch_peak(n, n_steps, None, None, pooling, True, weighted)
        for n, n_steps in [(64, 30), (512, 120)]
    ]
    assert max(peaks) < 256 * 1024
