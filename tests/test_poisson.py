"""BackpropRegressor(loss="poisson"): half the Poisson deviance of an exponential output."""

import numpy as np
import pytest
from helpers import quiet_fit
from sklearn.linear_model import PoissonRegressor
from sklearn.metrics import mean_poisson_deviance

from skbackprop import BackpropRegressor

rng = np.random.default_rng(0)
X = np.linspace(0, 1, 100).reshape(-1, 1)
y = rng.poisson(np.exp(X[:, 0] + 1)).astype(float)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_hidden_layer_matches_scikit_learns_poisson_glm(seed):
    # scikit-learn's test_mlp_vs_poisson_glm_equivalent, translated: with no hidden layer
    # (which scikit-learn's MLP cannot have) the coefficients themselves agree.
    glm = PoissonRegressor(alpha=0, tol=1e-7).fit(X, y)
    mlp = BackpropRegressor(
        loss="poisson", hidden_layer_sizes=(), l2=0, solver="lbfgs", tol=1e-7, random_state=seed
    )
    quiet_fit(mlp, X, y)
    assert mlp.out_activation_ == "exp"
    np.testing.assert_allclose(mlp.coefs_[0].ravel(), glm.coef_, rtol=1e-4)
    np.testing.assert_allclose(mlp.intercepts_[0], glm.intercept_, rtol=1e-4)
    np.testing.assert_allclose(mlp.predict(X), glm.predict(X), rtol=1e-4)
    # With the squared error the output is not exponential, and the fit differs.
    squared = BackpropRegressor(
        hidden_layer_sizes=(), l2=0, solver="lbfgs", tol=1e-7, random_state=0
    )
    assert not np.allclose(quiet_fit(squared, X, y).predict(X), glm.predict(X), rtol=1e-4)


def test_loss_is_half_the_mean_poisson_deviance():
    model = quiet_fit(
        BackpropRegressor(
            loss="poisson", hidden_layer_sizes=(4,), l2=0, solver="lbfgs", random_state=0
        ),
        X,
        y,
    )
    assert model.loss_ == pytest.approx(mean_poisson_deviance(y, model.predict(X)) / 2, rel=1e-9)


@pytest.mark.parametrize(
    "solver, learning_rate", [("adam", 3e-3), ("sgd", 1e-2), ("rmsprop", 3e-3)]
)
def test_stochastic_solvers_fit_counts(solver, learning_rate):
    model = BackpropRegressor(
        loss="poisson",
        hidden_layer_sizes=(8,),
        solver=solver,
        learning_rate_init=learning_rate,
        max_iter=300,
        random_state=0,
    )
    quiet_fit(model, X, y)
    assert (model.predict(X) > 0).all()
    glm = PoissonRegressor(alpha=0).fit(X, y)
    assert mean_poisson_deviance(y, model.predict(X)) < 1.1 * mean_poisson_deviance(
        y, glm.predict(X)
    )


@pytest.mark.parametrize(
    "bad, message",
    [(-y, "needs non-negative targets"), (np.zeros_like(y), "needs targets with a positive sum")],
    ids=["negative", "all zero"],
)
def test_targets_must_be_non_negative_with_a_positive_sum(bad, message):
    with pytest.raises(ValueError, match=f"loss='poisson' {message}"):
        BackpropRegressor(loss="poisson").fit(X, bad)


def test_partial_fit_takes_a_chunk_of_zeros_and_refuses_negative_counts():
    """Streamed counts are often all zero in a chunk; scikit-learn's MLP takes them too."""
    model = BackpropRegressor(loss="poisson", random_state=0)
    model.partial_fit(X, np.zeros_like(y))
    model.partial_fit(X, y)
    assert np.all(model.predict(X) > 0)
    with pytest.raises(ValueError, match="needs non-negative targets"):
        model.partial_fit(X, -y)
