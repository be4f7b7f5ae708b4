"""Each solver's step against its update equation, worked by hand."""

import numpy as np
import pytest
from helpers import quiet_fit
from sklearn.datasets import make_classification

from skbackprop import BackpropClassifier, BackpropRegressor
from skbackprop._solvers import (
    MIN_ADAPTIVE_LEARNING_RATE,
    SOLVERS,
    AdaGrad,
    Adam,
    AdamW,
    Momentum,
    RMSProp,
    Sgd,
    make_solver,
)

W0 = np.array([1.0, -2.0, 0.5])
G1 = np.array([0.5, -1.0, 2.0])
G2 = np.array([-1.0, 0.25, 1.0])


def test_sgd_step():
    params = W0.copy()
    Sgd(0.1).step(params, G1)
    # w - lr * g
    np.testing.assert_allclose(params, [0.95, -1.9, 0.3])


def test_momentum_step_classical():
    params = W0.copy()
    solver = Momentum(0.1, momentum=0.9, nesterovs_momentum=False)
    solver.step(params, G1)
    # v1 = -lr g1 = [-0.05, 0.1, -0.2]; w1 = w0 + v1
    np.testing.assert_allclose(params, [0.95, -1.9, 0.3])
    solver.step(params, G2)
    # v2 = 0.9 v1 - 0.1 g2 = [-0.045 + 0.1, 0.09 - 0.025, -0.18 - 0.1] = [0.055, 0.065, -0.28]
    np.testing.assert_allclose(solver.velocity, [0.055, 0.065, -0.28])
    np.testing.assert_allclose(params, [1.005, -1.835, 0.02])


def test_momentum_step_nesterov():
    params = W0.copy()
    solver = Momentum(0.1, momentum=0.9, nesterovs_momentum=True)
    solver.step(params, G1)
    # v1 = [-0.05, 0.1, -0.2]; w1 = w0 + 0.9 v1 - 0.1 g1
    np.testing.assert_allclose(params, [0.905, -1.81, 0.12])
    solver.step(params, G2)
    # v2 = [0.055, 0.065, -0.28]; w2 = w1 + 0.9 v2 - 0.1 g2
    np.testing.assert_allclose(
        params, [0.905 + 0.0495 + 0.1, -1.81 + 0.0585 - 0.025, 0.12 - 0.252 - 0.1]
    )


def test_adam_steps():
    params = W0.copy()
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    solver = Adam(lr, beta_1=b1, beta_2=b2, epsilon=eps)
    solver.step(params, G1)
    # t = 1: m = 0.1 g, v = 0.001 g^2, step = lr sqrt(1 - b2) / (1 - b1) = lr * sqrt(0.001) / 0.1
    # m / (sqrt(v) + eps) = 0.1 g / (sqrt(0.001) |g| + eps)
    m1, v1 = 0.1 * G1, 0.001 * G1**2
    expected = W0 - lr * np.sqrt(0.001) / 0.1 * m1 / (np.sqrt(v1) + eps)
    np.testing.assert_allclose(params, expected, rtol=1e-12)
    # Bias correction makes the first step lr * sign(g) (up to epsilon).
    np.testing.assert_allclose(W0 - params, lr * np.sign(G1), rtol=1e-6)
    solver.step(params, G2)
    m2 = b1 * m1 + (1 - b1) * G2
    v2 = b2 * v1 + (1 - b2) * G2**2
    step = lr * np.sqrt(1 - b2**2) / (1 - b1**2)
    np.testing.assert_allclose(params, expected - step * m2 / (np.sqrt(v2) + eps), rtol=1e-12)
    np.testing.assert_allclose(solver.first_moment, m2)
    np.testing.assert_allclose(solver.second_moment, v2)
    assert solver.t == 2


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_a_step_updates_params_in_place_and_reads_grads_only(name):
    params, grads = W0.copy(), G1.copy()
    view = params[:]
    make_solver(name, learning_rate_init=0.1).step(params, grads)
    # The first step of every solver here moves each weight against its gradient.
    assert (np.sign(view - W0) == -np.sign(G1)).all()
    np.testing.assert_array_equal(grads, G1)


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_make_solver_takes_the_hyper_parameters_each_solver_names(name):
    settings = dict(
        learning_rate_init=0.2,
        learning_rate="invscaling",
        power_t=0.25,
        momentum=0.5,
        nesterovs_momentum=False,
        beta_1=0.8,
        beta_2=0.99,
        epsilon=1e-6,
        rho=0.7,
        l2=0.05,
        n_weights=2,
        max_iter=40,
        warmup_iter=3,
        hidden_layer_sizes=(3,),  # not a solver's: ignored
    )
    solver = make_solver(name, **settings)
    assert type(solver) is SOLVERS[name] and solver.learning_rate == 0.2
    expected = {
        "sgd": dict(schedule="invscaling", power_t=0.25),
        "momentum": dict(schedule="invscaling", power_t=0.25, momentum=0.5, nesterov=False),
        "adam": dict(schedule="invscaling", beta_1=0.8, beta_2=0.99, epsilon=1e-6),
        "adamw": dict(beta_1=0.8, beta_2=0.99, weight_decay=0.05, n_weights=2, max_iter=40),
        "rmsprop": dict(schedule="invscaling", power_t=0.25, rho=0.7, epsilon=1e-6),
        "adagrad": dict(schedule="invscaling", power_t=0.25, epsilon=1e-6),
    }[name]
    assert {key: getattr(solver, key) for key in expected} == expected
    assert solver.warmup_iter == 3  # every solver takes the schedule's parameters


