"""solver="lbfgs": full-batch L-BFGS, including scikit-learn's own lbfgs tests translated."""

import pickle
import warnings

import numpy as np
import pytest
from helpers import ctrl_c_after, dense_network, quiet_fit
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier, BackpropRegressor
from skbackprop._network import Network

ACTIVATIONS = ["identity", "logistic", "tanh", "relu", "leaky_relu"]
X_digits, y_digits = load_digits(n_class=3, return_X_y=True)
X_digits = X_digits / 16
X_reg, y_reg = make_regression(n_samples=200, n_features=10, random_state=7)
y_reg = y_reg / y_reg.std()


# -- scikit-learn's tests (sklearn/neural_network/tests/test_mlp.py), translated ----


@pytest.mark.parametrize("binary", [False, True])
def test_lbfgs_classification(binary):
    # A score above 0.95 on the binary and multi-class digits, for every activation.
    y = (y_digits > 1).astype(int) if binary else y_digits
    for activation in ACTIVATIONS:
        model = BackpropClassifier(
            solver="lbfgs",
            hidden_layer_sizes=50,
            max_iter=150,
            random_state=1,
            activation=activation,
        )
        quiet_fit(model, X_digits[:150], y[:150])
        assert model.score(X_digits[:150], y[:150]) > 0.95
        assert model.predict(X_digits[150:]).dtype.kind == y.dtype.kind


def test_lbfgs_regression():
    for activation in ACTIVATIONS:
        model = BackpropRegressor(
            solver="lbfgs",
            hidden_layer_sizes=50,
            max_iter=200,
            tol=1e-3,
            random_state=1,
            activation=activation,
        )
        quiet_fit(model, X_reg, y_reg)
        # A linear bottleneck does worse than the non-linear networks.
        assert model.score(X_reg, y_reg) > (0.80 if activation == "identity" else 0.98)


@pytest.mark.parametrize("Estimator", [BackpropClassifier, BackpropRegressor])
def test_lbfgs_max_fun_limits_the_iterations_with_a_warning(Estimator):
    X, y = (X_digits, y_digits) if Estimator is BackpropClassifier else (X_reg, y_reg)
    model = Estimator(solver="lbfgs", hidden_layer_sizes=50, max_fun=10, tol=0.0, random_state=1)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge.*max_fun"):
        model.fit(X, y)
    assert model.n_iter_ <= 10


def test_lbfgs_has_no_partial_fit():
    assert not hasattr(BackpropClassifier(solver="lbfgs"), "partial_fit")
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'"):
        BackpropRegressor(solver="lbfgs").partial_fit(X_reg, y_reg)


# -- what lbfgs does here ----------------------------------------------------------------


def test_dropout_with_lbfgs_names_both():
    with pytest.raises(ValueError, match="dropout.*solver='lbfgs'"):
        BackpropClassifier(solver="lbfgs", dropout=0.2).fit(X_digits, y_digits)


def test_early_stopping_and_batches_are_ignored_as_in_scikit_learn():
    params = dict(solver="lbfgs", hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    plain = quiet_fit(BackpropClassifier(**params), X_digits, y_digits)
    ignoring = quiet_fit(
        BackpropClassifier(**params, early_stopping=True, batch_size=7, shuffle=False),
        X_digits,
        y_digits,
    )
    for a, b in zip(plain.coefs_, ignoring.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
    assert ignoring.validation_scores_ is None and ignoring.best_loss_ is not None


def test_loss_curve_has_the_objective_at_every_iteration_and_ends_at_the_weights():
    model = quiet_fit(
        BackpropClassifier(
            solver="lbfgs", hidden_layer_sizes=(8,), l2=0.5, max_iter=15, random_state=0
        ),
        X_digits,
        y_digits,
    )
    assert len(model.loss_curve_) == model.n_iter_ == 15
    assert model.loss_ == model.loss_curve_[-1] == min(model.loss_curve_)
    proba = model.predict_proba(X_digits)
    weights = np.concatenate([coef.ravel() for coef in model.coefs_])
    objective = -np.mean(np.log(proba[np.arange(len(y_digits)), y_digits]))
    objective += 0.5 * 0.5 * weights @ weights / len(y_digits)
    assert model.loss_ == pytest.approx(objective, rel=1e-9)


def test_the_objectives_gradient_matches_finite_differences():
    from skbackprop._lbfgs import LbfgsTrainer
    from skbackprop._losses import LOSSES

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(20, 3)), np.eye(3)[rng.integers(0, 3, 20)]
    network = dense_network([3, 4, 3], "tanh", "softmax", np.float64).initialize(rng)
    trainer = LbfgsTrainer(
        network,
        LOSSES["softmax"],
        None,
        batch_size=20,
        l1=0.1,
        l2=0.3,
        penalty_n_samples=20,
        shuffle=False,
        rng=rng,
        tol=0,
        n_iter_no_change=10,
        max_fun=100,
    )
    x = network.params.copy()
    scale = rng.uniform(0.5, 2, (20, 1)) / 20
    _, grad = trainer.objective(x, X, Y, scale)
    numeric = np.empty_like(x)
    for i in range(len(x)):
        step = np.zeros_like(x)
        step[i] = 1e-6
        numeric[i] = (
            trainer.objective(x + step, X, Y, scale)[0]
            - trainer.objective(x - step, X, Y, scale)[0]
        ) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_integer_sample_weights_act_like_repeated_rows():
    weights = np.arange(len(y_reg)) % 3
    params = dict(solver="lbfgs", hidden_layer_sizes=(5,), max_iter=30, tol=0, random_state=0)
    weighted = quiet_fit(BackpropRegressor(**params), X_reg, y_reg, sample_weight=weights)
    repeated = np.repeat(np.arange(len(y_reg)), weights)
    as_rows = quiet_fit(BackpropRegressor(**params), X_reg[repeated], y_reg[repeated])
    np.testing.assert_allclose(weighted.predict(X_reg), as_rows.predict(X_reg), rtol=1e-6)


def test_warm_start_goes_on_from_the_previous_weights():
    params = dict(solver="lbfgs", hidden_layer_sizes=(8,), max_iter=5, warm_start=True)
    model = quiet_fit(BackpropClassifier(**params, random_state=0), X_digits, y_digits)
    first = model.loss_
    quiet_fit(model, X_digits, y_digits)
    assert len(model.loss_curve_) == 10 and model.loss_ < first


def test_a_solver_after_lbfgs_keeps_batch_normalizations_momentum():
    # lbfgs sets the running statistics to the latest evaluation's (momentum 0) while it
    # runs; a warm start with another solver then averages them with the usual momentum.
    params = dict(solver="lbfgs", batch_normalization=True, hidden_layer_sizes=(8,), max_iter=3)
    model = quiet_fit(
        BackpropClassifier(**params, warm_start=True, random_state=0), X_digits, y_digits
    )
    loaded = pickle.loads(pickle.dumps(model))  # no network kept: built from the arrays
    for continued in (model, loaded):
        quiet_fit(continued.set_params(solver="adam", max_iter=2), X_digits, y_digits)
    np.testing.assert_array_equal(model.running_means_[0], loaded.running_means_[0])
    np.testing.assert_array_equal(model.coefs_[0], loaded.coefs_[0])


def test_ctrl_c_keeps_the_last_accepted_iterate(monkeypatch):
    backward = ctrl_c_after(Network, "backward", lambda calls: calls == 6)
    monkeypatch.setattr(Network, "backward", backward)
    model = BackpropClassifier(solver="lbfgs", hidden_layer_sizes=(8,), max_iter=50, random_state=0)
    with pytest.warns(UserWarning, match="interrupted by the user"):
        model.fit(X_digits, y_digits)
    assert 1 <= model.n_iter_ < 50 and len(model.loss_curve_) == model.n_iter_
    assert np.isfinite(model.predict_proba(X_digits)).all()


@pytest.mark.parametrize(
    "load", [load_iris, load_wine, load_breast_cancer], ids=lambda f: f.__name__
)
def test_accuracy_matches_scikit_learns_lbfgs_on_small_data(load):
    X, y = load(return_X_y=True)
    scores = {"ours": [], "sklearn": []}
    for seed in range(3):
        X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=seed)
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        common = dict(solver="lbfgs", hidden_layer_sizes=(50,), max_iter=200, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ours = BackpropClassifier(l2=1e-4, **common).fit(X_train, y_train)
            theirs = MLPClassifier(alpha=1e-4, **common).fit(X_train, y_train)
        scores["ours"].append(ours.score(X_test, y_test))
        scores["sklearn"].append(theirs.score(X_test, y_test))
    # Equal settings (our l2 is alpha * n_samples / batch_size: alpha for a full batch).
    assert np.mean(scores["ours"]) >= np.mean(scores["sklearn"]) - 0.02


# -- edges (issue 18, items 8 and 10-13) -----------------------------------------

X_small = np.random.default_rng(0).normal(size=(100, 4))


@pytest.mark.parametrize("seed", [1, 4])  # overflow in exp, in dot
def test_the_final_evaluation_runs_under_the_floating_point_guard(seed):
    """Under errstate(all="raise") no FloatingPointError, and no overflow warning leaks."""
    y_counts = np.random.default_rng(1).poisson(1.0, 100)
    model = BackpropRegressor(loss="poisson", solver="lbfgs", random_state=seed)
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            model.fit(X_small * 1e3, y_counts)
        except ValueError as error:  # divergence is reported as such, never as numpy's error
            assert "diverged" in str(error)


@pytest.mark.parametrize(
    "settings, rule",
    [
        (dict(max_fun=5), "maximum number of loss evaluations (max_fun=5)"),
        (dict(max_iter=3), "maximum number of iterations (max_iter=3)"),
    ],
)
def test_verbose_and_the_warning_name_the_limit_that_stopped_it(settings, rule, capsys):
    model = BackpropRegressor(solver="lbfgs", verbose=1, random_state=0, **settings)
    with pytest.warns(ConvergenceWarning, match=rule.replace("(", r"\(").replace(")", r"\)")):
        model.fit(X_reg, y_reg)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert rule in last and "Reached the maximum number of epochs" not in last


def test_threads_are_sized_on_every_training_row(monkeypatch):
    """lbfgs multiplies all n rows at once: the size rule sees n, not min(200, n)."""
    from skbackprop import _threads

    seen = []
    original = _threads.FitThreads.__init__

    def record(self, product, *args, **kwargs):
        seen.append(product)
        original(self, product, *args, **kwargs)

    monkeypatch.setattr(_threads.FitThreads, "__init__", record)
    quiet_fit(BackpropRegressor((50,), solver="lbfgs", max_iter=2, random_state=0), X_reg, y_reg)
    assert seen == [len(X_reg) * 10 * 50]


@pytest.mark.parametrize(
    "message, rule",
    [
        ("STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT", "max_iter=7"),
        ("STOP: TOTAL NO. of ITERATIONS REACHED LIMIT", "max_iter=7"),  # scipy < 1.15
        ("STOP: TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT", "max_fun=9"),
        ("STOP: TOTAL NO. of f AND g EVALUATIONS EXCEEDS LIMIT", "max_fun=9"),
        ("ABNORMAL_TERMINATION_IN_LNSRCH", "line search found no lower loss"),
    ],
)
def test_every_scipy_wording_of_a_limit_is_named(message, rule):
    from skbackprop._lbfgs import LbfgsTrainer

    trainer = LbfgsTrainer.__new__(LbfgsTrainer)
    trainer.limit_message, trainer.max_fun = message, 9
    assert rule in trainer.limit_reached(7)


def test_warm_start_docs_say_lbfgs_restarts_its_curvature_memory_as_it_does():
    """The n + n == 2n promise is the stochastic solvers'; lbfgs continues the weights only."""
    for Estimator in (BackpropClassifier, BackpropRegressor):
        entry = Estimator.__doc__.split("warm_start : bool")[1].split("\n\n")[0]
        assert "lbfgs" in entry and "curvature memory" in entry
    params = dict(solver="lbfgs", hidden_layer_sizes=(8,), random_state=0)
    twice = quiet_fit(BackpropClassifier(max_iter=5, warm_start=True, **params), X_digits, y_digits)
    quiet_fit(twice, X_digits, y_digits)
    once = quiet_fit(BackpropClassifier(max_iter=10, **params), X_digits, y_digits)
    assert not np.array_equal(twice.coefs_[0], once.coefs_[0])