def test_invscaling_schedule():
    solver = Sgd(0.1, learning_rate="invscaling", power_t=0.5)
    solver.end_epoch(samples_seen=99)
    assert solver.learning_rate == pytest.approx(0.1 / 100**0.5)


def test_constant_schedule_stops_on_a_plateau():
    solver = Momentum(0.1, learning_rate="constant")
    solver.end_epoch(samples_seen=1000)
    assert solver.learning_rate == 0.1
    assert not solver.lower_learning_rate_on_plateau()


def test_adaptive_schedule_divides_by_five_then_stops():
    solver = Sgd(1e-5, learning_rate="adaptive")
    assert solver.lower_learning_rate_on_plateau()
    assert solver.learning_rate == pytest.approx(2e-6)
    assert solver.lower_learning_rate_on_plateau()
    assert solver.learning_rate == pytest.approx(4e-7)
    assert solver.learning_rate < MIN_ADAPTIVE_LEARNING_RATE
    assert not solver.lower_learning_rate_on_plateau()


def test_adam_stops_on_a_plateau_or_with_adaptive_lowers_its_rate():
    assert not Adam(0.1).lower_learning_rate_on_plateau()
    adaptive = Adam(0.1, learning_rate="adaptive")
    assert adaptive.lower_learning_rate_on_plateau() and adaptive.learning_rate == 0.02


@pytest.mark.parametrize("name", ["adam", "rmsprop", "adagrad"])
def test_schedules_apply_to_the_adaptive_solvers_too(name):
    solver = make_solver(name, learning_rate_init=0.1, learning_rate="invscaling", power_t=0.5)
    solver.end_epoch(samples_seen=99)
    assert solver.learning_rate == pytest.approx(0.1 / 100**0.5)


def test_rmsprop_steps():
    params = W0.copy()
    lr, rho, eps = 0.01, 0.9, 1e-8
    solver = RMSProp(lr, rho=rho, epsilon=eps)
    solver.step(params, G1)
    # v1 = (1 - rho) g1^2 = 0.1 g1^2; w1 = w0 - lr g1 / (sqrt(v1) + eps)
    v1 = 0.1 * G1**2
    w1 = W0 - lr * G1 / (np.sqrt(v1) + eps)
    np.testing.assert_allclose(params, w1, rtol=1e-12)
    # The first step is lr / sqrt(0.1) in size, against the gradient's sign.
    np.testing.assert_allclose(W0 - params, lr / np.sqrt(0.1) * np.sign(G1), rtol=1e-6)
    solver.step(params, G2)
    v2 = rho * v1 + (1 - rho) * G2**2
    np.testing.assert_allclose(solver.mean_square, v2, rtol=1e-12)
    np.testing.assert_allclose(params, w1 - lr * G2 / (np.sqrt(v2) + eps), rtol=1e-12)


def test_adagrad_steps():
    params = W0.copy()
    lr, eps = 0.1, 1e-8
    solver = AdaGrad(lr, epsilon=eps)
    solver.step(params, G1)
    # G1 = g1^2: the first step is lr * sign(g1) (up to epsilon).
    np.testing.assert_allclose(params, W0 - lr * G1 / (np.abs(G1) + eps), rtol=1e-12)
    w1 = params.copy()
    solver.step(params, G2)
    sums = G1**2 + G2**2
    np.testing.assert_allclose(solver.sum_of_squares, sums)
    np.testing.assert_allclose(params, w1 - lr * G2 / (np.sqrt(sums) + eps), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_every_solvers_state_round_trips(name):
    params_a = W0.copy()
    solver_a = make_solver(name, learning_rate_init=0.01)
    solver_a.step(params_a, G1)
    params_b = params_a.copy()
    solver_b = make_solver(name, learning_rate_init=0.01)
    solver_b.set_state(solver_a.get_state())
    solver_a.step(params_a, G2)
    solver_b.step(params_b, G2)
    np.testing.assert_array_equal(params_a, params_b)


def test_state_round_trip_continues_identically():
    params_a = W0.copy()
    solver_a = Adam(0.01)
    solver_a.step(params_a, G1)
    params_b = params_a.copy()
    solver_b = Adam(0.01)
    solver_b.set_state(solver_a.get_state())
    solver_a.step(params_a, G2)
    solver_b.step(params_b, G2)
    np.testing.assert_array_equal(params_a, params_b)


# -- continuing a fit continues each solver exactly (estimator level) ----------------


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_n_epochs_then_n_more_with_warm_start_is_2n_epochs_bit_for_bit(name):
    X, y = make_classification(n_samples=120, n_features=6, random_state=0)
    params = dict(
        solver=name,
        learning_rate="invscaling",
        learning_rate_init=0.01,
        hidden_layer_sizes=(7,),
        dropout=0.2,
        batch_size=32,
        tol=0,
        n_iter_no_change=100,
        random_state=0,
    )
    once = quiet_fit(BackpropClassifier(max_iter=6, **params), X, y)
    twice = BackpropClassifier(max_iter=3, warm_start=True, **params)
    quiet_fit(quiet_fit(twice, X, y), X, y)
    stepwise = BackpropClassifier(**params)
    for _ in range(6):
        stepwise.partial_fit(X, y, classes=[0, 1])
    for model in (twice, stepwise):
        for a, b in zip(
            model.coefs_ + model.intercepts_, once.coefs_ + once.intercepts_, strict=True
        ):
            np.testing.assert_array_equal(a, b)
        assert model.loss_curve_ == once.loss_curve_


@pytest.mark.parametrize("name", sorted(SOLVERS))
@pytest.mark.parametrize("mode", ["warm_start", "partial_fit"])
def test_a_changed_learning_rate_init_takes_effect_when_continuing(name, mode):
    # Lowering the step size between warm-started fits is a common recipe: the new
    # value must be used, not the rate saved with the solver's state.
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    model = BackpropClassifier(
        solver=name, learning_rate_init=0.01, max_iter=2, warm_start=True, random_state=0
    )
    continued = quiet_fit(model, X, y) if mode == "warm_start" else model.partial_fit(X, y, [0, 1])
    assert continued._solver_state["state"]["learning_rate"] == 0.01
    continued.set_params(learning_rate_init=0.0001)
    if mode == "warm_start":
        quiet_fit(continued, X, y)
    else:
        continued.partial_fit(X, y)
    assert continued._solver_state["state"]["learning_rate"] == 0.0001


# -- off the defaults, and state across changed hyper-parameters (issue 18) -----


def _reference_steps(name, settings, gradients):
    """The update equations, in plain numpy, for each gradient in turn."""
    w, state = W0.copy(), {"m": 0.0, "v": 0.0, "velocity": 0.0, "G": 0.0}
    lr, eps = settings["learning_rate_init"], settings.get("epsilon", 1e-8)
    for t, g in enumerate(gradients, start=1):
        if name == "rmsprop":
            state["v"] = settings["rho"] * state["v"] + (1 - settings["rho"]) * g**2
            w = w - lr * g / (np.sqrt(state["v"]) + eps)
        elif name == "adam":
            b1, b2 = settings["beta_1"], settings["beta_2"]
            state["m"] = b1 * state["m"] + (1 - b1) * g
            state["v"] = b2 * state["v"] + (1 - b2) * g**2
            # Kingma & Ba's step, epsilon added to sqrt(v) (as PyTorch's eps is to sqrt(v_hat)
            # up to the bias correction): lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)
            step = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
            w = w - step * state["m"] / (np.sqrt(state["v"]) + eps)
        elif name == "momentum":
            state["velocity"] = settings["momentum"] * state["velocity"] - lr * g
            w = w + state["velocity"]
        elif name == "adagrad":
            state["G"] = state["G"] + g**2
            w = w - lr * g / (np.sqrt(state["G"]) + eps)
    return w


OFF_DEFAULT = {
    "rmsprop": dict(learning_rate_init=0.05, rho=0.5, epsilon=0.1),
    "adam": dict(learning_rate_init=0.05, beta_1=0.8, beta_2=0.99, epsilon=1e-8),
    "momentum": dict(learning_rate_init=0.05, momentum=0.5, nesterovs_momentum=False),
    "adagrad": dict(learning_rate_init=0.05, epsilon=0.5),
}


@pytest.mark.parametrize("name", sorted(OFF_DEFAULT))
def test_steps_off_the_default_hyper_parameters(name):
    """rho, the betas, momentum and a large epsilon each change the step as the equations say."""
    settings = OFF_DEFAULT[name]
    solver, params = make_solver(name, **settings), W0.copy()
    for g in (G1, G2, G1):
        solver.step(params, g)
    expected = _reference_steps(name, settings, (G1, G2, G1))
    np.testing.assert_allclose(params, expected, rtol=1e-10)


@pytest.mark.parametrize(
    "name, changed", [("rmsprop", "rho"), ("adam", "beta_1"), ("adam", "beta_2")]
)
def test_a_hyper_parameter_changed_between_calls_rescales_the_kept_state(name, changed):
    """State saved under rho=0 and restored under rho=0.99 is still the mean square."""
    before = {"rho": 0.0, "beta_1": 0.5, "beta_2": 0.5}
    after = {"rho": 0.99, "beta_1": 0.9, "beta_2": 0.999}
    first = make_solver(name, learning_rate_init=0.01, **before)
    params = W0.copy()
    for g in (G1, G2):
        first.step(params, g)
    second = make_solver(name, learning_rate_init=0.01, **{**before, changed: after[changed]})
    second.set_state(first.get_state())
    if name == "rmsprop":
        np.testing.assert_allclose(second.mean_square, first.mean_square, rtol=1e-12)
    else:
        np.testing.assert_allclose(second.first_moment, first.first_moment, rtol=1e-12)
        np.testing.assert_allclose(second.second_moment, first.second_moment, rtol=1e-12)


def test_rmsprop_steps_stay_the_learning_rates_size_after_rho_changes():
    """The issue's reproduction: three calls at rho=0, then rho=0.99 (issue 18, item 4)."""
    X = np.random.default_rng(0).normal(size=(100, 4))
    y = X[:, 0] - X[:, 1]
    model = BackpropRegressor(
        solver="rmsprop", rho=0.0, batch_size=1000, shuffle=False, l2=0, random_state=0
    )
    for _ in range(3):
        model.partial_fit(X, y)
    before = [coef.copy() for coef in model.coefs_]
    model.set_params(rho=0.99).partial_fit(X, y)
    steps = np.concatenate(
        [np.abs(a - b).ravel() for a, b in zip(model.coefs_, before, strict=True)]
    )
    # ~ lr * |g4| / |g3| per weight: about the learning rate (10x it when v was misread)
    assert 0.5 < np.median(steps) / model.learning_rate_init < 2


@pytest.mark.parametrize("name", ["adam", "rmsprop", "adagrad", "momentum"])
def test_a_warm_start_switching_to_float32_keeps_the_state_in_float32(name):
    X, y = make_classification(n_samples=100, n_features=5, random_state=0)
    model = quiet_fit(BackpropClassifier(solver=name, max_iter=2, random_state=0), X, y)
    model.set_params(warm_start=True, dtype="float32")
    model = quiet_fit(model, X, y)
    state = model._solver_state["state"]
    arrays = [value for value in state.values() if isinstance(value, np.ndarray)]
    assert arrays and {array.dtype for array in arrays} == {np.dtype(np.float32)}


# -- schedules: cosine, warm-up, a callable; AdamW (issue 19) ----------------------


def test_cosine_schedule_by_hand():
    solver = Sgd(0.1, learning_rate="cosine", max_iter=4)
    # lr_e = 0.1 (1 + cos(pi e / 4)) / 2 for e = 0 .. 4, then 0
    expected = [0.1, 0.1 * (1 + np.sqrt(0.5)) / 2, 0.05, 0.1 * (1 - np.sqrt(0.5)) / 2, 0.0, 0.0]
    assert [solver.rate_at(epoch) for epoch in range(6)] == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("schedule", ["constant", "cosine", "invscaling"])
def test_warm_up_multiplies_the_schedule_linearly(schedule):
    plain = Sgd(0.1, learning_rate=schedule, max_iter=10)
    warm = Sgd(0.1, learning_rate=schedule, max_iter=10, warmup_iter=4)
    for epoch in range(8):
        factor = (epoch + 1) / 4 if epoch < 4 else 1.0
        assert warm.rate_at(epoch) == pytest.approx(factor * plain.rate_at(epoch), rel=1e-15)
        for solver in (plain, warm):
            solver.end_epoch(samples_seen=100 * (epoch + 1))


def test_a_callable_schedule_is_called_with_the_epoch():
    seen = []

    def schedule(epoch):
        seen.append(epoch)
        return 0.5**epoch

    solver = Adam(0.1, learning_rate=schedule, warmup_iter=2)
    solver.begin_epoch(0)
    assert solver.rate == 0.5
    solver.begin_epoch(3)
    assert solver.rate == 0.125 and seen == [0, 3]


# Issue 23's preamble: a small regression problem.
_rng = np.random.default_rng(0)
X_SMALL = _rng.normal(size=(120, 4))
Y_SMALL = X_SMALL[:, 0] - 2 * X_SMALL[:, 1]


def test_a_schedule_defined_for_the_trained_epochs_only_is_called_for_those_only():
    rates, seen = np.linspace(0.01, 0.001, 5), []

    def schedule(epoch):
        seen.append(epoch)
        return rates[epoch]  # IndexError from epoch 5 on

    model = quiet_fit(BackpropRegressor(max_iter=5, learning_rate=schedule), X_SMALL, Y_SMALL)
    assert seen == [0, 1, 2, 3, 4] and model.n_iter_ == 5
    assert model.learning_rate_ == rates[-1]  # the last epoch's: the schedule ends there


def test_an_interrupt_from_the_schedule_keeps_the_epochs_before_it():
    seen = []

    def schedule(epoch):
        seen.append(epoch)
        if epoch == 3:
            raise KeyboardInterrupt
        return 0.01

    with pytest.warns(UserWarning, match="interrupted by the user after 3 complete epochs"):
        model = quiet_fit(BackpropRegressor(max_iter=10, learning_rate=schedule), X_SMALL, Y_SMALL)
    assert seen == [0, 1, 2, 3] and model.n_iter_ == 3 and model.learning_rate_ == 0.01


@pytest.mark.parametrize(
    "returned, error",
    [
        (-0.01, ValueError),
        (0.0, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (None, TypeError),
        ([0.01], TypeError),
        (object(), TypeError),
        ("0.01", TypeError),
        (True, TypeError),
    ],
)
def test_what_a_callable_schedule_returns_is_checked_and_named(returned, error):
    model = BackpropRegressor(max_iter=3, learning_rate=lambda epoch: returned)
    with pytest.raises(error, match="learning_rate, a callable, must return .* positive finite"):
        model.fit(X_SMALL, Y_SMALL)
    assert not hasattr(model, "coefs_")


@pytest.mark.parametrize("rate", [np.float32(0.01), np.array(0.01), 0.01, 1 / 100])
def test_numbers_of_any_kind_from_a_schedule_are_rates(rate):
    model = BackpropRegressor(max_iter=2, learning_rate=lambda epoch: rate)
    assert quiet_fit(model, X_SMALL, Y_SMALL).learning_rate_ == pytest.approx(0.01)


@pytest.mark.parametrize("schedule", ["cosine", "invscaling"])
def test_after_early_stopping_the_rate_is_that_of_the_epoch_a_continued_fit_runs(schedule):
    """learning_rate_ is the next epoch's rate, and a continued fit resumes after best_epoch_."""
    params = dict(
        learning_rate=schedule,
        learning_rate_init=0.05,
        early_stopping=True,
        n_iter_no_change=2,
        tol=0,
        max_iter=40,
        random_state=0,
    )
    noise = np.random.default_rng(1).normal(size=len(Y_SMALL))  # nothing to generalise
    model = quiet_fit(BackpropRegressor(**params, warm_start=True), X_SMALL, noise)
    best = model.best_epoch_
    assert best < model.n_iter_
    promised, seen = model.learning_rate_, []
    original = Sgd.begin_epoch

    def begin_epoch(self, epoch):
        original(self, epoch)
        seen.append((epoch, self.rate))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Sgd, "begin_epoch", begin_epoch)
        quiet_fit(model, X_SMALL, noise)  # the same max_iter: cosine depends on it
    assert seen[0] == (best, promised)  # 0-based: the epoch after the best one


def test_adamw_decays_the_weights_then_takes_adams_step():
    params = np.array([1.0, -2.0, 0.5])  # two weights, then a bias
    lr, decay = 0.01, 0.1
    solver = AdamW(lr, l2=decay, n_weights=2)
    solver.step(params, G1)
    # w = w (1 - lr decay), biases untouched, then Adam's first step: lr sign(g)
    expected = np.array([1.0 * (1 - lr * decay), -2.0 * (1 - lr * decay), 0.5])
    np.testing.assert_allclose(params, expected - lr * np.sign(G1), rtol=1e-6)
    plain = W0.copy()
    Adam(lr).step(plain, G1)
    np.testing.assert_allclose(params[2], plain[2], rtol=1e-15)  # the bias: plain Adam


def _torch_steps(torch, optimizer_factory, scheduler_factory=None, epochs=4, steps_per_epoch=3):
    """PyTorch's trajectory on the fixed gradients G1, G2, G1 ... for two parameter groups."""
    weights = torch.tensor(W0[:2].copy(), requires_grad=True)
    bias = torch.tensor(W0[2:].copy(), requires_grad=True)
    optimizer = optimizer_factory([weights, bias])
    scheduler = scheduler_factory(optimizer) if scheduler_factory else None
    gradients = [G1, G2, G1]
    trajectory = []
    for _ in range(epochs):
        for step in range(steps_per_epoch):
            g = gradients[step % 3]
            weights.grad, bias.grad = torch.tensor(g[:2].copy()), torch.tensor(g[2:].copy())
            optimizer.step()
        trajectory.append(np.concatenate([weights.detach().numpy(), bias.detach().numpy()]))
        if scheduler:
            scheduler.step()
    return trajectory


def _our_steps(solver, epochs=4, steps_per_epoch=3):
    params, gradients, trajectory = W0.copy(), [G1, G2, G1], []
    for epoch in range(epochs):
        solver.begin_epoch(epoch)
        for step in range(steps_per_epoch):
            solver.step(params, gradients[step % 3])
        trajectory.append(params.copy())
    return trajectory


def test_adamw_matches_pytorch_with_the_biases_undecayed():
    torch = pytest.importorskip("torch")

    def optimizer(parameters):
        weights, bias = parameters
        groups = [{"params": [weights]}, {"params": [bias], "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=0.05, betas=(0.8, 0.99), weight_decay=0.3, eps=1e-8)

    ours = _our_steps(AdamW(0.05, l2=0.3, n_weights=2, beta_1=0.8, beta_2=0.99))
    for mine, theirs in zip(ours, _torch_steps(torch, optimizer), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6)


@pytest.mark.parametrize("warmup", [0, 2])
def test_cosine_with_warm_up_matches_pytorchs_schedulers(warmup):
    torch = pytest.importorskip("torch")
    max_iter = 4

    def scheduler(optimizer):
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max_iter, eta_min=0)
        if not warmup:
            return cosine
        linear = torch.optim.lr_scheduler.LinearLR(
            optimizer, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1
        )
        return torch.optim.lr_scheduler.ChainedScheduler([linear, cosine])

    def optimizer(parameters):
        return torch.optim.SGD(parameters, lr=0.1)

    solver = Sgd(0.1, learning_rate="cosine", max_iter=max_iter, warmup_iter=warmup)
    theirs = _torch_steps(torch, optimizer, scheduler, epochs=max_iter)
    for mine, reference in zip(_our_steps(solver, epochs=max_iter), theirs, strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-12)
